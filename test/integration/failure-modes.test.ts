import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureTestUser, kopiaJson, kopiaText, runMover, scenario, startMover, waitFor, waitForKopia, waitForKopiaProgress } from '../support/mover.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Large random files: slow enough to interrupt, incompressible so kopia cannot skip the work. */
function largeTree(dir: string, files: number, bytes: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(dir, `part-${i}.bin`), randomBytes(bytes));
}

function ageOwnWrites(cache: string): void {
  const dir = join(cache, 'own-writes');
  const old = new Date(Date.now() - 20 * 60 * 1000);
  for (const name of readdirSync(dir)) utimesSync(join(dir, name), old, old);
}

function corruptIndexCache(cache: string): void {
  const dir = join(cache, 'indexes');
  const files = readdirSync(dir);
  expect(files.length).toBeGreaterThan(0);
  for (const name of files) writeFileSync(join(dir, name), randomBytes(300));
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
    expect(alive(kopiaPid)).toBe(false);
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

describe('cache corruption', () => {
  it('a corrupted index cache is cleared and the backup retried and succeeds; a second corruption within 5 minutes is not cleared', async () => {
    const s = scenario('corrupt');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a');
    const env = { ...s.env, DATA_DIR: s.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);

    ageOwnWrites(s.cache);
    corruptIndexCache(s.cache);
    writeFileSync(join(s.data, 'b.txt'), 'b');
    const recovered = await runMover(['backup'], env);
    expect(recovered.exitCode, recovered.stdout).toBe(0);
    expect(recovered.plainLines.some((l) => l.startsWith('WARNING: the local cache was corrupt'))).toBe(true);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(2);
    expect(existsSync(join(s.cache, 'kopia.config'))).toBe(true);

    ageOwnWrites(s.cache);
    corruptIndexCache(s.cache);
    const refused = await runMover(['backup'], env);
    expect(refused.exitCode).toBe(3);
    expect(refused.plainLines.find((l) => l.startsWith('FAILURE_REASON:'))).toMatch(/not clearing again within 5 minutes/);
  });

  it('with recent writes in own-writes it refuses to clear and names the folder', async () => {
    const s = scenario('ownwrites');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a');
    const env = { ...s.env, DATA_DIR: s.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);
    expect(readdirSync(join(s.cache, 'own-writes')).filter((n) => !n.startsWith('.')).length).toBeGreaterThan(0);
    corruptIndexCache(s.cache);
    const result = await runMover(['backup'], env);
    expect(result.exitCode).toBe(3);
    expect(result.plainLines.find((l) => l.startsWith('FAILURE_REASON:'))).toContain(join(s.cache, 'own-writes'));
    // Nothing was cleared: the corrupt files are still there for an operator to look at.
    expect(readdirSync(join(s.cache, 'indexes')).length).toBeGreaterThan(0);
  });
});

describe('forced cache rebuild', () => {
  it('KOPIA_FORCE_CACHE_REBUILD clears before connecting when safe, and only warns when own-writes is pending', async () => {
    const s = scenario('forced');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a');
    const env = { ...s.env, DATA_DIR: s.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);

    const pending = await runMover(['backup'], { ...env, KOPIA_FORCE_CACHE_REBUILD: 'true' });
    expect(pending.exitCode, pending.stdout).toBe(0);
    expect(pending.plainLines.some((l) => l.startsWith('WARNING: KOPIA_FORCE_CACHE_REBUILD not applied') && l.includes('own-writes'))).toBe(true);

    ageOwnWrites(s.cache);
    const cleared = await runMover(['backup'], { ...env, KOPIA_FORCE_CACHE_REBUILD: 'true' });
    expect(cleared.exitCode, cleared.stdout).toBe(0);
    expect(cleared.records.some((r) => r['msg'] === 'KOPIA_FORCE_CACHE_REBUILD: cache cleared')).toBe(true);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(3);
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

describe('backup truthfulness', () => {
  it('a permission-denied subtree is not reported as a clean success, when run as an ordinary user', async () => {
    const user = ensureTestUser();
    const s = scenario('denied');
    mkdirSync(join(s.data, 'readable'), { recursive: true });
    mkdirSync(join(s.data, 'private'));
    writeFileSync(join(s.data, 'readable', 'a.txt'), 'a');
    writeFileSync(join(s.data, 'private', 'b.txt'), 'b');
    chmodSync(s.root, 0o755);
    for (const dir of [s.root, s.data, join(s.data, 'readable')]) chownSync(dir, user.uid, user.gid);
    chownSync(join(s.data, 'readable', 'a.txt'), user.uid, user.gid);
    // Owned by root with no permissions: the ordinary user cannot list it.
    chmodSync(join(s.data, 'private'), 0o000);

    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data }, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).not.toBe(0);
    expect(result.plainLines).toContain('OPERATION_RESULT: FAILURE');
    const reason = result.plainLines.find((l) => l.startsWith('FAILURE_REASON:')) ?? '';
    expect(reason).toContain('could not read 1 entry');
    expect(reason).toContain('private');

    // The partial snapshot kopia saved is never chosen by a restore.
    const target = join(s.root, 'target');
    mkdirSync(target);
    chownSync(target, user.uid, user.gid);
    writeFileSync(join(target, 'keep.txt'), 'keep');
    const restore = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data, KOPIA_ENABLE_FILE_DELETION: 'true' }, { asUser: 'kmtest' });
    expect(restore.exitCode, restore.stdout).toBe(0);
    expect(restore.plainLines).toContain('No eligible snapshots found');
    expect(readdirSync(target)).toEqual(['keep.txt']);
  });

  it('unreadable entries the policy ignores: success with a warning naming the count', async () => {
    const user = ensureTestUser();
    const s = scenario('ignored');
    mkdirSync(join(s.data, 'readable'), { recursive: true });
    mkdirSync(join(s.data, 'private'));
    writeFileSync(join(s.data, 'readable', 'a.txt'), 'a');
    const policies = join(s.root, 'policies');
    mkdirSync(policies);
    writeFileSync(join(policies, 'global-policy.json'), JSON.stringify({ errorHandling: { ignoreDirectoryErrors: true } }));
    chmodSync(s.root, 0o755);
    for (const dir of [s.root, s.data, join(s.data, 'readable'), policies]) chownSync(dir, user.uid, user.gid);
    chmodSync(join(s.data, 'private'), 0o000);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: policies }, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.plainLines.some((l) => /^WARNING: kopia could not read 1 entries and ignored them/.test(l))).toBe(true);
    expect(result.plainLines).toContain('SNAPSHOT_IGNORED_ERRORS: 1');
  });

  it('a snapshot holding nothing from a non-empty source is a failure', async () => {
    const user = ensureTestUser();
    const s = scenario('nothing');
    mkdirSync(join(s.data, 'private'), { recursive: true });
    const policies = join(s.root, 'policies');
    mkdirSync(policies);
    writeFileSync(join(policies, 'global-policy.json'), JSON.stringify({ errorHandling: { ignoreDirectoryErrors: true } }));
    chmodSync(s.root, 0o755);
    for (const dir of [s.root, s.data, policies]) chownSync(dir, user.uid, user.gid);
    chmodSync(join(s.data, 'private'), 0o000);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: policies }, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).toBe(1);
    expect(result.plainLines.find((l) => l.startsWith('FAILURE_REASON:'))).toMatch(/holds no files although .* is not empty/);
  });

  it('a snapshot holding far less than the source is reported, and a complete one is not', async () => {
    const s = scenario('farless');
    mkdirSync(s.data);
    for (let i = 0; i < 10; i++) writeFileSync(join(s.data, `kept-${i}.txt`), `kept ${i}`);
    for (let i = 0; i < 30; i++) writeFileSync(join(s.data, `skipped-${i}.bin`), randomBytes(100 * 1024));
    const complete = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(complete.exitCode, complete.stdout).toBe(0);
    expect(complete.plainLines.some((l) => l.includes('holds far less'))).toBe(false);

    const partial = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_ADDITIONAL_ARGS: '--ignore=*.bin' });
    expect(partial.exitCode, partial.stdout).toBe(0);
    const warning = partial.plainLines.find((l) => l.startsWith('WARNING: snapshot') && l.includes('holds far less')) ?? '';
    expect(warning).toContain('10 of 40 files');
  });

  it('a snapshot missing a whole ignored directory is reported with the files inside it', async () => {
    // kopia does not descend into an excluded directory, so its own counts cannot say what it held.
    const s = scenario('farless-dir');
    mkdirSync(join(s.data, 'skipped', 'deeper'), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(s.data, `kept-${i}.txt`), `kept ${i}`);
    for (let i = 0; i < 20; i++) writeFileSync(join(s.data, 'skipped', 'deeper', `f-${i}.txt`), `skipped ${i}`);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_ADDITIONAL_ARGS: '--ignore=skipped/' });
    expect(result.exitCode, result.stdout).toBe(0);
    const warning = result.plainLines.find((l) => l.startsWith('WARNING: snapshot') && l.includes('holds far less')) ?? '';
    expect(warning).toContain('3 of 23 files');
  });
});
