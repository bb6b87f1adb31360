// Every backend that can run here, against a real server on 127.0.0.1 and the real kopia.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNoSecrets, runMover, tempDir, type Env, type MoverResult } from '../support/mover.js';
import {
  rcloneLocalRemote,
  startS3Server,
  startSftpServer,
  startWebdavServer,
  type RcloneLocalRemote,
  type S3Server,
  type SftpServer,
  type WebdavServer,
} from '../support/servers.js';

const SLOW = 420_000;

let s3: S3Server;
let s3tls: S3Server;
let sftp: SftpServer;
let dav: WebdavServer;
let rclone: RcloneLocalRemote;

beforeAll(async () => {
  [s3, s3tls, sftp, dav, rclone] = await Promise.all([
    startS3Server(),
    startS3Server({ tls: true }),
    startSftpServer(),
    startWebdavServer(),
    rcloneLocalRemote(),
  ]);
  await s3.createBucket('km-http');
  await s3tls.createBucket('km-https');
}, SLOW);

afterAll(async () => {
  await Promise.allSettled([s3?.stop(), s3tls?.stop(), sftp?.stop(), dav?.stop(), rclone?.cleanup()]);
});

function makeData(dir: string): void {
  mkdirSync(join(dir, 'nested', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'hello.txt'), 'hello from a remote repository\n');
  writeFileSync(join(dir, 'nested', 'deeper', 'random.bin'), randomBytes(1024 * 1024));
  writeFileSync(join(dir, 'nested', 'empty'), '');
}

/** Relative path -> sha256 of each file (and a marker for each dir). */
function treeOf(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        out[relative(root, path)] = 'dir';
        walk(path);
      } else out[relative(root, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(root);
  return out;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

/** Nothing on the cache volume may hold a secret: kopia.config, logs, caches. */
function expectCacheClean(cache: string, secrets: string[], scrubbedKeys: string[], privateConnection: boolean): void {
  const files = filesUnder(cache);
  expect(files.length).toBeGreaterThan(0);
  for (const file of files) {
    const bytes = readFileSync(file);
    for (const secret of secrets) {
      if (bytes.includes(secret)) throw new Error(`a secret value is stored in ${relative(cache, file)}`);
    }
  }
  const configFile = join(cache, 'kopia.config');
  if (privateConnection) {
    // kopia would keep these secrets in its config with no way to read them from its environment:
    // its config never touches the cache volume.
    expect(existsSync(configFile)).toBe(false);
  } else {
    const saved = JSON.parse(readFileSync(configFile, 'utf8')) as { storage: { config: Record<string, unknown> } };
    for (const key of scrubbedKeys) expect(saved.storage.config).not.toHaveProperty(key);
  }
  expect(existsSync(join(cache, 'kopia.config.kopia-password'))).toBe(false);
}

/** `repository create`, `maintenance set`, ... of each kopia process of a run. */
function verbs(result: MoverResult): string[] {
  return result.kopiaCalls.map((argv) => argv.slice(0, 2).join(' '));
}

interface Lifecycle {
  label: string;
  env: Env;
  /** Secret values of `env` besides the repository password. */
  secrets: string[];
  /** kopia.config keys the run must have removed. */
  scrubbedKeys: string[];
  /** Target of `repository connect|create`, e.g. 's3' or 'from-config'. */
  kopiaBackend: string;
  /** kopia reads the scrubbed secrets from its environment, so the connection is still reused. */
  reusesAfterScrub?: boolean;
}

/**
 * First backup creates the repository, the second reuses the connection (or
 * connects again where secrets were scrubbed), a restore into an empty dir on a
 * fresh cache gives identical bytes, and maintenance runs as the owner the first backup named.
 */
async function lifecycle({ label, env, secrets, scrubbedKeys, kopiaBackend, reusesAfterScrub = false }: Lifecycle): Promise<void> {
  const root = tempDir(`km-${label}-`);
  const data = join(root, 'data');
  makeData(data);
  const password = `pw-${label}-${randomBytes(6).toString('hex')}`;
  const all = [password, ...secrets];
  const base: Env = {
    KOPIA_PASSWORD: password,
    KOPIA_OVERRIDE_USERNAME: label,
    KOPIA_OVERRIDE_HOSTNAME: 'ns1',
    KOPIA_SOURCE_PATH_OVERRIDE: '/data',
    KOPIA_RETAIN_DAILY: '7',
    ...env,
  };
  const cache = join(root, 'cache');
  const privateConnection = scrubbedKeys.length > 0 && !reusesAfterScrub;

  const first = await runMover(['backup'], { ...base, KOPIA_CACHE_DIR: cache, DATA_DIR: data });
  expect(first.exitCode, first.stdout).toBe(0);
  expect(verbs(first)).toContain('repository create');
  expect(verbs(first)).toContain('policy import');
  const create = first.kopiaCalls.find((argv) => argv[1] === 'create');
  expect(create?.[2]).toBe(kopiaBackend);
  // Secret temp files live only as long as the run.
  const tempFiles = first.kopiaCalls.flat().flatMap((arg) => /^--(?:token-file|credentials-file)=(.+)$/.exec(arg)?.slice(1) ?? []);
  if (kopiaBackend === 'from-config') expect(tempFiles.length).toBeGreaterThan(0);
  for (const file of tempFiles) expect(existsSync(file)).toBe(false);
  assertNoSecrets(first, all);
  expectCacheClean(cache, all, scrubbedKeys, privateConnection);

  const second = await runMover(['backup'], { ...base, KOPIA_CACHE_DIR: cache, DATA_DIR: data });
  expect(second.exitCode, second.stdout).toBe(0);
  expect(verbs(second)).not.toContain('repository create');
  // With secrets scrubbed from kopia.config the run connects again, unless kopia finds them in its environment.
  const reconnects = scrubbedKeys.length > 0 && !reusesAfterScrub;
  expect(verbs(second).includes('repository connect')).toBe(reconnects);
  // Policies applied by the first run are not applied again.
  expect(verbs(second)).not.toContain('policy import');
  expect(second.kopiaCalls.length).toBeLessThanOrEqual(reconnects ? 2 : 1);
  expect(second.plainLines.some((l) => l.startsWith('SNAPSHOT_ID: '))).toBe(true);
  expectCacheClean(cache, all, scrubbedKeys, privateConnection);

  const restored = join(root, 'restored');
  mkdirSync(restored);
  const restoreCache = join(root, 'restore-cache');
  const restore = await runMover(['restore'], { ...base, KOPIA_CACHE_DIR: restoreCache, DATA_DIR: restored });
  expect(restore.exitCode, restore.stdout).toBe(0);
  expect(verbs(restore)).toContain('repository connect');
  expect(verbs(restore)).not.toContain('repository create');
  expect(treeOf(restored)).toEqual(treeOf(data));
  expectCacheClean(restoreCache, all, scrubbedKeys, privateConnection);

  const maintenanceCache = join(root, 'maintenance-cache');
  const maintenance = await runMover(['maintenance'], { ...base, KOPIA_CACHE_DIR: maintenanceCache });
  expect(maintenance.exitCode, maintenance.stdout).toBe(0);
  expect(maintenance.plainLines).toContain('MAINTENANCE_STATUS: SUCCESS');
  // The first backup left maintenance to maintenance@volsync, so the job runs it without a claim.
  expect(first.kopiaCalls).toContainEqual(expect.arrayContaining(['maintenance', 'set', '--owner=maintenance@volsync']));
  expect(verbs(maintenance)).not.toContain('maintenance set');
  expect(verbs(maintenance)).not.toContain('repository create');
  expectCacheClean(maintenanceCache, all, scrubbedKeys, privateConnection);
  // The owner is recorded in the repository: the next run finds itself the owner too.
  const again = await runMover(['maintenance'], { ...base, KOPIA_CACHE_DIR: maintenanceCache });
  expect(again.exitCode, again.stdout).toBe(0);
  expect(verbs(again)).toContain('maintenance info');
  expect(verbs(again)).not.toContain('maintenance set');
}

describe('S3 (MinIO)', () => {
  it(
    'http endpoint with no TLS variable, s3://bucket/a//b: create, reuse, restore, maintenance; objects under a/b/',
    async () => {
      await lifecycle({
        label: 's3http',
        kopiaBackend: 's3',
        reusesAfterScrub: true,
        env: {
          KOPIA_REPOSITORY: 's3://km-http/a//b',
          KOPIA_S3_ENDPOINT: s3.url,
          AWS_ACCESS_KEY_ID: s3.accessKey,
          AWS_SECRET_ACCESS_KEY: s3.secretKey,
          AWS_REGION: s3.region,
        },
        secrets: [s3.secretKey],
        scrubbedKeys: ['secretAccessKey', 'sessionToken'],
      });
      const keys = await s3.listObjects('km-http');
      expect(keys).toContain('a/b/kopia.repository');
      expect(keys.every((k) => k.startsWith('a/b/'))).toBe(true);
      expect(keys.some((k) => k.startsWith('a/b/p'))).toBe(true);
    },
    SLOW,
  );

  it(
    'https endpoint trusted through CUSTOM_CA: create, reuse, restore, maintenance',
    async () => {
      await lifecycle({
        label: 's3https',
        kopiaBackend: 's3',
        reusesAfterScrub: true,
        env: {
          KOPIA_REPOSITORY: 's3://km-https/tls',
          KOPIA_S3_ENDPOINT: s3tls.url,
          CUSTOM_CA: s3tls.caFile,
          AWS_ACCESS_KEY_ID: s3tls.accessKey,
          AWS_SECRET_ACCESS_KEY: s3tls.secretKey,
        },
        secrets: [s3tls.secretKey],
        scrubbedKeys: ['secretAccessKey', 'sessionToken'],
      });
      expect(await s3tls.listObjects('km-https', 'tls/')).toContain('tls/kopia.repository');
    },
    SLOW,
  );

  it('https endpoint without CUSTOM_CA: exit 3, no create attempted', async () => {
    const root = tempDir('km-s3-noca-');
    makeData(join(root, 'data'));
    const result = await runMover(['backup'], {
      KOPIA_PASSWORD: 'pw-no-ca-123',
      KOPIA_REPOSITORY: 's3://km-https/no-ca',
      KOPIA_S3_ENDPOINT: s3tls.url,
      AWS_ACCESS_KEY_ID: s3tls.accessKey,
      AWS_SECRET_ACCESS_KEY: s3tls.secretKey,
      KOPIA_CACHE_DIR: join(root, 'cache'),
      DATA_DIR: join(root, 'data'),
    });
    expect(result.exitCode, result.stdout).toBe(3);
    expect(verbs(result)).toEqual(['repository connect']);
  });

  it('wrong secret key: exit 3, no create attempted, the key appears nowhere', async () => {
    const root = tempDir('km-s3-wrong-');
    makeData(join(root, 'data'));
    const wrong = `wrong-${randomBytes(12).toString('hex')}`;
    const cache = join(root, 'cache');
    const result = await runMover(['backup'], {
      KOPIA_PASSWORD: 'pw-wrong-key-123',
      KOPIA_REPOSITORY: 's3://km-http/wrong-key/',
      KOPIA_S3_ENDPOINT: s3.url,
      AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: wrong,
      KOPIA_CACHE_DIR: cache,
      DATA_DIR: join(root, 'data'),
    });
    expect(result.exitCode, result.stdout).toBe(3);
    expect(verbs(result)).toEqual(['repository connect']);
    expect(result.kopiaCalls.flat().join(' ')).not.toContain(wrong);
    expect(result.stdout + result.stderr).not.toContain(wrong);
    expect(JSON.stringify(result.terminationMessage)).not.toContain(wrong);
    for (const file of filesUnder(cache)) expect(readFileSync(file).includes(wrong)).toBe(false);
    expect(await s3.listObjects('km-http', 'wrong-key/')).toEqual([]);
  });
});

describe('SFTP (OpenSSH sshd)', () => {
  it(
    'key file and known_hosts file: create, reuse, restore, maintenance',
    async () => {
      await lifecycle({
        label: 'sftpkey',
        kopiaBackend: 'sftp',
        env: {
          SFTP_HOST: sftp.host,
          SFTP_PORT: String(sftp.port),
          SFTP_USERNAME: sftp.user,
          SFTP_PATH: `${sftp.root}/key-repo`,
          SFTP_KEY_FILE: sftp.keyFile,
          SFTP_KNOWN_HOSTS: sftp.knownHostsFile,
        },
        secrets: [],
        scrubbedKeys: [],
      });
      expect(existsSync(join(sftp.root, 'key-repo', 'kopia.repository.f'))).toBe(true);
    },
    SLOW,
  );

  it(
    'password and inline known_hosts data: the password only in a 0600 token file, scrubbed from kopia.config',
    async () => {
      await lifecycle({
        label: 'sftppass',
        kopiaBackend: 'from-config',
        env: {
          SFTP_HOST: sftp.host,
          SFTP_PORT: String(sftp.port),
          SFTP_USERNAME: sftp.user,
          SFTP_PATH: `${sftp.root}/password-repo`,
          SFTP_PASSWORD: sftp.password,
          SFTP_KNOWN_HOSTS_DATA: sftp.knownHostsData,
        },
        secrets: [sftp.password],
        scrubbedKeys: ['password'],
      });
      expect(existsSync(join(sftp.root, 'password-repo', 'kopia.repository.f'))).toBe(true);
    },
    SLOW,
  );
});

describe('WebDAV (rclone serve webdav)', () => {
  it(
    'basic auth through KOPIA_WEBDAV_*: create, reuse, restore, maintenance',
    async () => {
      await lifecycle({
        label: 'webdav',
        kopiaBackend: 'webdav',
        env: { WEBDAV_URL: dav.url, WEBDAV_USERNAME: dav.username, WEBDAV_PASSWORD: dav.password },
        secrets: [dav.password],
        scrubbedKeys: ['password'],
      });
      expect(existsSync(join(dav.root, 'kopia.repository.f'))).toBe(true);
    },
    SLOW,
  );
});

describe('rclone (local remote)', () => {
  it(
    'RCLONE_REMOTE_PATH, RCLONE_EXE and RCLONE_CONFIG: create, reuse, restore, maintenance',
    async () => {
      await lifecycle({
        label: 'rclone',
        kopiaBackend: 'rclone',
        env: { RCLONE_REMOTE_PATH: rclone.remotePath, RCLONE_EXE: rclone.rcloneExe, RCLONE_CONFIG: rclone.configFile },
        secrets: [],
        scrubbedKeys: [],
      });
      expect(existsSync(join(rclone.root, 'kopia.repository.f'))).toBe(true);
    },
    SLOW,
  );
});

describe('invalid repository settings: exit 2 before any kopia process', () => {
  const AWS = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'never-used-secret-key' };
  it.each([
    ['bucket My_Bucket', { KOPIA_REPOSITORY: 's3://My_Bucket/x', ...AWS }, 'KOPIA_REPOSITORY'],
    ['bucket 192.168.1.1', { KOPIA_REPOSITORY: 's3://192.168.1.1', ...AWS }, 'KOPIA_REPOSITORY'],
    ['KOPIA_S3_BUCKET My_Bucket', { KOPIA_S3_BUCKET: 'My_Bucket', ...AWS }, 'KOPIA_S3_BUCKET'],
    ['a prefix with ..', { KOPIA_REPOSITORY: 's3://bucket/a/../b', ...AWS }, 'KOPIA_REPOSITORY'],
    ['filesystem://relative/path', { KOPIA_REPOSITORY: 'filesystem://relative/path' }, 'KOPIA_REPOSITORY'],
    ['S3 and SFTP both configured with no URL', { KOPIA_S3_BUCKET: 'bucket', SFTP_HOST: '127.0.0.1', ...AWS }, 'KOPIA_REPOSITORY'],
    ['S3 endpoint missing its keys', { KOPIA_REPOSITORY: 's3://bucket' }, 'AWS_SECRET_ACCESS_KEY'],
    ['SFTP without a host', { SFTP_PATH: '/repo', SFTP_USERNAME: 'u', SFTP_PASSWORD: 'sftp-pass-x', SFTP_KNOWN_HOSTS_DATA: 'h k' }, 'SFTP_HOST'],
  ])('%s', async (_name, env, variable) => {
    const root = tempDir('km-invalid-');
    makeData(join(root, 'data'));
    const result = await runMover(['backup'], {
      KOPIA_PASSWORD: 'pw-invalid-123',
      KOPIA_CACHE_DIR: join(root, 'cache'),
      DATA_DIR: join(root, 'data'),
      ...env,
    });
    expect(result.exitCode, result.stdout).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.stdout).toContain(`configuration error: ${variable}:`);
    if (_name.startsWith('S3 and SFTP')) expect(result.stdout).toMatch(/s3 \(KOPIA_S3_BUCKET\) and sftp \(SFTP_HOST\)/);
  });
});

describe('GOOGLE_APPLICATION_CREDENTIALS given as JSON content (real-server runs: azure-gcs.test.ts)', () => {
  const credentials = JSON.stringify({ type: 'service_account', private_key: `-----BEGIN PRIVATE KEY-----${randomBytes(16).toString('hex')}` });

  it('the plan shows a temp file in place of the credentials', async () => {
    const root = tempDir('km-gcs-plan-');
    // The plan is the run's: it reads the same source, which must exist.
    makeData(join(root, 'data'));
    const result = await runMover(['plan'], {
      DIRECTION: 'source',
      DATA_DIR: join(root, 'data'),
      KOPIA_PASSWORD: 'pw-gcs-plan-1',
      KOPIA_CACHE_DIR: join(root, 'cache'),
      KOPIA_REPOSITORY: 'gcs://my-bucket/app',
      GOOGLE_APPLICATION_CREDENTIALS: credentials,
    });
    expect(result.exitCode, result.stdout).toBe(0);
    const connect = result.plainLines.find((l) => l.includes('repository connect gcs'));
    expect(connect).toContain('--bucket=my-bucket --prefix=app/');
    expect(connect).toContain("'--credentials-file=<temp file: GCS service account credentials>'");
    expect(result.kopiaCalls).toEqual([]);
  });

  it('with a fake kopia via KOPIA_BIN (a real one cannot report the file while it runs): the file is 0600 with the JSON while kopia runs, gone after exit', async () => {
    const root = tempDir('km-gcs-file-');
    makeData(join(root, 'data'));
    const tmp = join(root, 'tmp');
    mkdirSync(tmp);
    const log = join(root, 'seen.log');
    const fake = join(root, 'fake-kopia.sh');
    // Records the credentials file as kopia sees it, then fails the connect like an unreachable server.
    writeFileSync(
      fake,
      [
        '#!/bin/bash',
        'for a in "$@"; do',
        '  case "$a" in --credentials-file=*)',
        '    f="${a#--credentials-file=}"',
        `    { echo "path=$f"; stat -c 'mode=%a' "$f"; echo "sha=$(sha256sum < "$f" | cut -d' ' -f1)"; } >> '${log}';;`,
        '  esac',
        'done',
        'echo "ERROR error connecting to repository: unable to connect to storage: fake" >&2',
        'exit 1',
        '',
      ].join('\n'),
    );
    chmodSync(fake, 0o755);
    const result = await runMover(['backup'], {
      KOPIA_BIN: fake,
      TMPDIR: tmp,
      KOPIA_PASSWORD: 'pw-gcs-file-1',
      KOPIA_CACHE_DIR: join(root, 'cache'),
      DATA_DIR: join(root, 'data'),
      KOPIA_REPOSITORY: 'gcs://my-bucket/app',
      GOOGLE_APPLICATION_CREDENTIALS: credentials,
    });
    expect(result.exitCode, result.stdout).toBe(3);
    const seen = Object.fromEntries(
      readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
    );
    expect(seen['path']?.startsWith(`${tmp}/`)).toBe(true);
    expect(seen['mode']).toBe('600');
    expect(seen['sha']).toBe(createHash('sha256').update(credentials).digest('hex'));
    expect(existsSync(seen['path']!)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
    expect(result.stdout).not.toContain(credentials);
  });
});
