import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDITIONAL_ARGS_FIXTURES, ARGS_SEPARATOR } from '../support/fixtures.js';
import { ensureTestUser, kopiaJson, kopiaText, policyScenario, runMover, summaryValue, type MoverResult } from '../support/mover.js';
import { startS3Server, type S3Server } from '../support/servers.js';

function seeded(name: string) {
  const s = policyScenario(name);
  return { ...s, target: `${name}@ns1:${s.data}` };
}

function warnings(result: MoverResult): string[] {
  return result.plainLines.filter((l) => l.startsWith('WARNING: ')).map((l) => l.slice(9));
}

/** The policy kopia holds for one target itself (not what it inherits). */
function ownPolicy(cache: string, password: string, target: string): Record<string, Record<string, unknown>> {
  const exported = JSON.parse(kopiaText(cache, password, ['policy', 'export', target])) as Record<string, Record<string, Record<string, unknown>>>;
  return exported[target] ?? {};
}

/** The `additionalArgs` items of a docs example kept in fixtures/additional-args. */
function fixtureArgs(file: string): string[] {
  return readFileSync(join(ADDITIONAL_ARGS_FIXTURES, file), 'utf8')
    .split('\n')
    .flatMap((line) => /^\s*-\s*"([^"]*)"/.exec(line)?.slice(1) ?? []);
}

describe('compression as the docs spell it', () => {
  it('KOPIA_COMPRESSION=s2 backs up, and kopia holds an s2 compressor for the path', async () => {
    const s = seeded('s2');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_COMPRESSION: 's2' });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(ownPolicy(s.cache, s.password, s.target)['compression']?.['compressorName']).toMatch(/^s2-/);
  });
});

describe('policy actions', () => {
  it('run when the repository config enables them, also on a cache first connected without them', async () => {
    const s = seeded('actions');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    const marker = join(s.root, 'action-ran');
    writeFileSync(
      join(s.policyDir, 'global-policy.json'),
      JSON.stringify({ actions: { beforeSnapshotRoot: { script: `#!/bin/sh\ntouch ${marker}\n`, timeout: 60, mode: 'essential' } } }),
    );
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ enableActions: true }));
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(JSON.parse(readFileSync(join(s.cache, 'kopia.config'), 'utf8')).enableActions).toBe(true);
  });

  it('an action silent for longer than KOPIA_MOVER_STALL_SECONDS is judged by its own timeout, not stopped as a stall', async () => {
    const s = seeded('slowaction');
    // The repository and the connection first, with no limit: on a loaded machine creating it can be silent for seconds.
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    const marker = join(s.root, 'slow-action-ran');
    writeFileSync(
      join(s.policyDir, 'global-policy.json'),
      JSON.stringify({ actions: { beforeSnapshotRoot: { script: `#!/bin/sh\nsleep 12\ntouch ${marker}\n`, timeout: 60, mode: 'essential' } } }),
    );
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ enableActions: true }));
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir, KOPIA_MOVER_STALL_SECONDS: '5' };
    const result = await runMover(['backup'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(result.stdout).not.toContain('NetworkStalled');
  });

  it('with enableActions false: a warning that the policy actions will not run, in the log, the summary and validate', async () => {
    const s = seeded('noactions');
    const marker = join(s.root, 'action-ran');
    writeFileSync(
      join(s.policyDir, 'global-policy.json'),
      JSON.stringify({ actions: { beforeSnapshotRoot: { script: `#!/bin/sh\ntouch ${marker}\n`, timeout: 60 } } }),
    );
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ enableActions: false }));
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
    const result = await runMover(['backup'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(warnings(result).some((w) => w.includes('kopia will not run them'))).toBe(true);
    expect(result.records.some((r) => r['level'] === 40 && String(r['msg']).includes('kopia will not run them'))).toBe(true);
    const validate = await runMover(['validate', '--operation', 'backup'], env);
    expect(validate.stdout).toMatch(/^WARNING .*kopia will not run them/m);
  });
});

describe('the environment and the mounted files are the desired state', () => {
  it('in the container contract, removed retention, compression and upload speed return to kopia defaults; an unchanged third run starts no extra kopia process', async () => {
    const s = seeded('converge');
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ uploadSpeed: 5_000_000 }));
    const first = await runMover([], {
      ...s.env,
      DIRECTION: 'source',
      DATA_DIR: s.data,
      KOPIA_CONFIG_PATH: s.policyDir,
      KOPIA_RETAIN_DAILY: '7',
      KOPIA_COMPRESSION: 'zstd',
    });
    expect(first.exitCode, first.stdout).toBe(0);
    expect(ownPolicy(s.cache, s.password, s.target)['retention']).toEqual({ keepDaily: 7 });
    expect(kopiaText(s.cache, s.password, ['repository', 'throttle', 'get'])).toMatch(/Max Upload Speed:\s+5 MB\/s/);
    expect(first.plainLines).toContain('=== Applying policy configuration ===');
    expect(first.plainLines).toContain('Policy configuration summary: 2 applied, 0 failed');

    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({}));
    const second = await runMover([], { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir });
    expect(second.exitCode, second.stdout).toBe(0);
    const own = ownPolicy(s.cache, s.password, s.target);
    expect(own['retention']).toEqual({});
    expect(own['compression']).toEqual({});
    expect(kopiaText(s.cache, s.password, ['repository', 'throttle', 'get'])).toMatch(/Max Upload Speed:\s+\(unlimited\)/);
    const changes = second.records.flatMap((r) => (r['changes'] as string[] | undefined) ?? []);
    expect(changes.some((c) => c.includes('retention.keepDaily no longer set (was 7)'))).toBe(true);
    expect(changes.some((c) => c.includes('throttle upload changed from 5000000 to unlimited'))).toBe(true);

    const third = await runMover([], { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir });
    expect(third.exitCode, third.stdout).toBe(0);
    expect(third.kopiaCalls.map((a) => a.slice(0, 2).join(' '))).toEqual(['snapshot create']);
  });

  it('a field set inline and in the policy file: one warning names it, both values and the inline winner', async () => {
    const s = seeded('precedence');
    writeFileSync(join(s.policyDir, 'global-policy.json'), JSON.stringify({ retention: { keepDaily: 14 }, compression: { compressorName: 'zstd' } }));
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir, KOPIA_RETAIN_DAILY: '7' });
    expect(result.exitCode, result.stdout).toBe(0);
    const about = warnings(result).filter((w) => w.startsWith('retention.keepDaily'));
    expect(about).toHaveLength(1);
    expect(about[0]).toContain('KOPIA_RETAIN_DAILY = 7');
    expect(about[0]).toContain('(14)');
    expect(about[0]).toContain('the inline value wins');
    expect(warnings(result).some((w) => w.startsWith('compression'))).toBe(false);
  });
});

describe('the additionalArgs examples of the docs', () => {
  const examples = readdirSync(ADDITIONAL_ARGS_FIXTURES).filter((f) => f.endsWith('.yaml'));

  it('are all here', () => {
    expect(examples.sort()).toEqual(['bandwidth-management.yaml', 'basic-usage.yaml', 'complete-backup.yaml', 'file-exclusions.yaml', 'performance-optimization.yaml']);
  });

  for (const example of examples) {
    it(`${example} backs up with exit 0, saying what it translated or left out`, async () => {
      const s = seeded(example.replace(/\W/g, ''));
      const args = fixtureArgs(example);
      expect(args.length).toBeGreaterThan(0);
      const extra = example === 'complete-backup.yaml' ? { KOPIA_RETAIN_DAILY: '7', KOPIA_RETAIN_WEEKLY: '4', KOPIA_RETAIN_MONTHLY: '3', KOPIA_COMPRESSION: 'zstd' } : {};
      const result = await runMover(['backup'], { ...s.env, ...extra, DATA_DIR: s.data, KOPIA_ADDITIONAL_ARGS: args.join(ARGS_SEPARATOR) });
      expect(result.exitCode, result.stdout).toBe(0);
      const create = result.kopiaCalls.find((a) => a[0] === 'snapshot' && a[1] === 'create') ?? [];
      for (const gone of ['--block-size', '--read-buffer-size', '--progress-interval', '--upload-speed']) {
        expect(create.some((a) => a.startsWith(gone))).toBe(false);
        if (args.some((a) => a.startsWith(gone))) expect(warnings(result).some((w) => w.includes(gone)), gone).toBe(true);
      }
      if (args.includes('--upload-speed=10MB')) {
        expect(kopiaText(s.cache, s.password, ['repository', 'throttle', 'get'])).toMatch(/Max Upload Speed:\s+10 MB\/s/);
      }
    });
  }
});

describe('misspelled variables', () => {
  it('KOPIA_RETAIN_DAYLY=7 is named, with the closest known variable, in the run and in validate', async () => {
    const s = seeded('misspelled');
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_RETAIN_DAYLY: '7', KOPIA_COMPRESION: 'zstd' };
    const run = await runMover(['backup'], env);
    expect(run.exitCode, run.stdout).toBe(0);
    expect(warnings(run).some((w) => w.startsWith('KOPIA_RETAIN_DAYLY') && w.includes('did you mean KOPIA_RETAIN_DAILY?'))).toBe(true);
    expect(warnings(run).some((w) => w.startsWith('KOPIA_COMPRESION') && w.includes('did you mean KOPIA_COMPRESSION?'))).toBe(true);
    const validate = await runMover(['validate', '--operation', 'backup'], env);
    expect(validate.stdout).toMatch(/^WARNING KOPIA_RETAIN_DAYLY: .*did you mean KOPIA_RETAIN_DAILY\?/m);
  });
});

describe('every failure says what is wrong and whether a retry helps', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  function expectClass(result: MoverResult, failureClass: string, retryable: boolean, fixWords: string): void {
    expect(summaryValue(result, 'FAILURE_CLASS'), result.stdout).toBe(`${failureClass} (retryable: ${retryable ? 'yes' : 'no'})`);
    expect(summaryValue(result, 'FAILURE_FIX')).toContain(fixWords);
    expect(result.terminationMessage?.['failure']).toMatchObject({ class: failureClass, retryable });
    expect(result.records.some((r) => r['failureClass'] === failureClass)).toBe(true);
  }

  it('a wrong password with an existing connection: AuthFailure', async () => {
    const s = seeded('authfail');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_PASSWORD: 'not the password' });
    expect(result.exitCode).toBe(3);
    expect(summaryValue(result, 'FAILURE_REASON')).toContain('wrong repository password');
    expectClass(result, 'AuthFailure', false, 'KOPIA_PASSWORD');
  });

  it('an unreachable endpoint: RepositoryUnavailable, retryable', async () => {
    const s = seeded('unreachable');
    const result = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_REPOSITORY: 's3://bucket1/x',
      KOPIA_S3_ENDPOINT: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'id',
      AWS_SECRET_ACCESS_KEY: 'secret-key-1',
    });
    expect(result.exitCode).toBe(3);
    expectClass(result, 'RepositoryUnavailable', true, 'endpoint');
  });

  it('a missing bucket: AccessDenied with the bucket named in the fix', async () => {
    const s = seeded('nobucket');
    const result = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_REPOSITORY: 's3://never-created/x',
      KOPIA_S3_ENDPOINT: s3.url,
      AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: s3.secretKey,
    });
    expect(result.exitCode).toBe(3);
    expectClass(result, 'AccessDenied', false, 'bucket');
  });

  it('a filesystem repository the mover cannot write: PermissionDenied', async () => {
    const { uid, gid } = ensureTestUser();
    const s = seeded('unwritable');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    chmodSync(s.root, 0o755);
    chownSync(s.data, uid, gid);
    const cache = join(s.root, 'user-cache');
    mkdirSync(cache);
    chownSync(cache, uid, gid);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CACHE_DIR: cache }, { asUser: 'kmtest' });
    expect(result.exitCode).toBe(3);
    expectClass(result, 'PermissionDenied', false, 'ownership');
  });
});

describe('a corrupted cache', () => {
  it('garbage over kopia.config and the cache files: the next backup recovers in the same run, and a restore holds the new file', async () => {
    const s = seeded('garbage');
    for (let i = 0; i < 20; i++) writeFileSync(join(s.data, `f${i}.bin`), randomBytes(10_000));
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    writeFileSync(join(s.data, 'new.txt'), 'written after the crash\n');
    const damage = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
        if (!entry.isFile() || entry.name.startsWith('.') || entry.name.endsWith('.log')) continue;
        const path = join(entry.parentPath, entry.name);
        if (/kopia\.config$|kopia\.repository$|\.f$/.test(path)) writeFileSync(path, randomBytes(300));
      }
    };
    damage(s.cache);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(warnings(result).some((w) => w.includes('local cache was corrupt'))).toBe(true);
    const target = join(s.root, 'restored');
    mkdirSync(target);
    const restore = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data, KOPIA_CACHE_DIR: join(s.root, 'cache2') });
    expect(restore.exitCode, restore.stdout).toBe(0);
    expect(readFileSync(join(target, 'new.txt'), 'utf8')).toBe('written after the crash\n');
  });
});

describe('reports', () => {
  it('a configuration error still names the operation it was asked for', async () => {
    const s = seeded('configop');
    const result = await runMover([], { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_PARALLELISM: 'many' });
    expect(result.exitCode).toBe(2);
    expect(summaryValue(result, 'OPERATION_TYPE')).toBe('BACKUP');
    expect(summaryValue(result, 'FAILURE_CLASS')).toBe('Configuration (retryable: no)');
  });

  it('retention that expires snapshots during a backup is logged with the count', async () => {
    const s = seeded('expire');
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_RETAIN_LATEST: '1', KOPIA_RETAIN_HOURLY: '0', KOPIA_RETAIN_DAILY: '0', KOPIA_RETAIN_WEEKLY: '0', KOPIA_RETAIN_MONTHLY: '0', KOPIA_RETAIN_YEARLY: '0' };
    for (let i = 0; i < 2; i++) {
      writeFileSync(join(s.data, `v${i}.txt`), `${i}\n`);
      expect((await runMover(['backup'], env)).exitCode).toBe(0);
    }
    writeFileSync(join(s.data, 'v2.txt'), '2\n');
    const result = await runMover(['backup'], env);
    expect(result.exitCode).toBe(0);
    expect(result.plainLines.some((l) => /^NOTE: retention expired 1 older snapshot of /.test(l))).toBe(true);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', s.target])).toHaveLength(1);
  });

  it('a mistyped command is named with the command meant; a command refuses another command\'s flags', async () => {
    const s = seeded('cli');
    const typo = await runMover(['bakup'], s.env);
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toContain("unknown command 'bakup', did you mean backup?");
    const wrongFlag = await runMover(['backup', '--previous', '1'], { ...s.env, DATA_DIR: s.data });
    expect(wrongFlag.exitCode).toBe(2);
    expect(wrongFlag.stderr).toContain("unknown option '--previous'");
    const help = await runMover(['restore', '--help'], s.env);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).not.toContain('--keep-daily');
  });
});
