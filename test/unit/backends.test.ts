import { describe, expect, it } from 'vitest';
import { backends, resolveStorage } from '../../src/backends/index.js';
import { configVariableNames } from '../../src/config/parse.js';
import { unknownVariableWarnings } from '../../src/config/unknown-variables.js';
import type { StorageTarget } from '../../src/backends/types.js';
import { EnvSource } from '../../src/env.js';
import { parseConfig } from '../../src/config/parse.js';
import { Secret } from '../../src/secret.js';
import type { ConfigIssue } from '../../src/errors.js';
import { kopiaEnvironment } from '../../src/kopia/environment.js';
import { SYSTEM } from '../support/fixtures.js';

type Env = Record<string, string | undefined>;

const AWS = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'aws-secret-Xy9/zz+key' };

function resolve(env: Env, customCa?: string): { target?: StorageTarget; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const target = resolveStorage(new EnvSource(env), issues, customCa);
  return { target, issues };
}

/** A target that must resolve cleanly. */
function target(env: Env, customCa?: string): StorageTarget {
  const result = resolve(env, customCa);
  expect(result.issues).toEqual([]);
  expect(result.target).toBeDefined();
  return result.target!;
}

function issuesOf(env: Env): ConfigIssue[] {
  const result = resolve(env);
  expect(result.issues.length).toBeGreaterThan(0);
  return result.issues;
}

/** Secrets must never be in argv, the description, warnings or issue messages. */
function expectNoSecretIn(env: Env, secrets: string[]): void {
  const { target: t, issues } = resolve(env);
  const texts = [...(t?.args ?? []), t?.description ?? '', ...(t?.warnings ?? []), ...issues.map((i) => `${i.source} ${i.message}`)];
  for (const secret of secrets) for (const text of texts) expect(text).not.toContain(secret);
}

function revealed(t: StorageTarget): Record<string, string> {
  return Object.fromEntries(Object.entries(t.env).map(([k, v]) => [k, typeof v === 'string' ? v : v.reveal()]));
}

function decodeToken(t: StorageTarget): { version: string; storage: { type: string; config: Record<string, unknown> } } {
  const file = t.secretFiles.find((f) => f.flag === '--token-file');
  expect(file).toBeDefined();
  return JSON.parse(Buffer.from(file!.content.reveal(), 'base64url').toString('utf8'));
}

describe('S3', () => {
  it('takes bucket and prefix from the URL, collapses // and adds a trailing /', () => {
    const t = target({ KOPIA_REPOSITORY: 's3://my-bucket/a//b', ...AWS });
    expect(t.backend).toBe('s3');
    expect(t.args).toEqual(['s3', '--bucket=my-bucket', '--endpoint=s3.amazonaws.com', '--prefix=a/b/']);
    expect(t.secretFiles).toEqual([]);
    // No token file: kopia reads the keys from its own environment, so a scrubbed connection is reused.
    expect(t.secretsFromEnvironment).toBe(true);
  });

  it('uses the bucket root for s3://bucket and s3://bucket/', () => {
    expect(target({ KOPIA_REPOSITORY: 's3://my-bucket', ...AWS }).args).not.toContainEqual(expect.stringMatching(/^--prefix/));
    expect(target({ KOPIA_REPOSITORY: 's3://my-bucket/', ...AWS }).args).not.toContainEqual(expect.stringMatching(/^--prefix/));
    expect(target({ KOPIA_REPOSITORY: 's3://my-bucket//x/', ...AWS }).args).toContain('--prefix=x/');
  });

  it('passes the keys and session token in the environment kopia reads, as secrets', () => {
    const t = target({ KOPIA_REPOSITORY: 's3://bkt', ...AWS, AWS_SESSION_TOKEN: 'session-token-value' });
    expect(t.env['AWS_SECRET_ACCESS_KEY']).toBeInstanceOf(Secret);
    expect(t.env['AWS_SESSION_TOKEN']).toBeInstanceOf(Secret);
    expect(revealed(t)).toEqual({ ...AWS, AWS_SESSION_TOKEN: 'session-token-value' });
    expect(t.secretConfigKeys).toEqual(['secretAccessKey', 'sessionToken']);
    expectNoSecretIn({ KOPIA_REPOSITORY: 's3://bkt', ...AWS, AWS_SESSION_TOKEN: 'session-token-value' }, [
      AWS.AWS_SECRET_ACCESS_KEY,
      'session-token-value',
    ]);
  });

  it('strips the endpoint scheme; http:// turns TLS off with no TLS variable', () => {
    const http = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'http://127.0.0.1:9000', ...AWS });
    expect(http.args).toEqual(['s3', '--bucket=bkt', '--endpoint=127.0.0.1:9000', '--disable-tls']);
    const https = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'https://minio.example.com/', ...AWS });
    expect(https.args).toEqual(['s3', '--bucket=bkt', '--endpoint=minio.example.com']);
  });

  it('reads KOPIA_S3_ENDPOINT before AWS_S3_ENDPOINT, and either TLS-off variable', () => {
    const both = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'one:1', AWS_S3_ENDPOINT: 'two:2', ...AWS });
    expect(both.args).toContain('--endpoint=one:1');
    const aws = target({ KOPIA_REPOSITORY: 's3://bkt', AWS_S3_ENDPOINT: 'two:2', AWS_S3_DISABLE_TLS: 'true', ...AWS });
    expect(aws.args).toEqual(['s3', '--bucket=bkt', '--endpoint=two:2', '--disable-tls']);
    const kopia = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'one:1', KOPIA_S3_DISABLE_TLS: 'TRUE', ...AWS });
    expect(kopia.args).toContain('--disable-tls');
    const off = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'one:1', KOPIA_S3_DISABLE_TLS: 'false', ...AWS });
    expect(off.args).not.toContain('--disable-tls');
  });

  it('lets the endpoint scheme win over a contradicting TLS variable, with a warning', () => {
    const t = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'http://h:1', KOPIA_S3_DISABLE_TLS: 'false', ...AWS });
    expect(t.args).toContain('--disable-tls');
    expect(t.warnings.join('\n')).toMatch(/KOPIA_S3_DISABLE_TLS=false contradicts the http:\/\/ scheme/);
  });

  it('takes the region from AWS_REGION, then AWS_DEFAULT_REGION', () => {
    expect(target({ KOPIA_REPOSITORY: 's3://bkt', AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-east-2', ...AWS }).args).toContain(
      '--region=eu-west-1',
    );
    expect(target({ KOPIA_REPOSITORY: 's3://bkt', AWS_DEFAULT_REGION: 'us-east-2', ...AWS }).args).toContain('--region=us-east-2');
  });

  it('passes CUSTOM_CA as --root-ca-pem-path, and warns that it is unused with TLS off', () => {
    const tls = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'https://h:1', ...AWS }, '/customCA/ca.crt');
    expect(tls.args).toContain('--root-ca-pem-path=/customCA/ca.crt');
    const plain = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'http://h:1', ...AWS }, '/customCA/ca.crt');
    expect(plain.args.some((a) => a.startsWith('--root-ca-pem-path'))).toBe(false);
    expect(plain.warnings.join('\n')).toContain('CUSTOM_CA is not used');
  });

  it('is selected by KOPIA_S3_BUCKET alone', () => {
    const t = target({ KOPIA_S3_BUCKET: 'bkt', ...AWS });
    expect(t.args).toEqual(['s3', '--bucket=bkt', '--endpoint=s3.amazonaws.com']);
  });

  it('uses KOPIA_S3_BUCKET over the URL bucket, keeps the URL prefix, and warns', () => {
    const t = target({ KOPIA_S3_BUCKET: 'from-env', KOPIA_REPOSITORY: 's3://from-url/app/', ...AWS });
    expect(t.args).toEqual(['s3', '--bucket=from-env', '--endpoint=s3.amazonaws.com', '--prefix=app/']);
    expect(t.warnings.join('\n')).toMatch(/both KOPIA_S3_BUCKET and KOPIA_REPOSITORY/);
    const noWarning = target({ KOPIA_S3_BUCKET: 'from-env', ...AWS });
    expect(noWarning.warnings).toEqual([]);
  });

  it.each([
    ['s3://My_Bucket', 'KOPIA_REPOSITORY', /lowercase letters/],
    ['s3://192.168.1.1', 'KOPIA_REPOSITORY', /IP address/],
    ['s3://ab', 'KOPIA_REPOSITORY', /3 to 63/],
    ['s3://a..b', 'KOPIA_REPOSITORY', /adjacent dots/],
    ['s3://-bucket', 'KOPIA_REPOSITORY', /start and end/],
    ['s3://bucket/a/../b', 'KOPIA_REPOSITORY', /"\.\." segments/],
    ['s3://bucket/..', 'KOPIA_REPOSITORY', /"\.\." segments/],
    ['s3://bucket/x?y=1', 'KOPIA_REPOSITORY', /query/],
  ])('rejects %s naming %s', (url, source, message) => {
    const issues = issuesOf({ KOPIA_REPOSITORY: url, ...AWS });
    expect(issues).toEqual([expect.objectContaining({ source, message: expect.stringMatching(message) })]);
  });

  it('rejects a bad KOPIA_S3_BUCKET naming that variable', () => {
    expect(issuesOf({ KOPIA_S3_BUCKET: 'My_Bucket', ...AWS })[0]?.source).toBe('KOPIA_S3_BUCKET');
  });

  it('names the missing bucket and keys', () => {
    const issues = issuesOf({ KOPIA_S3_ENDPOINT: 'h:1' });
    expect(issues.map((i) => i.source).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'KOPIA_S3_BUCKET']);
  });

  it.each([
    ['ftp://h:1', /http:\/\/ or https:\/\//],
    ['http://h:1/some/path', /no path/],
    ['https://user@h', /host\[:port\]/],
  ])('rejects the endpoint %s', (endpoint, message) => {
    const issues = issuesOf({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: endpoint, ...AWS });
    expect(issues).toEqual([{ source: 'KOPIA_S3_ENDPOINT', message: expect.stringMatching(message) }]);
  });

  it('rejects a TLS variable that is not a boolean', () => {
    const issues = issuesOf({ KOPIA_REPOSITORY: 's3://bkt', AWS_S3_DISABLE_TLS: 'maybe', ...AWS });
    expect(issues).toEqual([{ source: 'AWS_S3_DISABLE_TLS', message: 'must be true or false' }]);
  });

  it('reuses a kopia.config only for the same bucket, prefix, endpoint and TLS setting', () => {
    const t = target({ KOPIA_REPOSITORY: 's3://bkt/a//b', KOPIA_S3_ENDPOINT: 'http://127.0.0.1:9000', ...AWS });
    // The storage section as kopia 0.22.3 writes it, after the secrets were scrubbed.
    const saved = {
      type: 's3',
      config: {
        bucket: 'bkt',
        prefix: 'a/b/',
        endpoint: '127.0.0.1:9000',
        doNotUseTLS: true,
        accessKeyID: 'AKIAEXAMPLE',
        roleARN: '',
        sessionName: '',
        duration: '0s',
      },
    };
    expect(t.matchesStorage(saved)).toBe(true);
    for (const change of [{ bucket: 'other' }, { prefix: 'a/' }, { prefix: undefined }, { endpoint: '127.0.0.1:9001' }, { doNotUseTLS: false }]) {
      expect(t.matchesStorage({ ...saved, config: { ...saved.config, ...change } })).toBe(false);
    }
    expect(t.matchesStorage({ type: 'filesystem', config: { path: '/x' } })).toBe(false);
  });
});

describe('SFTP', () => {
  const BASE = { SFTP_HOST: 'sftp.example.com', SFTP_USERNAME: 'backup', SFTP_PATH: '/srv/repo' };

  it('logs in with a key file and a known_hosts file, all in argv since none is a secret', () => {
    const t = target({ ...BASE, SFTP_PORT: '2222', SFTP_KEY_FILE: '/keys/id_ed25519', SFTP_KNOWN_HOSTS: '/keys/known_hosts' });
    expect(t.args).toEqual([
      'sftp',
      '--path=/srv/repo',
      '--host=sftp.example.com',
      '--port=2222',
      '--username=backup',
      '--keyfile=/keys/id_ed25519',
      '--known-hosts=/keys/known_hosts',
    ]);
    expect(t.env).toEqual({});
    expect(t.secretConfigKeys ?? []).toEqual([]);
  });

  it('passes inline known_hosts data and defaults the port to 22', () => {
    const t = target({ ...BASE, SFTP_KEY_FILE: '/k', SFTP_KNOWN_HOSTS_DATA: 'sftp.example.com ssh-ed25519 AAAA' });
    expect(t.args).toContain('--port=22');
    expect(t.args).toContain('--known-hosts-data=sftp.example.com ssh-ed25519 AAAA');
  });

  it('sends a password in a 0600 connection-token file via from-config, never argv', () => {
    const env = { ...BASE, SFTP_PORT: '2022', SFTP_PASSWORD: 'sftp-Pass-word-1', SFTP_KNOWN_HOSTS: '/k/known_hosts' };
    const t = target(env);
    expect(t.args).toEqual(['from-config']);
    expect(t.secretFiles.map((f) => f.flag)).toEqual(['--token-file']);
    expect(t.secretConfigKeys).toEqual(['password']);
    expect(decodeToken(t)).toEqual({
      version: '1',
      storage: {
        type: 'sftp',
        config: {
          host: 'sftp.example.com',
          port: 2022,
          username: 'backup',
          path: '/srv/repo',
          password: 'sftp-Pass-word-1',
          knownHostsFile: '/k/known_hosts',
        },
      },
    });
    expectNoSecretIn(env, ['sftp-Pass-word-1']);
  });

  it('prefers the key file when both key and password are set, with a warning', () => {
    const t = target({ ...BASE, SFTP_KEY_FILE: '/k', SFTP_PASSWORD: 'pw-pw-pw', SFTP_KNOWN_HOSTS: '/kh' });
    expect(t.args[0]).toBe('sftp');
    expect(t.warnings.join('\n')).toContain('the password is not used');
  });

  it('warns when known_hosts data cannot match a non-22 port', () => {
    const t = target({ ...BASE, SFTP_PORT: '2222', SFTP_KEY_FILE: '/k', SFTP_KNOWN_HOSTS_DATA: 'sftp.example.com ssh-ed25519 AAAA' });
    expect(t.warnings.join('\n')).toContain('[sftp.example.com]:2222');
  });

  it('names each missing or invalid variable', () => {
    expect(issuesOf({ SFTP_HOST: 'h' }).map((i) => i.source).sort()).toEqual([
      'SFTP_KEY_FILE',
      'SFTP_KNOWN_HOSTS',
      'SFTP_PATH',
      'SFTP_USERNAME',
    ]);
    const ok = { ...BASE, SFTP_KEY_FILE: '/k', SFTP_KNOWN_HOSTS: '/kh' };
    expect(issuesOf({ ...ok, SFTP_PORT: '70000' })).toEqual([{ source: 'SFTP_PORT', message: expect.any(String) }]);
    expect(issuesOf({ ...ok, SFTP_PORT: 'ssh' })[0]?.source).toBe('SFTP_PORT');
    expect(issuesOf({ ...ok, SFTP_PATH: '/srv/../etc' })[0]?.source).toBe('SFTP_PATH');
    expect(issuesOf({ ...ok, SFTP_KEY_FILE: 'relative/key' })[0]?.source).toBe('SFTP_KEY_FILE');
    expect(issuesOf({ ...ok, SFTP_HOST: 'user@host' })[0]?.source).toBe('SFTP_HOST');
  });

  it('matches kopia.config by host, port, user, path, key and host keys', () => {
    const t = target({ ...BASE, SFTP_KEY_FILE: '/k', SFTP_KNOWN_HOSTS: '/kh' });
    const saved = {
      type: 'sftp',
      config: { path: '/srv/repo', host: 'sftp.example.com', port: 22, username: 'backup', keyfile: '/k', knownHostsFile: '/kh', externalSSH: false, dirShards: null },
    };
    expect(t.matchesStorage(saved)).toBe(true);
    for (const change of [{ port: 2222 }, { path: '/srv/other' }, { username: 'x' }, { host: 'h2' }, { keyfile: '/k2' }]) {
      expect(t.matchesStorage({ ...saved, config: { ...saved.config, ...change } })).toBe(false);
    }
  });
});

describe('WebDAV', () => {
  it('passes the URL in argv and the credentials as KOPIA_WEBDAV_*', () => {
    const env = { WEBDAV_URL: 'https://dav.example.com/backups/', WEBDAV_USERNAME: 'u', WEBDAV_PASSWORD: 'dav-Secret-1' };
    const t = target(env);
    expect(t.args).toEqual(['webdav', '--url=https://dav.example.com/backups/']);
    expect(revealed(t)).toEqual({ KOPIA_WEBDAV_USERNAME: 'u', KOPIA_WEBDAV_PASSWORD: 'dav-Secret-1' });
    expect(t.env['KOPIA_WEBDAV_PASSWORD']).toBeInstanceOf(Secret);
    expect(t.secretConfigKeys).toEqual(['password']);
    expect(t.matchesStorage({ type: 'webdav', config: { url: 'https://dav.example.com/backups/', username: 'u', atomicWrites: false } })).toBe(true);
    expect(t.matchesStorage({ type: 'webdav', config: { url: 'https://dav.example.com/other/', username: 'u' } })).toBe(false);
  });

  it('rejects credentials inside the URL without repeating them', () => {
    const env = { WEBDAV_URL: 'https://u:dav-In-Url-Secret@dav.example.com/' };
    expect(issuesOf(env)).toEqual([{ source: 'WEBDAV_URL', message: expect.stringContaining('must not carry credentials') }]);
    expectNoSecretIn(env, ['dav-In-Url-Secret']);
  });

  it('needs a password with a username, and an http(s) URL', () => {
    expect(issuesOf({ WEBDAV_URL: 'http://h/', WEBDAV_USERNAME: 'u' })).toEqual([
      { source: 'WEBDAV_PASSWORD', message: 'is required when WEBDAV_USERNAME is set' },
    ]);
    expect(issuesOf({ WEBDAV_URL: 'ftp://h/' })[0]?.source).toBe('WEBDAV_URL');
  });

  it('keeps nothing to scrub without a password', () => {
    expect(target({ WEBDAV_URL: 'http://h/' }).secretConfigKeys).toEqual([]);
  });
});

describe('rclone', () => {
  it('passes the remote path and executable in argv and RCLONE_CONFIG in the environment', () => {
    const t = target({ RCLONE_REMOTE_PATH: 'remote:bucket/repo', RCLONE_EXE: '/usr/bin/rclone', RCLONE_CONFIG: '/config/rclone.conf' });
    expect(t.args).toEqual(['rclone', '--remote-path=remote:bucket/repo', '--rclone-exe=/usr/bin/rclone']);
    expect(t.env).toEqual({ RCLONE_CONFIG: '/config/rclone.conf' });
    expect(t.matchesStorage({ type: 'rclone', config: { remotePath: 'remote:bucket/repo', rcloneExe: '/usr/bin/rclone' } })).toBe(true);
    expect(t.matchesStorage({ type: 'rclone', config: { remotePath: 'remote:other', rcloneExe: '/usr/bin/rclone' } })).toBe(false);
  });

  it('RCLONE_CONFIG reaches the kopia child, and the policy mount variable does not', () => {
    const env = {
      DIRECTION: 'source',
      DATA_DIR: '/data',
      KOPIA_PASSWORD: 'repo-pass',
      KOPIA_CONFIG_PATH: '/kopia-config',
      RCLONE_REMOTE_PATH: 'remote:repo',
      RCLONE_CONFIG: '/config/rclone.conf',
    };
    const config = parseConfig(env, { system: SYSTEM, readMounts: false });
    const child = kopiaEnvironment(config, { ...env, PATH: '/usr/bin' });
    expect(child['RCLONE_CONFIG']).toBe('/config/rclone.conf');
    expect(child['KOPIA_CONFIG_PATH']).toBeUndefined();
  });

  it('rejects a remote path without a remote name', () => {
    expect(issuesOf({ RCLONE_REMOTE_PATH: '/just/a/path' })[0]?.source).toBe('RCLONE_REMOTE_PATH');
    expect(issuesOf({ RCLONE_REMOTE_PATH: 'r:x', RCLONE_CONFIG: 'relative.conf' })[0]?.source).toBe('RCLONE_CONFIG');
  });
});

describe('Azure (tested by plan: no server here)', () => {
  it('takes container and prefix from azure://, the account and key in the environment kopia reads', () => {
    const env = { KOPIA_REPOSITORY: 'azure://backups/app//one', AZURE_ACCOUNT_NAME: 'myaccount', AZURE_ACCOUNT_KEY: 'azure-Key-Value==' };
    const t = target(env);
    expect(t.args).toEqual(['azure', '--container=backups', '--prefix=app/one/']);
    expect(revealed(t)).toEqual({ AZURE_STORAGE_ACCOUNT: 'myaccount', AZURE_STORAGE_KEY: 'azure-Key-Value==' });
    expect(t.env['AZURE_STORAGE_KEY']).toBeInstanceOf(Secret);
    expect(t.secretConfigKeys).toEqual(['storageKey']);
    expectNoSecretIn(env, ['azure-Key-Value==']);
    expect(t.matchesStorage({ type: 'azure', config: { container: 'backups', prefix: 'app/one/', storageAccount: 'myaccount' } })).toBe(true);
    expect(t.matchesStorage({ type: 'azure', config: { container: 'backups', prefix: 'app/', storageAccount: 'myaccount' } })).toBe(false);
  });

  it('reads the variables in order and prefers a SAS token over a key', () => {
    const t = target({
      KOPIA_AZURE_CONTAINER: 'box',
      KOPIA_AZURE_STORAGE_ACCOUNT: 'first',
      AZURE_STORAGE_ACCOUNT: 'second',
      KOPIA_AZURE_STORAGE_KEY: 'key-one',
      AZURE_ACCOUNT_SAS: 'sv=2024&sig=abc',
    });
    expect(t.args).toEqual(['azure', '--container=box']);
    expect(revealed(t)).toEqual({ AZURE_STORAGE_ACCOUNT: 'first', AZURE_STORAGE_SAS_TOKEN: 'sv=2024&sig=abc' });
    expect(t.secretConfigKeys).toEqual(['sasToken']);
    expect(t.warnings.join('\n')).toContain('using the SAS token');
  });

  it('turns AZURE_ENDPOINT_SUFFIX into kopia --storage-domain', () => {
    const base = { KOPIA_AZURE_CONTAINER: 'box', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: 'k' };
    expect(target({ ...base, AZURE_ENDPOINT_SUFFIX: 'core.chinacloudapi.cn' }).args).toContain('--storage-domain=blob.core.chinacloudapi.cn');
    expect(target({ ...base, AZURE_ENDPOINT_SUFFIX: 'blob.core.usgovcloudapi.net' }).args).toContain(
      '--storage-domain=blob.core.usgovcloudapi.net',
    );
  });

  it('names the missing account and credentials, and a bad container', () => {
    expect(issuesOf({ KOPIA_REPOSITORY: 'azure://box' }).map((i) => i.source).sort()).toEqual(['AZURE_STORAGE_KEY', 'KOPIA_AZURE_STORAGE_ACCOUNT']);
    expect(issuesOf({ KOPIA_REPOSITORY: 'azure://Bad_Box', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: 'k' })[0]?.source).toBe(
      'KOPIA_REPOSITORY',
    );
  });
});

describe('GCS (tested by plan: no server here)', () => {
  const json = '{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----gcs-secret"}';

  it('writes credentials given as JSON content to a temp file for --credentials-file', () => {
    const env = { KOPIA_REPOSITORY: 'gcs://my-bucket/x//y', GOOGLE_APPLICATION_CREDENTIALS: json };
    const t = target(env);
    expect(t.args).toEqual(['gcs', '--bucket=my-bucket', '--prefix=x/y/']);
    expect(t.secretFiles).toHaveLength(1);
    expect(t.secretFiles[0]!.flag).toBe('--credentials-file');
    expect(t.secretFiles[0]!.content.reveal()).toBe(json);
    // The temp path kopia stores goes stale when the run ends.
    expect(t.secretConfigKeys).toEqual(['credentialsFile']);
    expect(t.env).toEqual({});
    expectNoSecretIn(env, [json, 'gcs-secret']);
  });

  it('uses an absolute path as is', () => {
    const t = target({ KOPIA_GCS_BUCKET: 'my-bucket', GOOGLE_APPLICATION_CREDENTIALS: '/credentials/gcs.json' });
    expect(t.args).toEqual(['gcs', '--bucket=my-bucket', '--credentials-file=/credentials/gcs.json']);
    expect(t.secretFiles).toEqual([]);
    expect(t.secretConfigKeys).toEqual([]);
    expect(t.matchesStorage({ type: 'gcs', config: { bucket: 'my-bucket', credentialsFile: '/credentials/gcs.json' } })).toBe(true);
    expect(t.matchesStorage({ type: 'gcs', config: { bucket: 'my-bucket', credentialsFile: '/other.json' } })).toBe(false);
  });

  it('is selected by GCS_BUCKET and warns without credentials', () => {
    const t = target({ GCS_BUCKET: 'my_bucket' });
    expect(t.args).toEqual(['gcs', '--bucket=my_bucket']);
    expect(t.warnings.join('\n')).toContain('GOOGLE_APPLICATION_CREDENTIALS is not set');
  });

  it('rejects broken JSON without quoting it, and a relative path', () => {
    const env = { KOPIA_REPOSITORY: 'gcs://bkt', GOOGLE_APPLICATION_CREDENTIALS: '{"private_key": "gcs-broken-secret"' };
    expect(issuesOf(env)).toEqual([{ source: 'GOOGLE_APPLICATION_CREDENTIALS', message: expect.stringContaining('not a valid JSON object') }]);
    expectNoSecretIn(env, ['gcs-broken-secret']);
    expect(issuesOf({ KOPIA_REPOSITORY: 'gcs://bkt', GOOGLE_APPLICATION_CREDENTIALS: 'creds.json' })[0]?.source).toBe(
      'GOOGLE_APPLICATION_CREDENTIALS',
    );
  });
});

describe('B2 (tested by plan: no server here)', () => {
  it('maps B2_ACCOUNT_ID and B2_APPLICATION_KEY to the B2_KEY_ID and B2_KEY kopia reads', () => {
    const env = { KOPIA_REPOSITORY: 'b2://my-bucket/app', B2_ACCOUNT_ID: '0012345', B2_APPLICATION_KEY: 'K001-b2-secret' };
    const t = target(env);
    expect(t.args).toEqual(['b2', '--bucket=my-bucket', '--prefix=app/']);
    expect(revealed(t)).toEqual({ B2_KEY_ID: '0012345', B2_KEY: 'K001-b2-secret' });
    expect(t.env['B2_KEY']).toBeInstanceOf(Secret);
    expect(t.secretConfigKeys).toEqual(['key']);
    expectNoSecretIn(env, ['K001-b2-secret']);
  });

  it('names missing keys and bad bucket names', () => {
    expect(issuesOf({ KOPIA_B2_BUCKET: 'my-bucket' }).map((i) => i.source).sort()).toEqual(['B2_ACCOUNT_ID', 'B2_APPLICATION_KEY']);
    expect(issuesOf({ KOPIA_REPOSITORY: 'b2://short', B2_ACCOUNT_ID: 'a', B2_APPLICATION_KEY: 'b' })[0]?.source).toBe('KOPIA_REPOSITORY');
  });
});

describe('Google Drive (tested by plan: no server here)', () => {
  it('passes the folder id and writes JSON credentials to a temp file', () => {
    const json = '{"type":"service_account","private_key":"drive-secret"}';
    const t = target({ GOOGLE_DRIVE_FOLDER_ID: '1AbC-dEf_9', GOOGLE_DRIVE_CREDENTIALS: json });
    expect(t.args).toEqual(['gdrive', '--folder-id=1AbC-dEf_9']);
    expect(t.secretFiles.map((f) => [f.flag, f.content.reveal()])).toEqual([['--credentials-file', json]]);
    expect(t.secretConfigKeys).toEqual(['credentialsFile']);
    expect(t.matchesStorage({ type: 'gdrive', config: { folderID: '1AbC-dEf_9' } })).toBe(true);
  });

  it('uses a credentials path as is and rejects a bad folder id', () => {
    const t = target({ GOOGLE_DRIVE_FOLDER_ID: 'abc', GOOGLE_DRIVE_CREDENTIALS: '/creds/drive.json' });
    expect(t.args).toEqual(['gdrive', '--folder-id=abc', '--credentials-file=/creds/drive.json']);
    expect(issuesOf({ GOOGLE_DRIVE_FOLDER_ID: 'a/b' })[0]?.source).toBe('GOOGLE_DRIVE_FOLDER_ID');
  });
});

describe('backend selection', () => {
  it('rejects two configured backends with no URL, naming both', () => {
    const issues = issuesOf({ KOPIA_S3_BUCKET: 'bkt', SFTP_HOST: 'h', ...AWS });
    expect(issues).toEqual([{ source: 'KOPIA_REPOSITORY', message: expect.stringMatching(/s3 \(KOPIA_S3_BUCKET\) and sftp \(SFTP_HOST\)/) }]);
  });

  it('lets the URL scheme decide when other backends are configured too', () => {
    expect(target({ KOPIA_REPOSITORY: 's3://bkt', SFTP_HOST: 'h', WEBDAV_URL: 'http://h/', ...AWS }).backend).toBe('s3');
  });

  it.each([
    ['s3://bkt', 's3'],
    ['azure://box', 'azure'],
    ['gcs://bkt', 'gcs'],
    ['b2://my-bucket', 'b2'],
    ['filesystem:///repo', 'filesystem'],
  ])('%s selects %s', (url, backend) => {
    const everyCredential = { ...AWS, AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: 'k', B2_ACCOUNT_ID: 'id', B2_APPLICATION_KEY: 'k' };
    expect(target({ KOPIA_REPOSITORY: url, ...everyCredential }).backend).toBe(backend);
  });

  it('rejects filesystem://relative/path', () => {
    expect(issuesOf({ KOPIA_REPOSITORY: 'filesystem://relative/path' })).toEqual([
      { source: 'KOPIA_REPOSITORY', message: expect.stringContaining('absolute') },
    ]);
  });
});

describe('variables as schemas', () => {
  it.each([
    ['yes', true],
    ['on', true],
    ['1', true],
    ['no', false],
    ['off', false],
    ['0', false],
  ])('reads a TLS variable of %s in the one boolean vocabulary', (value, off) => {
    const t = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'h:1', AWS_S3_DISABLE_TLS: value, ...AWS });
    expect(t.args.includes('--disable-tls')).toBe(off);
  });

  it('reads only the first of alternate names: a later one is not even checked', () => {
    const s3 = target({ KOPIA_REPOSITORY: 's3://bkt', KOPIA_S3_ENDPOINT: 'h:1', AWS_S3_ENDPOINT: 'ftp://x', KOPIA_S3_DISABLE_TLS: 'no', AWS_S3_DISABLE_TLS: 'maybe', ...AWS });
    expect(s3.args).toEqual(['s3', '--bucket=bkt', '--endpoint=h:1']);
    const azure = target({ KOPIA_AZURE_CONTAINER: 'box', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_ACCOUNT_NAME: 'Not Valid', AZURE_STORAGE_KEY: 'k' });
    expect(revealed(azure)['AZURE_STORAGE_ACCOUNT']).toBe('acct');
  });

  it('reports every problem in one run: own checks, missing values and rules between variables', () => {
    const issues = issuesOf({ KOPIA_S3_ENDPOINT: 'h:1', AWS_S3_DISABLE_TLS: 'maybe', AWS_REGION: 'no region' });
    expect(issues.map((i) => i.source).sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_REGION', 'AWS_S3_DISABLE_TLS', 'AWS_SECRET_ACCESS_KEY', 'KOPIA_S3_BUCKET']);
    const sftp = issuesOf({ SFTP_HOST: 'h', SFTP_PORT: '0', SFTP_PATH: '/srv/../x' });
    expect(sftp.map((i) => i.source).sort()).toEqual(['SFTP_KEY_FILE', 'SFTP_KNOWN_HOSTS', 'SFTP_PATH', 'SFTP_PORT', 'SFTP_USERNAME']);
  });

  it('gives one reason per variable, the first', () => {
    const issues = issuesOf({ SFTP_HOST: 'h', SFTP_USERNAME: 'u', SFTP_PATH: '/p', SFTP_KEY_FILE: 'key\u0007', SFTP_KNOWN_HOSTS: '/kh' });
    expect(issues).toEqual([{ source: 'SFTP_KEY_FILE', message: 'must not contain control characters' }]);
  });

  it('counts C1 control characters as control characters', () => {
    const issues = issuesOf({ WEBDAV_URL: 'http://h/', WEBDAV_USERNAME: 'u\u0085x', WEBDAV_PASSWORD: 'p' });
    expect(issues).toEqual([{ source: 'WEBDAV_USERNAME', message: 'must not contain control characters' }]);
  });

  it('checks a bucket taken from the URL only when no bucket variable replaces it', () => {
    const t = target({ KOPIA_S3_BUCKET: 'good-bucket', KOPIA_REPOSITORY: 's3://Bad_Bucket/app', ...AWS });
    expect(t.args).toContain('--bucket=good-bucket');
    expect(t.warnings.join('\n')).toContain('KOPIA_REPOSITORY says "Bad_Bucket"');
    expect(issuesOf({ KOPIA_REPOSITORY: 's3:///app', ...AWS })).toEqual([
      { source: 'KOPIA_S3_BUCKET', message: 'is required: the bucket name (or give it in KOPIA_REPOSITORY)' },
    ]);
  });
});

describe('unknown-variable warnings and the backends', () => {
  /** A backend's variable names: the keys of its schema's object (inside the preprocessing pipe). */
  function variableNames(definition: (typeof backends)[number]): string[] {
    const schema = definition.variables() as unknown as { def: { out: { shape: Record<string, unknown> } } };
    return Object.keys(schema.def.out.shape);
  }

  it('no variable a backend reads is reported as one nobody reads', () => {
    const names = backends.flatMap(variableNames);
    expect(names.length).toBeGreaterThan(40);
    const env = Object.fromEntries(names.map((name) => [name, 'x']));
    expect(unknownVariableWarnings(env, configVariableNames()).map((w) => w.source)).toEqual([]);
  });
});
