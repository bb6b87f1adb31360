import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3Server } from '../support/servers.js';
import {
  ensureTestUser,
  filesHoldingSecrets,
  runMover,
  scenario,
  startMover,
  summaryValue,
  tempDir,
  waitForKopia,
  waitForKopiaProgress,
  type MoverResult,
} from '../support/mover.js';

/** Every entry under root with its type, mode and a digest of its content: any change shows. */
function fingerprint(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const rel = relative(root, path);
      if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(path)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
        walk(path);
      } else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    }
  };
  walk(root);
  return out;
}

describe('file deletion never removes what is not restore output', () => {
  it('restore --data-dir $HOME --delete-extra with the repository and cache under $HOME: exit 2, nothing under $HOME changes', async () => {
    const home = tempDir('km-home-');
    const photos = join(home, 'photos');
    mkdirSync(photos);
    writeFileSync(join(photos, 'cat.jpg'), randomBytes(2048));
    writeFileSync(join(home, 'notes.txt'), 'my notes\n');
    mkdirSync(join(home, 'backups'));
    const env = {
      HOME: home,
      XDG_CACHE_HOME: undefined,
      KOPIA_PASSWORD: 'laptop password 1',
      KOPIA_OVERRIDE_USERNAME: 'me',
      KOPIA_OVERRIDE_HOSTNAME: 'laptop',
    };
    const repository = `filesystem://${join(home, 'backups', 'repo')}`;
    const backup = await runMover(['backup', '--repository', repository, '--data-dir', photos, '--source-path', '/photos'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    // The default cache and the repository both live under HOME now.
    expect(existsSync(join(home, '.cache', 'kopia-mover', 'kopia.config'))).toBe(true);
    const before = fingerprint(home);

    const restore = await runMover(['restore', '--repository', repository, '--data-dir', home, '--source-path', '/photos', '--delete-extra'], env);
    expect(restore.exitCode, restore.stdout).toBe(2);
    expect(restore.kopiaCalls).toEqual([]);
    const reason = summaryValue(restore, 'FAILURE_REASON') ?? '';
    expect(reason).toContain('--data-dir');
    expect(reason).toContain(home);
    expect(fingerprint(home)).toEqual(before);
  });

  it('DATA_DIR / (also through a symlink) and a system directory with deletion: exit 2 before any kopia process', async () => {
    const s = scenario('rootdel');
    const link = join(s.root, 'looks-harmless');
    symlinkSync('/', link);
    for (const [dataDir, words] of [['/', 'root directory'], [link, 'root directory'], ['/etc', 'system directory'], ['/usr/share', 'system directory']] as const) {
      const result = await runMover(['restore'], { ...s.env, DATA_DIR: dataDir, KOPIA_ENABLE_FILE_DELETION: 'true' });
      expect(result.exitCode, dataDir).toBe(2);
      expect(result.kopiaCalls, dataDir).toEqual([]);
      expect(summaryValue(result, 'FAILURE_REASON'), dataDir).toContain(words);
      expect(summaryValue(result, 'OPERATION_TYPE')).toBe('RESTORE');
    }
  });

  it('a DATA_DIR that holds the cache or TMPDIR, or lies in the repository, is refused; without deletion the same restore runs', async () => {
    const s = scenario('overlap');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' })).exitCode).toBe(0);
    const target = join(s.root, 'target');
    mkdirSync(target);
    const base = { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/data' };
    const cases: [Record<string, string>, string][] = [
      [{ KOPIA_CACHE_DIR: join(target, 'cache') }, 'KOPIA_CACHE_DIR'],
      [{ TMPDIR: join(target, 'tmp') }, 'TMPDIR'],
      [{ DATA_DIR: join(s.repo, 'p') }, 'repository'],
    ];
    for (const [extra, words] of cases) {
      if (extra['TMPDIR']) mkdirSync(extra['TMPDIR'], { recursive: true });
      const result = await runMover(['restore'], { ...base, ...extra, KOPIA_ENABLE_FILE_DELETION: 'true' });
      expect(result.exitCode, words).toBe(2);
      expect(summaryValue(result, 'FAILURE_REASON'), words).toContain(words);
    }
    const plain = await runMover(['restore'], base);
    expect(plain.exitCode, plain.stdout).toBe(0);
    expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('a\n');
  });

  it('a filesystem mounted inside DATA_DIR survives deletion and is counted (tmpfs in a private mount namespace)', async () => {
    const s = scenario('mountdel');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'kept.txt'), 'in the snapshot\n');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' })).exitCode).toBe(0);
    const target = join(s.root, 'target');
    mkdirSync(join(target, 'other-volume'), { recursive: true });
    writeFileSync(join(target, 'stale.txt'), 'not in the snapshot\n');
    const marker = join(s.root, 'survived');
    // The tmpfs exists only inside the namespace: the script checks it there, after the mover ran.
    const script =
      'mnt=$1; mark=$2; shift 2; mount -t tmpfs tmpfs "$mnt" || exit 99; echo precious > "$mnt/keep.txt"; ' +
      '"$@"; rc=$?; [ -f "$mnt/keep.txt" ] && cat "$mnt/keep.txt" > "$mark"; exit $rc';
    const result = await runMover(
      ['restore'],
      { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/data', KOPIA_ENABLE_FILE_DELETION: 'true' },
      { wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', join(target, 'other-volume'), marker] },
    );
    expect(result.exitCode, result.stdout).toBe(0);
    expect(readFileSync(marker, 'utf8')).toBe('precious\n');
    expect(existsSync(join(target, 'stale.txt'))).toBe(false);
    expect(readFileSync(join(target, 'kept.txt'), 'utf8')).toBe('in the snapshot\n');
    const removal = result.records.find((r) => r['msg'] === 'removed entries absent from the snapshot');
    expect(removal?.['keptOnOtherFilesystems']).toBe(1);
    expect(result.plainLines.some((l) => l.startsWith('WARNING: file deletion kept 1 entry on other filesystems'))).toBe(true);
  });
});

describe('a restore into a volume mounted on a read-only parent', () => {
  it('succeeds with an identical tree, and only that one harmless kopia failure is forgiven (read-only bind mount in a namespace)', async () => {
    const s = scenario('roparent');
    mkdirSync(join(s.data, 'sub'), { recursive: true });
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    writeFileSync(join(s.data, 'sub', 'b.bin'), randomBytes(4096));
    symlinkSync('a.txt', join(s.data, 'link'));
    chmodSync(join(s.data, 'sub'), 0o750);
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' })).exitCode).toBe(0);
    const parent = join(s.root, 'ro-parent');
    const target = join(parent, 'data');
    mkdirSync(target, { recursive: true });
    writeFileSync(join(target, 'stale.txt'), 'not in the snapshot\n');
    // As in a pod: DATA_DIR is a writable volume whose parent is the read-only root.
    const script =
      'p=$1; d=$2; shift 2; mount --bind "$p" "$p" && mount -o remount,bind,ro "$p" && mount --bind "$d" "$d" && ' +
      'mount -o remount,bind,rw "$d" || exit 99; touch "$p/probe" 2>/dev/null && exit 98; exec "$@"';
    const wrap = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', parent, target];
    const env = { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/data', KOPIA_ENABLE_FILE_DELETION: 'true' };
    const result = await runMover(['restore'], env, { wrap });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(fingerprint(target)).toEqual(fingerprint(s.data));
    expect(result.plainLines.some((l) => l.startsWith('Snapshot restore completed: '))).toBe(true);
    expect(result.stdout).toContain('because the parent is read-only');

    // Any other failure of the same restore still fails it: a DATA_DIR that is itself read-only.
    const readOnlyData = 'd=$1; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 99; exec "$@"';
    rmSync(join(target, 'a.txt'));
    const failed = await runMover(['restore'], { ...env, KOPIA_ENABLE_FILE_DELETION: undefined }, {
      wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', readOnlyData, 'sh', target],
    });
    expect(failed.exitCode, failed.stdout).toBe(1);
  });
});

describe('no repository where no volume is mounted', () => {
  it('a backup to a filesystem repository whose parent is missing: exit 3, nothing created on disk', async () => {
    const s = scenario('novolume');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    const missing = join(s.root, 'mnt', 'missing');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_REPOSITORY: `filesystem://${missing}/repo` });
    expect(result.exitCode, result.stdout).toBe(3);
    expect(existsSync(join(s.root, 'mnt'))).toBe(false);
    const reason = summaryValue(result, 'FAILURE_REASON') ?? '';
    expect(reason).toContain('probably not mounted');
    expect(reason).toContain(`${missing}/repo`);
    expect(result.kopiaCalls.filter((a) => a[1] === 'create')).toEqual([]);
  });

  it('restore and maintenance against a missing repository directory: exit 3, repository volume is not mounted', async () => {
    const s = scenario('nomount');
    const path = join(s.root, 'repo-volume');
    for (const op of ['restore', 'maintenance']) {
      const result = await runMover([op], { ...s.env, DATA_DIR: join(s.root, 'target'), KOPIA_REPOSITORY: `filesystem://${path}` });
      expect(result.exitCode, op).toBe(3);
      const reason = summaryValue(result, op === 'maintenance' ? 'MAINTENANCE_FAILURE_REASON' : 'FAILURE_REASON');
      expect(reason, op).toContain(`repository volume is not mounted at ${path}`);
      expect(existsSync(path), op).toBe(false);
    }
  });
});

describe('secrets under attack', () => {
  const sas =
    '?sv=2022-11-02&ss=b&srt=sco&sp=rwdlacx&se=2030-01-01T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig=AbCdEf0123456789%2BSecretSig%3D';
  const sasValues = ['AbCdEf0123456789%2BSecretSig%3D', 'AbCdEf0123456789+SecretSig=', '2030-01-01T00:00:00Z', '2030-01-01T00%3A00%3A00Z', 'rwdlacx'];

  function expectNowhere(result: MoverResult, dirs: string[], secrets: string[]): void {
    const printed = [result.stdout, result.stderr, JSON.stringify(result.terminationMessage ?? {})].join('\n');
    for (const secret of secrets) {
      for (const form of [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')]) {
        expect(printed.includes(form), `a form of a secret was printed`).toBe(false);
      }
    }
    for (const dir of dirs) expect(filesHoldingSecrets(dir, secrets)).toEqual([]);
  }

  it('a failed Azure SAS connect (unreachable endpoint): no fragment of the token in output, the cache or TMPDIR', async () => {
    const s = scenario('azsas');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    const tmp = tempDir('km-aztmp-');
    const result = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      TMPDIR: tmp,
      KOPIA_REPOSITORY: 'azure://container1',
      AZURE_STORAGE_ACCOUNT: 'acct123',
      AZURE_STORAGE_SAS_TOKEN: sas,
      AZURE_ENDPOINT_SUFFIX: 'invalid.test',
    });
    expect(result.exitCode, result.stdout).toBe(3);
    // kopia did print the URL: the log shows it redacted.
    expect(result.stdout).toContain('acct123.blob.invalid.test');
    expect(result.stdout).toContain('sig=[redacted]');
    expect(readdirSync(join(s.cache, 'logs'), { recursive: true }).length).toBeGreaterThan(0);
    expectNowhere(result, [s.cache, tmp], [sas, ...sasValues]);
  });

  it('a structured repository config with a sasToken: no fragment of it in output, the cache or TMPDIR', async () => {
    const s = scenario('azstruct');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    const tmp = tempDir('km-aztmp-');
    const structured = JSON.stringify({
      storage: { type: 'azureBlob', config: { container: 'container1', storageAccount: 'acct123', sasToken: sas, storageDomain: 'blob.invalid.test' } },
    });
    const result = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      TMPDIR: tmp,
      KOPIA_REPOSITORY: undefined,
      KOPIA_STRUCTURED_REPOSITORY_CONFIG: structured,
    });
    expect(result.exitCode, result.stdout).toBe(3);
    expectNowhere(result, [s.cache, tmp], [sas, ...sasValues]);
  });

  it('credentials in a repository URL: exit 2 for every backend, neither part printed anywhere', async () => {
    const s = scenario('urlcreds');
    for (const url of ['s3://AKIAEXAMPLEKEY:wJalrXUtnFEMIsecret@bucket1/p', 'azure://acctuser:AzureSecret99@container1', 'b2://keyid:B2Secret777@bucket123', 'filesystem://user:FsSecret55@/repo']) {
      const [user, secret] = /:\/\/([^:]+):([^@]+)@/.exec(url)!.slice(1) as [string, string];
      for (const args of [['backup'], ['validate', '--operation', 'backup']]) {
        const result = await runMover(args, { ...s.env, DATA_DIR: s.root, KOPIA_REPOSITORY: url });
        expect(result.exitCode, `${args[0]} ${url}`).toBe(2);
        const printed = [result.stdout, result.stderr, JSON.stringify(result.terminationMessage ?? {})].join('\n');
        expect(printed).toContain('must not carry credentials');
        expect(printed.includes(user), `${args[0]}: the URL's user was printed`).toBe(false);
        expect(printed.includes(secret), `${args[0]}: the URL's password was printed`).toBe(false);
      }
    }
  });

  describe('with MinIO', () => {
    let s3: S3Server;
    beforeAll(async () => {
      s3 = await startS3Server();
      await s3.createBucket('kill9');
    });
    afterAll(async () => {
      await s3?.stop();
    });

    it('SIGKILL during snapshot create: no storage secret on the cache volume; the next run removes the stale temp folder and succeeds', async () => {
      const s = scenario('kill9');
      mkdirSync(s.data);
      for (let i = 0; i < 4; i++) writeFileSync(join(s.data, `part-${i}.bin`), randomBytes(64 * 1024 * 1024));
      const tmp = tempDir('km-kill9tmp-');
      const env = {
        ...s.env,
        DATA_DIR: s.data,
        TMPDIR: tmp,
        KOPIA_REPOSITORY: 's3://kill9/repo',
        KOPIA_S3_ENDPOINT: s3.url,
        AWS_ACCESS_KEY_ID: s3.accessKey,
        AWS_SECRET_ACCESS_KEY: s3.secretKey,
      };
      const handle = startMover(['backup'], env);
      const kopiaPid = await waitForKopia(handle, 'snapshot', 'create');
      // Uploading: kopia has connected with the storage secret and is writing to the cache.
      await waitForKopiaProgress(handle);
      // As the kernel's OOM killer or a node failure would: the whole container at once.
      process.kill(handle.pid, 'SIGKILL');
      process.kill(kopiaPid, 'SIGKILL');
      await handle.result.catch(() => undefined);
      expect(filesHoldingSecrets(s.cache, [s3.secretKey])).toEqual([]);
      const stale = readdirSync(tmp);
      expect(stale.length).toBe(1);

      const next = await runMover(['backup'], env);
      expect(next.exitCode, next.stdout).toBe(0);
      expect(readdirSync(tmp)).toEqual([]);
      expect(filesHoldingSecrets(s.cache, [s3.secretKey])).toEqual([]);
      expect(summaryValue(next, 'SNAPSHOT_ID')).toMatch(/^[0-9a-f]{32}$/);
    });
  });

  it('KOPIA_PASSWORD=SUCCESS and =snapshot: the summary and the termination JSON stay intact', async () => {
    for (const password of ['SUCCESS', 'snapshot']) {
      const s = scenario(`word${password}`);
      mkdirSync(s.data);
      writeFileSync(join(s.data, 'a.txt'), 'a\n');
      const env = { ...s.env, KOPIA_PASSWORD: password, DATA_DIR: s.data };
      const result = await runMover(['backup'], env, { unscanned: [password] });
      expect(result.exitCode, result.stdout).toBe(0);
      expect(result.plainLines).toContain('OPERATION_RESULT: SUCCESS');
      expect(result.plainLines).toContain('EXIT_CODE: 0');
      expect(summaryValue(result, 'SNAPSHOT_ID')).toMatch(/^[0-9a-f]{32}$/);
      expect(result.terminationMessage).toMatchObject({ operation: 'backup', result: 'SUCCESS', exitCode: 0 });
      expect((result.terminationMessage?.['snapshot'] as { id?: string } | undefined)?.id).toMatch(/^[0-9a-f]{32}$/);
      // Every log record is still JSON with its keys.
      for (const record of result.records) expect(record).toHaveProperty('msg');
    }
  });
});

describe('files that are not regular files', () => {
  it('a FIFO as policy file or password file: exit 2 within 5 s; a password file over the cap: exit 2', async () => {
    const s = scenario('fifo');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    const fifo = join(s.root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const cases: [string[], Record<string, string | undefined>, string][] = [
      [['backup'], { KOPIA_GLOBAL_POLICY_FILE: fifo, KOPIA_CONFIG_PATH: s.root }, fifo],
      [['validate', '--operation', 'backup'], { KOPIA_GLOBAL_POLICY_FILE: fifo, KOPIA_CONFIG_PATH: s.root }, fifo],
      [['backup', '--password-file', fifo], { KOPIA_PASSWORD: undefined }, '--password-file'],
      [['backup', '--password-file', '/dev/zero'], { KOPIA_PASSWORD: undefined }, '--password-file'],
    ];
    for (const [args, extra, names] of cases) {
      const started = Date.now();
      const result = await runMover(args, { ...s.env, DATA_DIR: s.data, ...extra });
      expect(Date.now() - started, args.join(' ')).toBeLessThan(5000);
      expect(result.exitCode, `${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stdout + result.stderr).toContain(names);
      expect(result.kopiaCalls).toEqual([]);
    }
    const big = join(s.root, 'big-password');
    writeFileSync(big, 'x'.repeat(4097));
    const result = await runMover(['backup', '--password-file', big], { ...s.env, DATA_DIR: s.data, KOPIA_PASSWORD: undefined });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('larger than 4096 bytes');
  });
});

describe('hooks', () => {
  it('a hook that prints its environment sees no variable that carries a credential', async () => {
    const s = scenario('hookenv');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    const out = join(s.root, 'hook-env.txt');
    const credentials: Record<string, string> = {
      RCLONE_CONFIG_PASS: 'rclone-config-pass-1',
      RCLONE_CONFIG_MYREMOTE_SECRET_ACCESS_KEY: 'rclone-remote-secret-2',
      AWS_SECRET_ACCESS_KEY: 'aws-secret-3',
      AZURE_STORAGE_KEY: 'azure-key-4',
      WEBDAV_PASSWORD: 'dav-pass-5',
      SOME_APP_TOKEN: 'app-token-6',
      HTTPS_PROXY: 'http://proxyuser:ProxyPass7@proxy.example:3128',
    };
    const result = await runMover(['backup'], { ...s.env, ...credentials, DATA_DIR: s.data, KOPIA_BEFORE_SNAPSHOT: `env > ${out}` });
    expect(result.exitCode, result.stdout).toBe(0);
    const seen = readFileSync(out, 'utf8');
    for (const value of [...Object.values(credentials), s.password, 'ProxyPass7']) expect(seen.includes(value), value).toBe(false);
    expect(seen).toMatch(/^DATA_DIR=/m);
    expect(seen).toMatch(/^KOPIA_MOVER_SOURCE=hookenv@ns1:/m);
  });
});

describe('directories the mover cannot write', () => {
  it('an unwritable KOPIA_CACHE_DIR or TMPDIR as UID 1000-like user: exit 2 naming the variable', async () => {
    ensureTestUser();
    const s = scenario('unwritable');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    chmodSync(s.root, 0o755);
    const locked = join(s.root, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    const writable = join(s.root, 'writable');
    mkdirSync(writable, { mode: 0o777 });
    chmodSync(writable, 0o777);
    const { uid, gid } = ensureTestUser();
    chownSync(s.data, uid, gid);
    for (const [extra, variable] of [
      [{ KOPIA_CACHE_DIR: locked, TMPDIR: writable }, 'KOPIA_CACHE_DIR'],
      [{ KOPIA_CACHE_DIR: join(writable, 'cache'), TMPDIR: locked }, 'TMPDIR'],
    ] as const) {
      const result = await runMover(['backup'], { ...s.env, ...extra, DATA_DIR: s.data }, { asUser: 'kmtest' });
      expect(result.exitCode, result.stdout).toBe(2);
      expect(summaryValue(result, 'FAILURE_REASON')).toContain(variable);
      expect(result.kopiaCalls).toEqual([]);
    }
  });
});

describe('no forged lines', () => {
  it('a policy key holding a newline and a summary header: no such line starts a line in pretty logs or validate output', async () => {
    const s = scenario('forge');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    const policyDir = join(s.root, 'policy');
    mkdirSync(policyDir);
    writeFileSync(join(policyDir, 'global-policy.json'), JSON.stringify({ '\n=== OPERATION SUMMARY ===\nOPERATION_RESULT: FORGED': 1, retention: { keepDaily: 3 } }));
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: policyDir, KOPIA_MOVER_LOG_FORMAT: 'pretty' };
    const backup = await runMover(['backup'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    const lines = backup.stdout.split('\n');
    expect(lines.filter((l) => l.startsWith('=== OPERATION SUMMARY ==='))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('OPERATION_RESULT:'))).toEqual(['OPERATION_RESULT: SUCCESS']);
    expect(backup.stdout).toContain('\\n=== OPERATION SUMMARY ===');

    const validate = await runMover(['validate', '--operation', 'backup'], env);
    const vlines = validate.stdout.split('\n');
    expect(vlines.filter((l) => l.startsWith('=== OPERATION SUMMARY ==='))).toEqual([]);
    expect(vlines.filter((l) => l.startsWith('OPERATION_RESULT'))).toEqual([]);
    expect(validate.stdout).toContain('\\n=== OPERATION SUMMARY ===');
  });
});
