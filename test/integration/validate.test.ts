// The validate command: every problem at once, and the laptop flags --env-file and --policy-dir.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { POLICY_FIXTURES } from '../support/fixtures.js';
import { policyScenario, runMover, scenario, seededScenario, tempDir, type Env } from '../support/mover.js';

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

describe('validate runs the same preflight as the run', () => {
  it('restore with DATA_DIR=/ and file deletion: validate reports the refusal, exit 2, and starts no kopia', async () => {
    const s = scenario('validate-root');
    mkdirSync(s.repo);
    const result = await runMover(['validate', '--operation', 'restore'], { ...s.env, DATA_DIR: '/', KOPIA_ENABLE_FILE_DELETION: 'true' });
    expect(result.exitCode, result.stdout).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.plainLines).toContainEqual(expect.stringMatching(/^ERROR +DATA_DIR: file deletion .*refused: \/ is the root directory/));
    expect(result.plainLines).toContain('validate: 1 error(s), 0 warning(s)');
  });

  it('lists every preflight problem at once: deletion guard, repository volume, cache, TMPDIR, a policy file that is a folder', async () => {
    const s = policyScenario('validate-all');
    mkdirSync(join(s.policyDir, 'global-policy.json'));
    writeFileSync(join(s.root, 'a-file'), 'x');
    const result = await runMover(['validate', '--operation', 'restore'], {
      ...s.env,
      DATA_DIR: '/etc',
      KOPIA_ENABLE_FILE_DELETION: 'true',
      KOPIA_REPOSITORY: `filesystem://${join(s.root, 'not-mounted', 'repo')}`,
      KOPIA_CACHE_DIR: join(s.root, 'a-file', 'cache'),
      KOPIA_CONFIG_PATH: s.policyDir,
      TMPDIR: join(s.root, 'no-tmp'),
    });
    expect(result.exitCode, result.stdout).toBe(2);
    const errors = result.plainLines.filter((l) => l.startsWith('ERROR'));
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ERROR +KOPIA_CACHE_DIR: .*a-file\/cache is not a writable directory \(ENOTDIR\)/),
        expect.stringMatching(/^ERROR +TMPDIR: .*no-tmp is not a writable directory \(ENOENT\)/),
        expect.stringMatching(/^ERROR +DATA_DIR: file deletion .*\/etc is a system directory/),
        expect.stringMatching(/^ERROR +KOPIA_REPOSITORY: repository volume is not mounted at .*not-mounted\/repo/),
        expect.stringMatching(/^ERROR +.*global-policy.json: cannot be used: is a directory/),
      ]),
    );
    expect(errors).toHaveLength(5);
    // validate writes nothing: the cache folder it judged creatable is not made either.
    expect(existsSync(s.cache)).toBe(false);
  });

  it('generated cases: validate fails exactly when the run stops before its first kopia process', async () => {
    const shared = seededScenario('validate-shared');
    const created = await runMover(['backup'], { ...shared.env, DATA_DIR: shared.data });
    expect(created.exitCode, created.stdout).toBe(0);
    // Each input is mostly fine, so that runs which pass the preflight are generated too.
    const mostly = <T,>(fine: T, ...bad: T[]) => fc.oneof({ arbitrary: fc.constant(fine), weight: 3 }, { arbitrary: fc.constantFrom(...bad), weight: 1 });
    const inputs = fc.record({
      operation: fc.constantFrom('backup' as const, 'restore' as const),
      dataDir: mostly('normal', 'missing', 'file', 'root', 'system', 'holds-cache'),
      deletion: fc.boolean(),
      repository: mostly('exists', 'missing', 'no-parent'),
      cache: mostly('ok', 'under-a-file'),
      tmp: mostly('ok', 'missing'),
      policy: mostly('valid', 'none', 'a-folder'),
    });
    const seed = Number(process.env['FC_SEED'] ?? 20261202);
    const verdicts = { refused: 0, ran: 0 };
    await fc.assert(
      fc.asyncProperty(inputs, async (c) => {
        // A backup of / or /etc is not a test: those DATA_DIRs are the restore's concern.
        fc.pre(c.operation === 'restore' || !['root', 'system', 'holds-cache'].includes(c.dataDir));
        const env = preflightCase(c, shared);
        const args = [c.operation];
        const checked = await runMover(['validate', '--operation', c.operation], env);
        expect(checked.kopiaCalls).toEqual([]);
        const run = await runMover(args, env);
        const refused = run.kopiaCalls.length === 0 && (run.exitCode === 2 || run.exitCode === 3);
        const context = `${JSON.stringify(c)}\nvalidate:\n${checked.stdout}\nrun:\n${run.stdout}`;
        expect(checked.exitCode === 2, context).toBe(refused);
        if (!refused) expect(run.exitCode, context).toBe(0);
        verdicts[refused ? 'refused' : 'ran']++;
      }),
      { seed, numRuns: 16 },
    );
    // Both verdicts were met, or the property proved nothing.
    expect(verdicts.refused).toBeGreaterThan(0);
    expect(verdicts.ran).toBeGreaterThan(0);
  }, 600_000);
});

interface PreflightCase {
  operation: 'backup' | 'restore';
  dataDir: string;
  deletion: boolean;
  repository: string;
  cache: string;
  tmp: string;
  policy: string;
}

/** The environment of one generated case. A restore's identity never has snapshots, so it never writes into DATA_DIR. */
function preflightCase(c: PreflightCase, shared: ReturnType<typeof scenario>): Env {
  const root = tempDir('km-preflight-');
  const data = join(root, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'file.txt'), 'x');
  writeFileSync(join(root, 'a-file'), 'x');
  const policyDir = join(root, 'kopia-config');
  mkdirSync(policyDir);
  if (c.policy === 'valid') copyFileSync(join(POLICY_FIXTURES, 'policy-basic-configmap.json'), join(policyDir, 'global-policy.json'));
  if (c.policy === 'a-folder') mkdirSync(join(policyDir, 'global-policy.json'));
  const dataDirs: Record<string, string> = { normal: data, missing: join(root, 'missing'), file: join(root, 'a-file'), root: '/', system: '/etc', 'holds-cache': root };
  const repositories: Record<string, string> = { exists: shared.repo, missing: join(root, 'repo'), 'no-parent': join(root, 'not-mounted', 'repo') };
  const tmp = join(root, 'tmp');
  if (c.tmp === 'ok') mkdirSync(tmp);
  return {
    KOPIA_PASSWORD: shared.password,
    KOPIA_REPOSITORY: `filesystem://${repositories[c.repository]}`,
    KOPIA_CACHE_DIR: c.cache === 'ok' ? join(root, 'cache') : join(root, 'a-file', 'cache'),
    KOPIA_OVERRIDE_USERNAME: c.operation === 'restore' ? 'never-backed-up' : 'preflight',
    KOPIA_OVERRIDE_HOSTNAME: 'ns1',
    DATA_DIR: dataDirs[c.dataDir],
    KOPIA_ENABLE_FILE_DELETION: c.deletion ? 'true' : 'false',
    KOPIA_CONFIG_PATH: policyDir,
    TMPDIR: tmp,
  };
}
