// The validate command: every problem at once, and the laptop flags --env-file and --policy-dir.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { POLICY_FIXTURES } from '../support/fixtures.js';
import { policyScenario, runMover } from '../support/mover.js';

describe('validate', () => {
  it('prints all three of three independent problems and exits 2', async () => {
    const s = policyScenario('validate3');
    writeFileSync(join(s.policyDir, 'global-policy.json'), `{"x": "${'y'.repeat(1_048_576)}"}`);
    const result = await runMover(['validate'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_CONFIG_PATH: s.policyDir,
      KOPIA_RETAIN_DAILY: 'many',
      KOPIA_ADDITIONAL_ARGS: '--password=hunter22',
    });
    expect(result.exitCode).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    const errors = result.plainLines.filter((l) => l.startsWith('ERROR'));
    expect(errors.some((l) => l.includes('KOPIA_RETAIN_DAILY'))).toBe(true);
    expect(errors.some((l) => l.includes('global-policy.json') && l.includes('1048576'))).toBe(true);
    expect(errors.some((l) => l.includes('KOPIA_ADDITIONAL_ARGS') && l.includes('--password'))).toBe(true);
    expect(result.stdout).not.toContain('hunter22');
  });

  it('reads an --env-file and a --policy-dir as a person would on a laptop', async () => {
    const s = policyScenario('envfile');
    const envFile = join(s.root, 'mover.env');
    writeFileSync(envFile, `# from the Secret\nKOPIA_PASSWORD="${s.password}"\nKOPIA_REPOSITORY=${s.env['KOPIA_REPOSITORY']}\nDATA_DIR=${s.data}\nKOPIA_COMPRESSION=zstd-best\n`);
    copyFileSync(join(POLICY_FIXTURES, 'policy-basic-configmap.json'), join(s.policyDir, 'global-policy.json'));
    const result = await runMover(['validate', '--env-file', envFile, '--policy-dir', s.policyDir], { PATH: process.env['PATH'], HOME: process.env['HOME'] });
    expect(result.exitCode).toBe(2);
    expect(result.plainLines.filter((l) => l.startsWith('ERROR'))).toEqual([expect.stringContaining('KOPIA_COMPRESSION')]);
    expect(result.plainLines.some((l) => l.startsWith('global policy from') && l.includes(s.policyDir))).toBe(true);
  });
});
