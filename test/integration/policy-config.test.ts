import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mapPolicyDocument, valueAtPath } from '../../src/policy/kopia-policy.js';
import { ARGS_SEPARATOR, POLICY_FIXTURES } from '../support/fixtures.js';
import { kopiaJson, kopiaText, runMover, scenario } from '../support/mover.js';

const policyFixtures = readdirSync(POLICY_FIXTURES).filter((f) => f.startsWith('policy-') && f.endsWith('.json')).sort();

interface Snapshot {
  id: string;
  description?: string;
  tags?: Record<string, string>;
}

function seeded(name: string) {
  const s = scenario(name);
  mkdirSync(s.data);
  writeFileSync(join(s.data, 'keep.txt'), 'keep\n');
  const policyDir = join(s.root, 'kopia-config');
  mkdirSync(policyDir);
  return { ...s, policyDir };
}

/** Fields kopia omits from `policy show` when they hold their zero value. */
function isZero(v: unknown): boolean {
  return v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0);
}

describe('global policy files from the docs', () => {
  it('every policy example passes validate and, applied by a backup, shows in kopia policy show --global', async () => {
    const s = seeded('fixtures');
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
    const s = seeded('oversize');
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
    const s = seeded('badjson');
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
    const s = seeded('throttle');
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ uploadSpeed: 1048576 }));
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir });
    expect(backup.exitCode, backup.stdout).toBe(0);
    expect(backup.kopiaCalls.find((a) => a[0] === 'snapshot')?.join(' ')).not.toMatch(/speed|bytes-per-second/);
    const throttle = kopiaJson<Record<string, number>>(s.cache, s.password, ['repository', 'throttle', 'get']);
    expect(throttle['maxUploadSpeedBytesPerSecond']).toBe(1048576);
  });

  it('enableActions: false skips KOPIA_BEFORE_SNAPSHOT and says so', async () => {
    const s = seeded('noactions');
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

describe('manual and structured repository configs', () => {
  it('KOPIA_MANUAL_CONFIG sets the encryption of a new repository and zstd as the global compression', async () => {
    const s = seeded('manual');
    const backup = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_MANUAL_CONFIG: JSON.stringify({ encryption: { algorithm: 'CHACHA20-POLY1305-HMAC-SHA256' }, compression: { compressor: 'zstd' } }),
    });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const create = backup.kopiaCalls.find((a) => a[0] === 'repository' && a[1] === 'create') ?? [];
    expect(create).toContain('--encryption=CHACHA20-POLY1305-HMAC-SHA256');
    expect(create.some((a) => a.startsWith('--compression'))).toBe(false);
    const status = kopiaJson<{ contentFormat: { encryption: string } }>(s.cache, s.password, ['repository', 'status']);
    expect(status.contentFormat.encryption).toBe('CHACHA20-POLY1305-HMAC-SHA256');
    const policy = kopiaJson<{ compression: { compressorName: string } }>(s.cache, s.password, ['policy', 'show', '--global']);
    expect(policy.compression.compressorName).toBe('zstd');
  });

  it('KOPIA_STRUCTURED_REPOSITORY_CONFIG connects a filesystem repository without KOPIA_REPOSITORY and leaves no temp file', async () => {
    const s = seeded('structured');
    const first = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(first.exitCode).toBe(0);
    const structured = JSON.stringify({ storage: { type: 'filesystem', config: { path: s.repo } }, policies: { retention: { keepYearly: 4 } } });
    const env = { ...s.env, KOPIA_REPOSITORY: undefined, KOPIA_CACHE_DIR: join(s.root, 'cache2'), DATA_DIR: s.data, KOPIA_STRUCTURED_REPOSITORY_CONFIG: structured };
    const backup = await runMover(['backup'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    const connect = backup.kopiaCalls.find((a) => a[0] === 'repository' && a[1] === 'connect') ?? [];
    expect(connect.slice(0, 3)).toEqual(['repository', 'connect', 'from-config']);
    const file = connect.find((a) => a.startsWith('--token-file='))?.slice('--token-file='.length) ?? '';
    expect(file).not.toBe('');
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(backup.tmpDir)).toEqual([]);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(2);
    const policy = kopiaJson<{ retention: { keepAnnual: number } }>(join(s.root, 'cache2'), s.password, ['policy', 'show', '--global']);
    expect(policy.retention.keepAnnual).toBe(4);
  });
});

describe('KOPIA_STRUCTURED_REPOSITORY_CONFIG for a repository that does not exist yet', () => {
  it('creates it on the first backup (kopia reads only a token for create from-config)', async () => {
    const s = seeded('structuredcreate');
    // An empty, existing directory, as a mounted volume would be: create from-config does not make it.
    const repo = join(s.root, 'new-repo');
    mkdirSync(repo);
    const structured = JSON.stringify({ storage: { type: 'filesystem', config: { path: repo } } });
    const env = { ...s.env, KOPIA_REPOSITORY: undefined, DATA_DIR: s.data, KOPIA_STRUCTURED_REPOSITORY_CONFIG: structured };
    const backup = await runMover(['backup'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    const create = backup.kopiaCalls.find((a) => a[0] === 'repository' && a[1] === 'create') ?? [];
    expect(create.slice(0, 3)).toEqual(['repository', 'create', 'from-config']);
    expect(create.some((a) => a.startsWith('--token-file='))).toBe(true);
    expect(existsSync(join(repo, 'kopia.repository.f'))).toBe(true);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(1);
  });
});

describe('KOPIA_ADDITIONAL_ARGS', () => {
  it('splits on the exact separator and passes exactly two arguments to snapshot create only', async () => {
    const s = seeded('args');
    const backup = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_ADDITIONAL_ARGS: `--tags=env:Prod${ARGS_SEPARATOR}--description=VOLSYNC nightly`,
    });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const create = backup.kopiaCalls.find((a) => a[0] === 'snapshot' && a[1] === 'create') ?? [];
    expect(create.filter((a) => a === '--tags=env:Prod' || a === '--description=VOLSYNC nightly')).toHaveLength(2);
    for (const argv of backup.kopiaCalls.filter((a) => a[0] === 'repository')) {
      expect(argv.join(' ')).not.toMatch(/--tags|--description/);
    }
    const [snapshot] = kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    expect(snapshot?.description).toBe('VOLSYNC nightly');
    expect(snapshot?.tags).toMatchObject({ 'tag:env': 'Prod' });
  });

  it('policy flags from the docs become the snapshot path policy, and an ignored file is absent from the snapshot', async () => {
    const s = seeded('policyargs');
    writeFileSync(join(s.data, 'scratch.tmp'), 'temporary');
    const backup = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_ADDITIONAL_ARGS: `--one-file-system${ARGS_SEPARATOR}--ignore=*.tmp`,
    });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const policy = kopiaJson<{ files: { ignore?: string[]; oneFileSystem?: boolean } }>(s.cache, s.password, ['policy', 'show', 'policyargs@ns1:/data']);
    expect(policy.files.ignore).toContain('*.tmp');
    expect(policy.files.oneFileSystem).toBe(true);
    const [snapshot] = kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    const names = kopiaText(s.cache, s.password, ['ls', snapshot!.id]).split('\n').filter(Boolean);
    expect(names).toContain('keep.txt');
    expect(names).not.toContain('scratch.tmp');
  });

  for (const forbidden of ['--password=x', '--config-file /x', '--access-key=x']) {
    it(`rejects ${forbidden.split(/[= ]/)[0]} with exit 2 before any kopia process`, async () => {
      const s = seeded('forbidden');
      const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_ADDITIONAL_ARGS: `--tags=a:b${ARGS_SEPARATOR}${forbidden}` });
      expect(result.exitCode).toBe(2);
      expect(result.kopiaCalls).toEqual([]);
      expect(result.stdout).toContain(`${forbidden.split(/[= ]/)[0]} is not allowed`);
    });
  }
});

describe('validate', () => {
  it('prints all three of three independent problems and exits 2', async () => {
    const s = seeded('validate3');
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
    const s = seeded('envfile');
    const envFile = join(s.root, 'mover.env');
    writeFileSync(envFile, `# from the Secret\nKOPIA_PASSWORD="${s.password}"\nKOPIA_REPOSITORY=${s.env['KOPIA_REPOSITORY']}\nDATA_DIR=${s.data}\nKOPIA_COMPRESSION=zstd-best\n`);
    copyFileSync(join(POLICY_FIXTURES, 'policy-basic-configmap.json'), join(s.policyDir, 'global-policy.json'));
    const result = await runMover(['validate', '--env-file', envFile, '--policy-dir', s.policyDir], { PATH: process.env['PATH'], HOME: process.env['HOME'] });
    expect(result.exitCode).toBe(2);
    expect(result.plainLines.filter((l) => l.startsWith('ERROR'))).toEqual([expect.stringContaining('KOPIA_COMPRESSION')]);
    expect(result.plainLines.some((l) => l.startsWith('global policy from') && l.includes(s.policyDir))).toBe(true);
  });
});
