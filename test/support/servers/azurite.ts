/**
 * Azure Blob Storage (Azurite, the npm devDependency `azurite`), over https with a private CA.
 * One storage account with a random key; containers are made and listed over Azurite's own
 * IP-style URLs (https://127.0.0.1:PORT/ACCOUNT/...) with an account SAS signed here.
 *
 * What kopia 0.22.3 did against it:
 *   kopia repository create azure --container=C --storage-account=A --storage-domain=DOMAIN
 *   kopia builds the URL https://A.DOMAIN/ and nothing else: no IP-style path, no http (its
 *   Options.DoNotUseTLS has no flag). So DOMAIN is `blob.azurite.test:PORT`, the test's own
 *   /etc/hosts maps A.blob.azurite.test to 127.0.0.1 (Go resolves no *.localhost name by itself),
 *   Azurite reads the account from the host name (its "production-style" URLs), and kopia
 *   trusts the private CA through SSL_CERT_FILE (kopia's azure backend has no CA flag).
 *   Credentials: AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN in kopia's environment; Azurite
 *   checks both signatures. A wrong key: 403 "AuthenticationFailed" on the first list. The
 *   container must exist. Azurite is started with --skipApiVersionCheck: it refuses an API
 *   version newer than its own, and kopia's Azure SDK may send one.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { LOOPBACK, makeTempDir, pollUntil, removeTempDir, repoRoot, requireBinary, spawnServer, startOnFreePort, type Running } from './common.js';
import { makeTestCa } from './minio.js';

/** The DNS suffix the certificate covers; only the test's own /etc/hosts knows it. */
export const AZURITE_DOMAIN = 'azurite.test';
const SAS_VERSION = '2019-12-12';

export interface AzuriteServer {
  port: number;
  account: string;
  /** The account key (base64), a secret. */
  key: string;
  caFile: string;
  /** The host kopia connects to: ACCOUNT.blob.azurite.test. */
  host: string;
  /** For AZURE_ENDPOINT_SUFFIX: `azurite.test:PORT`. */
  endpointSuffix: string;
  /** An account SAS for blobs, valid for an hour, with these permissions (r, w, d, l, a, c). */
  sasToken(permissions?: string): string;
  createContainer(name: string): Promise<void>;
  /** Every blob name in the container, sorted. */
  listBlobs(container: string): Promise<string[]>;
  stop(): Promise<void>;
}

export function azuritePath(): string {
  return requireBinary('azurite-blob', path.join(repoRoot, 'node_modules/.bin/azurite-blob'));
}

/** An account SAS (signed version 2019-12-12): the string to sign is fixed by the service. */
function accountSas(account: string, key: string, permissions: string): string {
  const expiry = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  const fields = { sv: SAS_VERSION, ss: 'b', srt: 'sco', sp: permissions, se: expiry, spr: 'https' };
  const toSign = [account, fields.sp, fields.ss, fields.srt, '', fields.se, '', fields.spr, fields.sv, ''].join('\n');
  const sig = createHmac('sha256', Buffer.from(key, 'base64')).update(toSign, 'utf8').digest('base64');
  return new URLSearchParams({ ...fields, sig }).toString();
}

function request(port: number, ca: Buffer, method: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: LOOPBACK, port, method, path: urlPath, ca, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath.split('?')[0]} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export async function startAzurite(): Promise<AzuriteServer> {
  const exe = azuritePath();
  const dir = makeTempDir('azurite');
  const account = 'kmacct';
  const key = randomBytes(32).toString('base64');
  const host = `${account}.blob.${AZURITE_DOMAIN}`;
  const tls = makeTestCa(dir, [host]);
  const ca = readFileSync(tls.caFile);
  // AZURITE_ACCOUNTS replaces the well-known development account, whose key is public.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, AZURITE_ACCOUNTS: `${account}:${key}` };
  let started: Running | undefined;
  try {
    const { port, running } = await startOnFreePort(async (port) => {
      const args = [
        '--blobHost', LOOPBACK, '--blobPort', String(port), '--cert', tls.certFile, '--key', tls.keyFile,
        '--location', path.join(dir, 'data'), '--disableTelemetry', '--skipApiVersionCheck', '--silent',
      ];
      return { port, running: await spawnServer('azurite', exe, args, port, env) };
    });
    started = running;
    const sas = (permissions = 'rwdlac') => accountSas(account, key, permissions);
    const call = async (method: string, what: string, query: string) => {
      const answer = await request(port, ca, method, `/${account}/${what}?${query}&${sas()}`);
      if (answer.status >= 300) throw new Error(`azurite ${method} /${what}: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
      return answer.body;
    };
    await pollUntil(`azurite on port ${port} never answered a signed list`, async () => {
      await call('GET', '', 'comp=list');
      return true;
    });
    let stopped: Promise<void> | undefined;
    return {
      port,
      account,
      key,
      caFile: tls.caFile,
      host,
      endpointSuffix: `${AZURITE_DOMAIN}:${port}`,
      sasToken: sas,
      createContainer: async (name) => {
        await call('PUT', name, 'restype=container');
      },
      listBlobs: async (container) => {
        const names: string[] = [];
        let marker = '';
        do {
          const body = await call('GET', container, `restype=container&comp=list${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`);
          for (const m of body.matchAll(/<Name>([^<]*)<\/Name>/g)) names.push(m[1]!);
          marker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(body)?.[1] ?? '';
        } while (marker !== '');
        return names.sort();
      },
      stop: () => (stopped ??= running.stop().then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await started?.stop();
    await removeTempDir(dir);
    throw err;
  }
}
