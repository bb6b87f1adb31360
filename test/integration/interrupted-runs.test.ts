// Runs stopped halfway: SIGTERM during kopia or an action, SIGKILL during a restore.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../../src/processes.js';
import { kopiaText, runMover, scenario, startMover, waitFor, waitForKopia, waitForKopiaProgress } from '../support/mover.js';


/** Large random files: slow enough to interrupt, incompressible so kopia cannot skip the work. */
function largeTree(dir: string, files: number, bytes: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(dir, `part-${i}.bin`), randomBytes(bytes));
}

describe('signals', () => {
  it('SIGTERM during a large backup: kopia is gone within the grace period, exit 143, summary printed; the next backup succeeds and verifies', async () => {
    const s = scenario('sigterm');
    largeTree(s.data, 6, 100 * 1024 * 1024);
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_SIGNAL_GRACE_SECONDS: '10' };
    const handle = startMover(['backup'], env);
    const kopiaPid = await waitForKopia(handle, 'snapshot', 'create');
    await waitForKopiaProgress(handle);
    const stoppedAt = Date.now();
    handle.kill('SIGTERM');
    const result = await handle.result;
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(result.exitCode).toBe(143);
    expect(processAlive(kopiaPid)).toBe(false);
    expect(result.plainLines).toContain('=== OPERATION SUMMARY ===');
    expect(result.plainLines).toContain('EXIT_CODE: 143');
    expect(result.terminationMessage).toMatchObject({ exitCode: 143, result: 'FAILURE' });

    const again = await runMover(['backup'], env);
    expect(again.exitCode, again.stdout).toBe(0);
    const verify = kopiaText(s.cache, s.password, ['snapshot', 'verify', '--verify-files-percent=100']);
    expect(verify).not.toMatch(/error/i);
  });

  it('SIGTERM with the cache volume past 90 % of KOPIA_CACHE_CAPACITY_BYTES exits 137 with the cacheCapacity fix', async () => {
    const s = scenario('exhausted');
    largeTree(s.data, 4, 100 * 1024 * 1024);
    mkdirSync(s.cache, { recursive: true });
    writeFileSync(join(s.cache, 'filler'), Buffer.alloc(60 * 1024 * 1024, 1));
    const handle = startMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CACHE_CAPACITY_BYTES: String(64 * 1024 * 1024) });
    await waitForKopia(handle, 'snapshot', 'create');
    await waitForKopiaProgress(handle);
    handle.kill('SIGTERM');
    const result = await handle.result;
    expect(result.exitCode).toBe(137);
    const reason = result.plainLines.find((l) => l.startsWith('FAILURE_REASON:')) ?? '';
    expect(reason).toContain('cache volume is exhausted');
    expect(reason).toContain('cacheCapacity');
  });
});

describe('stopping outside kopia', () => {
  it('SIGTERM while a before-snapshot action runs ends the action and the program at once, exit 143', async () => {
    const s = scenario('hookstop');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a');
    const marker = join(s.root, 'hook-started');
    const handle = startMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_BEFORE_SNAPSHOT: `touch '${marker}'; sleep 60` });
    await waitFor(handle, 'the before-snapshot action', () => (existsSync(marker) ? true : undefined), { timeoutMs: 30_000 });
    const stoppedAt = Date.now();
    handle.kill('SIGTERM');
    const result = await handle.result;
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
    expect(result.exitCode).toBe(143);
    expect(result.kopiaCalls.some((a) => a[0] === 'snapshot')).toBe(false);
  });
});

describe('restore safety', () => {
  it('a restore killed halfway over an older version leaves every file old or new, and deletes nothing', async () => {
    const s = scenario('killed');
    const oldVersion = new Map<string, Buffer>();
    const newVersion = new Map<string, Buffer>();
    mkdirSync(s.data);
    for (let i = 0; i < 200; i++) {
      const name = `file-${String(i).padStart(3, '0')}.bin`;
      newVersion.set(name, randomBytes(1024 * 1024 + i));
      oldVersion.set(name, randomBytes(512 * 1024 + i));
      writeFileSync(join(s.data, name), newVersion.get(name)!);
    }
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' })).exitCode).toBe(0);

    const target = join(s.root, 'target');
    mkdirSync(target);
    for (const [name, bytes] of oldVersion) writeFileSync(join(target, name), bytes);
    writeFileSync(join(target, 'not-in-snapshot.txt'), 'must survive an unfinished restore');

    const handle = startMover(['restore'], {
      ...s.env,
      DATA_DIR: target,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_ENABLE_FILE_DELETION: 'true',
      KOPIA_PARALLELISM: '1',
    });
    const kopiaPid = await waitForKopia(handle, 'snapshot', 'restore');
    // Kill once the restore has begun replacing files.
    const replaced = () =>
      [...newVersion].filter(([name, bytes]) => {
        try {
          return readFileSync(join(target, name)).equals(bytes);
        } catch {
          return false;
        }
      }).length;
    await waitFor(handle, 'five files replaced by the restore', () => (replaced() >= 5 ? true : undefined), { timeoutMs: 20_000, intervalMs: 20 });
    handle.kill('SIGKILL');
    try {
      process.kill(kopiaPid, 'SIGKILL');
    } catch {
      // already gone
    }
    const result = await handle.result;
    expect(result.exitCode).toBe(137);

    let seenNew = 0;
    let seenOld = 0;
    for (const name of oldVersion.keys()) {
      const bytes = readFileSync(join(target, name));
      const isNew = bytes.equals(newVersion.get(name)!);
      const isOld = bytes.equals(oldVersion.get(name)!);
      expect(isNew || isOld, `${name} is neither the old nor the new version`).toBe(true);
      if (isNew) seenNew++;
      else seenOld++;
    }
    expect(seenNew).toBeGreaterThan(0);
    expect(seenOld).toBeGreaterThan(0);
    expect(readFileSync(join(target, 'not-in-snapshot.txt'), 'utf8')).toBe('must survive an unfinished restore');
  });
});
