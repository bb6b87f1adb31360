// Azure Blob Storage (Azurite) and Google Cloud Storage (fake-gcs-server) with the real kopia,
// through the program: every run's output and kopia argv are scanned for the secrets by runMover,
// and the cache volume and TMPDIR of every run are searched for them here.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesHoldingSecrets, runMover, summaryValue, tempDir, type Env, type MoverOptions, type MoverResult } from '../support/mover.js';
import { startConnectProxy, type ConnectProxy } from '../support/proxy.js';
import { GCS_HOST, startAzurite, startFakeGcs, type AzuriteServer, type FakeGcsServer } from '../support/servers.js';

const SLOW = 300_000;

let az: AzuriteServer;
let gcs: FakeGcsServer;
/** Sends CONNECT storage.googleapis.com:443 to fake-gcs-server's https port. */
let proxy: ConnectProxy;
let work: string;
/** Runs the program in a mount namespace whose /etc/hosts maps the account's host to 127.0.0.1. */
let inAzureNamespace: string[];

beforeAll(async () => {
  [az, gcs] = await Promise.all([startAzurite(), startFakeGcs()]);
  proxy = await startConnectProxy({ hosts: { [GCS_HOST]: gcs.tlsAddress } });
  await Promise.all([az.createContainer('km-key'), az.createContainer('km-sas'), gcs.createBucket('km-gcs')]);
  work = tempDir('km-azgcs-');
  const hosts = join(work, 'hosts');
  writeFileSync(hosts, `${readFileSync('/etc/hosts', 'utf8')}\n127.0.0.1 ${az.host}\n`);
  inAzureNamespace = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" /etc/hosts && shift && exec "$@"', 'sh', hosts];
}, SLOW);

afterAll(async () => {
  await Promise.allSettled([az?.stop(), gcs?.stop(), proxy?.stop()]);
});

function makeData(dir: string): void {
  mkdirSync(join(dir, 'nested', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'hello.txt'), 'hello from a cloud repository\n');
  writeFileSync(join(dir, 'nested', 'deeper', 'random.bin'), randomBytes(512 * 1024));
  writeFileSync(join(dir, 'nested', 'empty'), '');
}

/** Relative path -> sha256 of each file, and 'dir' for each folder. */
function treeOf(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(root, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(root, name);
    out[relative(root, path)] = statSync(path).isDirectory() ? 'dir' : createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return out;
}

/** `repository create`, `maintenance set`, ... of each kopia process of a run. */
function verbs(result: MoverResult): string[] {
  return result.kopiaCalls.map((argv) => argv.slice(0, 2).join(' '));
}

/** Neither the cache volume nor the run's TMPDIR holds any form of any secret. */
function expectNoSecretFiles(result: MoverResult, cache: string, secrets: string[]): void {
  expect(filesHoldingSecrets(cache, secrets)).toEqual([]);
  expect(filesHoldingSecrets(result.tmpDir, secrets)).toEqual([]);
}

interface RoundTrip {
  label: string;
  backend: 'azure' | 'gcs';
  env: Env;
  /** Secret values besides the repository password, in every form that must not show up. */
  secrets: string[];
  /** What each run adds: the Azure namespace, or the proxy and CA for GCS. */
  options: () => { env: Env; mover: MoverOptions };
}

/**
 * First backup creates the repository, a second one backs up again, a restore on a fresh cache
 * gives the same bytes, and maintenance runs as the owner the first backup named.
 */
async function roundTrip({ label, backend, env, secrets, options }: RoundTrip): Promise<MoverResult> {
  const root = tempDir(`km-${label}-`);
  const data = join(root, 'data');
  makeData(data);
  const password = `pw-${label}-${randomBytes(6).toString('hex')}`;
  const all = [password, ...secrets];
  const run = async (op: string, cache: string, extra: Env = {}) => {
    const how = options();
    const result = await runMover([op], {
      KOPIA_PASSWORD: password,
      KOPIA_OVERRIDE_USERNAME: label,
      KOPIA_OVERRIDE_HOSTNAME: 'ns1',
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_CACHE_DIR: cache,
      ...env,
      ...how.env,
      ...extra,
    }, how.mover);
    expect(result.exitCode, `${op}: ${result.stdout}`).toBe(0);
    expectNoSecretFiles(result, cache, all);
    return result;
  };

  const cache = join(root, 'cache');
  const first = await run('backup', cache, { DATA_DIR: data });
  const create = first.kopiaCalls.find((argv) => argv[1] === 'create');
  expect(create?.[2]).toBe(backend);
  expect(first.kopiaCalls).toContainEqual(expect.arrayContaining(['maintenance', 'set', '--owner=maintenance@volsync']));

  writeFileSync(join(data, 'second.txt'), 'added before the second backup\n');
  const second = await run('backup', cache, { DATA_DIR: data });
  expect(verbs(second)).not.toContain('repository create');
  expect(summaryValue(second, 'SNAPSHOT_ID')).toMatch(/^k?[0-9a-f]{32,}$/);
  expect(summaryValue(second, 'SNAPSHOT_ID')).not.toBe(summaryValue(first, 'SNAPSHOT_ID'));

  const restored = join(root, 'restored');
  mkdirSync(restored);
  const restore = await run('restore', join(root, 'restore-cache'), { DATA_DIR: restored });
  expect(verbs(restore)).toContain('repository connect');
  expect(verbs(restore)).not.toContain('repository create');
  expect(treeOf(restored)).toEqual(treeOf(data));

  const maintenanceCache = join(root, 'maintenance-cache');
  const maintenance = await run('maintenance', maintenanceCache);
  expect(maintenance.plainLines).toContain('MAINTENANCE_STATUS: SUCCESS');
  expect(verbs(maintenance)).not.toContain('maintenance set');
  expect(verbs(maintenance)).not.toContain('repository create');
  // The owner is recorded in the repository: the next run finds itself the owner too.
  const again = await run('maintenance', maintenanceCache);
  expect(again.plainLines).toContain('MAINTENANCE_STATUS: SUCCESS');
  expect(verbs(again)).toContain('maintenance info');
  expect(verbs(again)).not.toContain('maintenance set');
  return first;
}

/**
 * The token and its telling values (signature, expiry, permissions), raw and as sent: the SAS
 * scan of the safety tests. The version and "https" are public words, not parts of a secret.
 */
function sasForms(token: string): string[] {
  const params = new URLSearchParams(token);
  const values = ['sig', 'se', 'sp'].map((name) => params.get(name) ?? '');
  expect(values.every((v) => v.length >= 4)).toBe(true);
  return [token, ...values, ...values.map((v) => encodeURIComponent(v))];
}

const azureRun = () => ({ env: {}, mover: { wrap: inAzureNamespace } });

function azureEnv(container: string, credentials: Env): Env {
  return {
    KOPIA_REPOSITORY: `azure://${container}/app`,
    AZURE_STORAGE_ACCOUNT: az.account,
    AZURE_ENDPOINT_SUFFIX: az.endpointSuffix,
    CUSTOM_CA: az.caFile,
    ...credentials,
  };
}

describe('Azure Blob Storage (Azurite, https with a private CA)', () => {
  it(
    'account key: create, backup again, restore byte for byte, maintenance as the owner; blobs under app/',
    async () => {
      await roundTrip({
        label: 'azkey',
        backend: 'azure',
        env: azureEnv('km-key', { AZURE_STORAGE_KEY: az.key }),
        secrets: [az.key],
        options: azureRun,
      });
      const blobs = await az.listBlobs('km-key');
      expect(blobs).toContain('app/kopia.repository');
      expect(blobs.every((name) => name.startsWith('app/'))).toBe(true);
      expect(blobs.some((name) => name.startsWith('app/p'))).toBe(true);
    },
    SLOW,
  );

  it(
    'SAS token as the portal shows it (leading "?"): the same round trip, and no fragment of the token anywhere',
    async () => {
      const sas = az.sasToken();
      await roundTrip({
        label: 'azsas',
        backend: 'azure',
        env: azureEnv('km-sas', { AZURE_STORAGE_SAS_TOKEN: `?${sas}` }),
        secrets: [...sasForms(sas), az.key],
        options: azureRun,
      });
      expect(await az.listBlobs('km-sas')).toContain('app/kopia.repository');
    },
    SLOW,
  );

  it.each([
    ['a wrong account key', () => ({ AZURE_STORAGE_KEY: randomBytes(32).toString('base64') })],
    ['a SAS token signed with another key', () => ({ AZURE_STORAGE_SAS_TOKEN: otherKeySas() })],
  ])('%s: exit 3, AccessDenied, no create attempted, the credential nowhere', async (_name, credentials) => {
    const given = credentials();
    const wrong = Object.values(given)[0]!;
    const { result, cache } = await azureOnce('backup', 'azwrong', { ...azureEnv('km-key', given), KOPIA_REPOSITORY: 'azure://km-key/wrong' });
    expect(result.exitCode, result.stdout).toBe(3);
    expect(summaryValue(result, 'FAILURE_CLASS')).toMatch(/^AccessDenied /);
    expect(verbs(result)).toEqual(['repository connect']);
    expectNoSecretFiles(result, cache, 'AZURE_STORAGE_SAS_TOKEN' in given ? sasForms(wrong) : [wrong]);
    expect((await az.listBlobs('km-key')).filter((name) => name.startsWith('wrong/'))).toEqual([]);
  });
});

describe('Azure endpoint options', () => {
  it('without CUSTOM_CA the private CA is not trusted: exit 3, RepositoryUnavailable, no create attempted', async () => {
    const { CUSTOM_CA: _ca, ...env } = azureEnv('km-key', { AZURE_STORAGE_KEY: az.key });
    const { result } = await azureOnce('backup', 'aznoca', { ...env, KOPIA_REPOSITORY: 'azure://km-key/no-ca' });
    expect(result.exitCode, result.stdout).toBe(3);
    expect(summaryValue(result, 'FAILURE_CLASS')).toMatch(/^RepositoryUnavailable /);
    expect(result.stdout).toMatch(/certificate signed by unknown authority/);
    expect(verbs(result)).toEqual(['repository connect']);
  });

  it.each(['azurite.test:0', 'azurite.test:65536', 'azurite.test:port', 'azurite.test:8443/path'])(
    'AZURE_ENDPOINT_SUFFIX=%s: exit 2 naming the variable, before kopia runs',
    async (suffix) => {
      const { result } = await azureOnce('backup', 'azsuffix', { ...azureEnv('km-key', { AZURE_STORAGE_KEY: az.key }), AZURE_ENDPOINT_SUFFIX: suffix });
      expect(result.exitCode, result.stdout).toBe(2);
      expect(result.stdout).toContain('AZURE_ENDPOINT_SUFFIX');
      expect(result.kopiaCalls).toEqual([]);
    },
  );

  it('AZURE_ENDPOINT_SUFFIX of another cloud with a port: the plan gives kopia --storage-domain=blob.SUFFIX:PORT', async () => {
    const { result } = await azureOnce('plan', 'azplan', {
      ...azureEnv('km-key', { AZURE_STORAGE_KEY: az.key }),
      AZURE_ENDPOINT_SUFFIX: 'azs.example.com:8443',
      DIRECTION: 'source',
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.stdout).toContain('--storage-domain=blob.azs.example.com:8443');
    expect(result.kopiaCalls).toEqual([]);
  });
});

/** One run of `op` on fresh folders (DATA_DIR holding the test files, an empty cache), in the Azure namespace. */
async function azureOnce(op: string, label: string, env: Env): Promise<{ result: MoverResult; cache: string }> {
  const root = tempDir(`km-${label}-`);
  makeData(join(root, 'data'));
  const cache = join(root, 'cache');
  const result = await runMover([op], { KOPIA_PASSWORD: `pw-${label}-1`, KOPIA_CACHE_DIR: cache, DATA_DIR: join(root, 'data'), ...env }, { wrap: inAzureNamespace });
  return { result, cache };
}

/** A well-formed account SAS for the right account, signed with a key Azurite does not know. */
function otherKeySas(): string {
  const sig = new URLSearchParams(az.sasToken()).get('sig')!;
  const forged = randomBytes(32).toString('base64');
  expect(forged).not.toBe(sig);
  return az.sasToken().replace(/sig=[^&]*/, `sig=${encodeURIComponent(forged)}`);
}

/** A service account key file, as the console makes it, whose tokens come from `tokenUri`. */
function serviceAccount(tokenUri = 'https://oauth2.googleapis.com/token'): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  return JSON.stringify({
    type: 'service_account',
    project_id: 'km-test',
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey,
    client_email: 'backup@km-test.iam.gserviceaccount.com',
    client_id: '1234567890',
    token_uri: tokenUri,
  });
}

const gcsRun = () => ({ env: { HTTPS_PROXY: proxy.url, CUSTOM_CA: gcs.caFile }, mover: {} });

describe('Google Cloud Storage (fake-gcs-server as storage.googleapis.com, through HTTPS_PROXY)', () => {
  /** The round trip with these credentials under `prefix`; the first backup's --credentials-file. */
  async function gcsRoundTrip(label: string, prefix: string, credentials: string, content: string): Promise<string | undefined> {
    proxy.clear();
    const first = await roundTrip({
      label,
      backend: 'gcs',
      env: { KOPIA_REPOSITORY: `gcs://km-gcs/${prefix}`, GOOGLE_APPLICATION_CREDENTIALS: credentials },
      secrets: [content, JSON.parse(content).private_key as string],
      options: gcsRun,
    });
    // Every storage request went to Google's name, through the proxy: the program sent nothing else.
    expect(new Set(proxy.connects())).toEqual(new Set([`${GCS_HOST}:443`]));
    const objects = await gcs.listObjects('km-gcs', `${prefix}/`);
    expect(objects).toContain(`${prefix}/kopia.repository`);
    expect(objects.some((name) => name.startsWith(`${prefix}/p`))).toBe(true);
    const create = first.kopiaCalls.find((argv) => argv[1] === 'create') ?? [];
    return create.map((arg) => /^--credentials-file=(.+)$/.exec(arg)?.[1]).find((path) => path !== undefined);
  }

  /** Credentials whose key the token endpoint trusts. */
  function trustedCredentials(): string {
    const content = serviceAccount(gcs.tokenUri);
    gcs.trustKey(JSON.parse(content).private_key as string);
    return content;
  }

  it(
    'credentials as a file path: create, backup again, restore byte for byte, maintenance as the owner; kopia reads that file',
    async () => {
      const file = join(tempDir('km-gcs-sa-'), 'service-account.json');
      const content = trustedCredentials();
      writeFileSync(file, content, { mode: 0o600 });
      expect(await gcsRoundTrip('gcsfile', 'by-file', file, content)).toBe(file);
    },
    SLOW,
  );

  it(
    'credentials as JSON content: the same round trip; kopia reads a temp file that is gone after the run',
    async () => {
      const content = trustedCredentials();
      const file = await gcsRoundTrip('gcsjson', 'by-json', content, content);
      expect(file).toMatch(/^\//);
      expect(existsSync(file!)).toBe(false);
    },
    SLOW,
  );

  it('a key the token endpoint does not know: exit 3, AccessDenied, no create attempted, the credentials nowhere', async () => {
    const content = serviceAccount(gcs.tokenUri);
    const root = tempDir('km-gcswrong-');
    makeData(join(root, 'data'));
    const cache = join(root, 'cache');
    const result = await runMover(['backup'], {
      ...gcsRun().env,
      KOPIA_REPOSITORY: 'gcs://km-gcs/wrong',
      GOOGLE_APPLICATION_CREDENTIALS: content,
      KOPIA_PASSWORD: 'pw-gcs-wrong-1',
      KOPIA_CACHE_DIR: cache,
      DATA_DIR: join(root, 'data'),
    });
    expect(result.exitCode, result.stdout).toBe(3);
    expect(summaryValue(result, 'FAILURE_CLASS')).toMatch(/^AccessDenied /);
    expect(result.stdout).toContain('invalid_grant');
    expect(verbs(result)).toEqual(['repository connect']);
    expectNoSecretFiles(result, cache, [content, JSON.parse(content).private_key as string]);
    expect(await gcs.listObjects('km-gcs', 'wrong/')).toEqual([]);
  });
});
