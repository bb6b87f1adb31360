// KOPIA_BEFORE_SNAPSHOT and KOPIA_AFTER_SNAPSHOT: what their failures do to a backup, and what they see.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kopiaJson, runMover, seededScenario } from '../support/mover.js';

describe('before- and after-snapshot actions', () => {
  it('a before-snapshot action that exits 1 ends with exit 4 and no snapshot', async () => {
    const s = seededScenario('before');
    const first = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(first.exitCode).toBe(0);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_BEFORE_SNAPSHOT: 'echo quiescing; exit 1' });
    expect(result.exitCode).toBe(4);
    expect(result.kopiaCalls.some((argv) => argv[0] === 'snapshot' && argv[1] === 'create')).toBe(false);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(1);
    expect(result.plainLines).toContain('EXIT_CODE: 4');
  });

  it('a before-snapshot action that outlives its timeout is killed and fails the backup', async () => {
    const s = seededScenario('before-timeout');
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
    const s = seededScenario('after');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_AFTER_SNAPSHOT: 'exit 3' });
    expect(result.exitCode).toBe(0);
    expect(result.plainLines).toContain('OPERATION_RESULT: SUCCESS');
    expect(result.plainLines.some((l) => l.startsWith('WARNING: KOPIA_AFTER_SNAPSHOT exited with code 3'))).toBe(true);
  });

  it('hooks do not see the repository password', async () => {
    const s = seededScenario('hook-env');
    const out = join(s.root, 'hook-env.txt');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_BEFORE_SNAPSHOT: `env > '${out}'` });
    expect(result.exitCode, result.stdout).toBe(0);
    const seen = execFileSync('cat', [out], { encoding: 'utf8' });
    expect(seen).toContain('DATA_DIR=');
    expect(seen.includes(s.password)).toBe(false);
  });
});
