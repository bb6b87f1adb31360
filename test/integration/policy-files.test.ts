// The mounted policy files (global-policy.json, repository.config) applied to a real repository.
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mapPolicyDocument, valueAtPath } from '../../src/policy/kopia-policy.js';
import { POLICY_FIXTURES } from '../support/fixtures.js';
import { kopiaJson, policyScenario, runMover } from '../support/mover.js';

const policyFixtures = readdirSync(POLICY_FIXTURES).filter((f) => f.startsWith('policy-') && f.endsWith('.json')).sort();

/** Fields kopia omits from `policy show` when they hold their zero value. */
function isZero(v: unknown): boolean {
  return v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0);
}

describe('global policy files from the docs', () => {
  it('every policy example passes validate and, applied by a backup, shows in kopia policy show --global', async () => {
    const s = policyScenario('fixtures');
    expect(policyFixtures.length).toBeGreaterThanOrEqual(10);
    for (const fixture of policyFixtures) {
      copyFileSync(join(POLICY_FIXTURES, fixture), join(s.policyDir, 'global-policy.json'));
      const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
      const checked = await runMover(['validate', '--operation', 'backup'], env);
      expect(checked.exitCode, `${fixture}: ${checked.stdout}`).toBe(0);

      const backup = await runMover(['backup'], env);
      expect(backup.exitCode, `${fixture}: ${backup.stdout}`).toBe(0);
      expect(backup.plainLines, fixture).toContain('POLICY: 1 applied, 0 failed');

      const mapped = mapPolicyDocument(JSON.parse(readFileSync(join(POLICY_FIXTURES, fixture), 'utf8')), fixture);
      const shown = kopiaJson<Record<string, unknown>>(s.cache, s.password, ['policy', 'show', '--global']);
      expect(mapped.applied.length, fixture).toBeGreaterThan(0);
      for (const path of mapped.applied) {
        const want = valueAtPath(mapped.policy, path);
        const got = valueAtPath(shown, path);
        if (got === undefined && isZero(want)) continue;
        expect(got, `${fixture}: ${path}`).toEqual(want);
      }
    }
  });

  it('a 1,048,577-byte policy file fails validate naming file, size and limit, and a backup still succeeds and reports it', async () => {
    const s = policyScenario('oversize');
    const file = join(s.policyDir, 'global-policy.json');
    const body = JSON.stringify({ retention: { keepDaily: 3 }, files: { ignore: [] } });
    writeFileSync(file, body.slice(0, -2) + ' '.repeat(1_048_577 - body.length) + '}}');
    expect(readFileSync(file).length).toBe(1_048_577);
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };

    const checked = await runMover(['validate'], env);
    expect(checked.exitCode).toBe(2);
    const line = checked.plainLines.find((l) => l.includes(file)) ?? '';
    expect(line).toContain('1048577');
    expect(line).toContain('1048576');

    const backup = await runMover(['backup'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    expect(backup.plainLines).toContain('POLICY: 0 applied, 1 failed');
    expect(backup.plainLines.some((l) => l.startsWith('POLICY_FAILURE:') && l.includes(file))).toBe(true);
    expect(backup.terminationMessage?.['policy']).toMatchObject({ applied: 0, failed: 1 });
    expect(backup.stdout).toMatch(/policy: 0 applied, 1 failed/);
  });

  it('invalid JSON in the global policy is reported with line and column, and the backup proceeds', async () => {
    const s = policyScenario('badjson');
    writeFileSync(join(s.policyDir, 'global-policy.json'), '{\n  "retention": {\n    "keepDaily": 7,\n  }\n}\n');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const failure = backup.plainLines.find((l) => l.startsWith('POLICY_FAILURE:')) ?? '';
    expect(failure).toMatch(/line 4 column 3/);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(1);
  });
});

describe('repository config file', () => {
  it('uploadSpeed becomes the repository throttle and the backup succeeds', async () => {
    const s = policyScenario('throttle');
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ uploadSpeed: 1048576 }));
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir });
    expect(backup.exitCode, backup.stdout).toBe(0);
    expect(backup.kopiaCalls.find((a) => a[0] === 'snapshot')?.join(' ')).not.toMatch(/speed|bytes-per-second/);
    const throttle = kopiaJson<Record<string, number>>(s.cache, s.password, ['repository', 'throttle', 'get']);
    expect(throttle['maxUploadSpeedBytesPerSecond']).toBe(1048576);
  });

  it('enableActions: false skips KOPIA_BEFORE_SNAPSHOT and says so', async () => {
    const s = policyScenario('noactions');
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ enableActions: false }));
    const marker = join(s.root, 'hook-ran');
    const backup = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_CONFIG_PATH: s.policyDir,
      KOPIA_BEFORE_SNAPSHOT: `touch '${marker}'; exit 1`,
    });
    expect(backup.exitCode, backup.stdout).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(backup.plainLines.some((l) => l.startsWith('WARNING: KOPIA_BEFORE_SNAPSHOT skipped: enableActions is false'))).toBe(true);
  });
});
