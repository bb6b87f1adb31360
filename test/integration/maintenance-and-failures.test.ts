import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertNoSecrets, kopiaJson, realKopia, repoRoot, runMover, scenario, startMover, tempDir, waitForLine } from '../support/mover.js';

interface MaintenanceInfo {
  owner: string;
  schedule: { runs: Record<string, { success: boolean }[]> };
}

function seeded(name: string) {
  const s = scenario(name);
  mkdirSync(s.data);
  writeFileSync(join(s.data, 'file.txt'), `${name}\n`);
  return s;
}

/** A listing of every file in the repository with its size and mtime: any change shows. */
function repositoryFingerprint(repo: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else out.push(`${path} ${st.size} ${st.mtimeMs}`);
    }
  };
  walk(repo);
  return out;
}

describe('maintenance', () => {
  it('takes ownership from another user@host, runs quick and full, and reports success', async () => {
    const s = seeded('maint');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(backup.exitCode, backup.stdout).toBe(0);
    // The repository's creator owns maintenance until someone claims it.
    expect(kopiaJson<MaintenanceInfo>(s.cache, s.password, ['maintenance', 'info']).owner).toBe('maint@ns1');

    const cache = join(s.root, 'maintenance-cache');
    const result = await runMover(['maintenance'], { ...s.env, KOPIA_CACHE_DIR: cache });
    expect(result.exitCode, result.stdout).toBe(0);
    assertNoSecrets(result, [s.password]);
    expect(result.plainLines).toContain('MAINTENANCE_STATUS: SUCCESS');
    expect(result.plainLines.some((l) => /^MAINTENANCE_DURATION: \d+$/.test(l))).toBe(true);

    const info = kopiaJson<MaintenanceInfo>(cache, s.password, ['maintenance', 'info']);
    expect(info.owner).toBe('maintenance@volsync');
    // Quick cycles record epoch work; full cycles record snapshot GC.
    expect(info.schedule.runs['snapshot-gc']?.some((r) => r.success)).toBe(true);
    const calls = result.kopiaCalls.map((argv) => argv.slice(0, 3).join(' '));
    expect(calls).toContain('maintenance run --full');
    const quickIndex = result.kopiaCalls.findIndex((argv) => argv[0] === 'maintenance' && argv[1] === 'run' && !argv.includes('--full'));
    const fullIndex = result.kopiaCalls.findIndex((argv) => argv.includes('--full'));
    expect(quickIndex).toBeGreaterThanOrEqual(0);
    expect(quickIndex).toBeLessThan(fullIndex);
  });

  it('never creates a repository', async () => {
    const s = scenario('maint-missing');
    const result = await runMover(['maintenance'], s.env);
    expect(result.exitCode).toBe(3);
    expect(result.kopiaCalls.some((argv) => argv[1] === 'create')).toBe(false);
  });
});

describe('failures', () => {
  it('a before-snapshot action that exits 1 ends with exit 4 and no snapshot', async () => {
    const s = seeded('before');
    const first = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(first.exitCode).toBe(0);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_BEFORE_SNAPSHOT: 'echo quiescing; exit 1' });
    expect(result.exitCode).toBe(4);
    expect(result.kopiaCalls.some((argv) => argv[0] === 'snapshot' && argv[1] === 'create')).toBe(false);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(1);
    expect(result.plainLines).toContain('EXIT_CODE: 4');
  });

  it('a before-snapshot action that outlives its timeout is killed and fails the backup', async () => {
    const s = seeded('before-timeout');
    const result = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_BEFORE_SNAPSHOT: 'sleep 30',
      KOPIA_ACTION_TIMEOUT_SECONDS: '1',
    });
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toContain('timed out');
  });

  it('an after-snapshot failure is a success with a warning', async () => {
    const s = seeded('after');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_AFTER_SNAPSHOT: 'exit 3' });
    expect(result.exitCode).toBe(0);
    expect(result.plainLines).toContain('OPERATION_RESULT: SUCCESS');
    expect(result.plainLines.some((l) => l.startsWith('WARNING: KOPIA_AFTER_SNAPSHOT exited with code 3'))).toBe(true);
  });

  it('hooks do not see the repository password', async () => {
    const s = seeded('hook-env');
    const out = join(s.root, 'hook-env.txt');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_BEFORE_SNAPSHOT: `env > '${out}'` });
    expect(result.exitCode, result.stdout).toBe(0);
    const seen = execFileSync('cat', [out], { encoding: 'utf8' });
    expect(seen).toContain('DATA_DIR=');
    expect(seen.includes(s.password)).toBe(false);
  });

  it('a wrong password against an existing repository exits 3, attempts no create and leaves the repository unchanged', async () => {
    const s = seeded('wrongpw');
    const first = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(first.exitCode).toBe(0);
    const before = repositoryFingerprint(s.repo);
    const wrong = 'not-the-right-password-123';
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_PASSWORD: wrong, KOPIA_CACHE_DIR: join(s.root, 'fresh-cache') });
    expect(result.exitCode).toBe(3);
    expect(result.kopiaCalls.some((argv) => argv[1] === 'create')).toBe(false);
    expect(repositoryFingerprint(s.repo)).toEqual(before);
    expect(result.plainLines).toContain('EXIT_CODE: 3');
    assertNoSecrets(result, [wrong, s.password]);
  });

  it('a wrong password with a reused connection also exits 3', async () => {
    const s = seeded('wrongpw-reuse');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    const wrong = 'also-wrong-password-456';
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_PASSWORD: wrong });
    expect(result.exitCode).toBe(3);
    assertNoSecrets(result, [wrong, s.password]);
  });

  it('an invalid value is exit 2 naming the variable, with no kopia process', async () => {
    const s = seeded('badvalue');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_RETAIN_DAILY: 'seven' });
    expect(result.exitCode).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.stdout).toContain('KOPIA_RETAIN_DAILY');
    expect(result.plainLines).toContain('EXIT_CODE: 2');
  });

  it('the container entrypoint takes the operation from DIRECTION and rejects a missing one', async () => {
    const s = seeded('direction');
    const missing = await runMover([], { ...s.env, DATA_DIR: s.data });
    expect(missing.exitCode).toBe(2);
    expect(missing.stdout).toContain('DIRECTION');
    expect(missing.kopiaCalls).toEqual([]);
    const backup = await runMover([], { ...s.env, DATA_DIR: s.data, DIRECTION: 'source' });
    expect(backup.exitCode, backup.stdout).toBe(0);
    expect(backup.plainLines).toContain('OPERATION_TYPE: BACKUP');
  });
});

describe('DEBUG_MOVER', () => {
  it('pauses before any kopia process with instructions, and continues once the marker file is removed', async () => {
    const s = seeded('debug');
    const marker = join(s.cache, 'debug-mover-wait');
    // In front of the recording shim: notes every kopia process started while the marker exists.
    const work = tempDir('km-run-');
    const startedWhilePaused = join(work, 'kopia-started-while-paused');
    const gate = join(work, 'kopia-gate.sh');
    writeFileSync(gate, `#!/bin/sh\n[ -e '${marker}' ] && echo "$*" >> '${startedWhilePaused}'\nexec '${join(work, 'kopia-recorder.sh')}' "$@"\n`);
    chmodSync(gate, 0o755);
    const handle = startMover(['backup'], { ...s.env, DATA_DIR: s.data, DEBUG_MOVER: '1', KOPIA_BIN: gate }, { recorderDir: work });
    // The instructions are the last thing printed before the pause.
    await waitForLine(handle, /to continue: rm /, 20_000);
    expect(existsSync(marker)).toBe(true);
    expect(handle.kopiaCalls()).toEqual([]);
    expect(handle.output()).toContain(`rm ${marker}`);
    rmSync(marker);
    const result = await handle.result;
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.kopiaCalls.length).toBeGreaterThan(0);
    expect(existsSync(startedWhilePaused) ? readFileSync(startedWhilePaused, 'utf8') : '').toBe('');
  });
});

describe('finding kopia', () => {
  for (const entry of ['shim', 'bin'] as const) {
    it(`without KOPIA_BIN the program finds the project kopia, and --version prints both versions (${entry} entry)`, async () => {
      const s = seeded(`version-${entry}`);
      const result = await runMover(['--version'], { ...s.env, KOPIA_BIN: undefined }, { entry });
      expect(result.exitCode, result.stderr).toBe(0);
      const version = /^kopia-mover (\S+)$/m.exec(result.stdout)?.[1];
      expect(version).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
      expect(result.stdout).toMatch(/^kopia 0\.22\.3/m);
    });
  }

  it('a kopia that cannot be started is exit 2 naming KOPIA_BIN, not a repository failure', async () => {
    const s = seeded('nokopia');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_BIN: '/nonexistent/kopia' });
    expect(result.exitCode).toBe(2);
    expect(result.plainLines.find((l) => l.startsWith('FAILURE_REASON:'))).toContain('KOPIA_BIN');
  });
});

describe('plan', () => {
  it('prints the backup kopia commands in order, secrets redacted, and starts no kopia process', async () => {
    const s = seeded('plan');
    const result = await runMover(['plan', '--operation', 'backup'], { ...s.env, DATA_DIR: s.data, KOPIA_RETAIN_DAILY: '7' });
    expect(result.exitCode).toBe(0);
    expect(result.kopiaCalls).toEqual([]);
    assertNoSecrets(result, [s.password]);
    const commands = result.plainLines.filter((l) => /^\d+\. /.test(l));
    expect(commands.map((l) => l.split(' ').slice(2, 4).join(' '))).toEqual([
      'repository connect',
      'repository create',
      'policy import',
      'snapshot create',
    ]);
    expect(commands[1]).toContain('only if the repository still does not exist');
    expect(commands[3]).toContain(s.data);
    expect(execFileSync(realKopia, ['--version'], { encoding: 'utf8' })).toContain('0.22.3');
  });

  it('--dry-run on an operation prints the plan instead of running it', async () => {
    const s = seeded('dryrun');
    const result = await runMover(['backup', '--dry-run', '--data-dir', s.data], s.env);
    expect(result.exitCode).toBe(0);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.plainLines.some((l) => l.includes('snapshot create'))).toBe(true);
  });
});
