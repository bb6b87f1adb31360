// How the program is entered: the container entrypoint, the DEBUG_MOVER pause, and plan / --dry-run.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertNoSecrets, realKopia, runMover, seededScenario, startMover, tempDir, waitForLine } from '../support/mover.js';

describe('the container entrypoint', () => {
  it('the container entrypoint takes the operation from DIRECTION and rejects a missing one', async () => {
    const s = seededScenario('direction');
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
    const s = seededScenario('debug');
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

describe('plan', () => {
  it('prints the backup kopia commands in order, secrets redacted, and starts no kopia process', async () => {
    const s = seededScenario('plan');
    const result = await runMover(['plan', '--operation', 'backup'], { ...s.env, DATA_DIR: s.data, KOPIA_RETAIN_DAILY: '7' });
    expect(result.exitCode).toBe(0);
    expect(result.kopiaCalls).toEqual([]);
    assertNoSecrets(result, [s.password]);
    const commands = result.plainLines.filter((l) => /^\d+\. /.test(l));
    // A new repository: connect, and only if that finds none, the creation steps (a filesystem
    // repository's: create, connect when another mover created it, connect, hand over maintenance), then the rest.
    expect(commands.map((l) => l.split(' ').slice(2, 4).join(' '))).toEqual([
      'repository connect',
      'repository create',
      'repository connect',
      'repository connect',
      'maintenance set',
      'policy import',
      'snapshot create',
    ]);
    expect(commands.slice(1, 5).every((l) => l.includes('   # only if '))).toBe(true);
    expect(commands[1]).toContain('--create-only');
    expect(commands[1]).toContain('# only if this mover holds the creation lock');
    expect(commands[0]).not.toContain('# only if');
    expect(commands[6]).toContain(s.data);
    expect(execFileSync(realKopia, ['--version'], { encoding: 'utf8' })).toContain('0.22.3');
  });

  it('--dry-run on an operation prints the plan instead of running it', async () => {
    const s = seededScenario('dryrun');
    const result = await runMover(['backup', '--dry-run', '--data-dir', s.data], s.env);
    expect(result.exitCode).toBe(0);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.plainLines.some((l) => l.includes('snapshot create'))).toBe(true);
  });
});
