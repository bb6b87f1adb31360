/**
 * Google Cloud Storage (fake-gcs-server, tools/bin/fake-gcs-server), data in memory, standing in
 * for storage.googleapis.com: https with a certificate for that name from a private CA, plus http
 * on a second port for this module's own JSON API calls (making and listing buckets).
 *
 * What kopia 0.22.3 did against it:
 *   kopia repository create gcs --bucket=B [--prefix=P] --credentials-file=F
 *   kopia has no endpoint flag: it always goes to https://storage.googleapis.com, with a token it
 *   gets from the token_uri of the credentials (a JWT signed with their key, exchanged for an
 *   access token). So kopia reaches this server through HTTPS_PROXY (a CONNECT proxy sends
 *   storage.googleapis.com:443 to the https port) and trusts the CA through SSL_CERT_FILE; the
 *   token endpoint here, on 127.0.0.1 (Go never proxies a loopback address), checks each JWT's
 *   signature against the keys the test trusts and refuses any other with "invalid_grant", as
 *   Google does. fake-gcs-server itself checks no token.
 *   Not used: STORAGE_EMULATOR_HOST, which kopia's Go client (cloud.google.com/go/storage
 *   v1.57.2) honours: with it set the client turns authentication off, sends no token and never
 *   even reads the credentials file, so a wrong credential would pass.
 *   The bucket must exist.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { freePort, LOOPBACK, makeTempDir, pollUntil, removeTempDir, repoRoot, requireBinary, spawnServer, startOnFreePort } from './common.js';
import { makeTestCa } from './minio.js';

/** The name kopia's Go client sends every request to when no emulator host is set. */
export const GCS_HOST = 'storage.googleapis.com';

export interface FakeGcsServer {
  /** The http port of the JSON API. */
  port: number;
  /** Where a proxy sends CONNECT storage.googleapis.com:443: `127.0.0.1:PORT` (https). */
  tlsAddress: string;
  /** The CA that signed the https certificate (storage.googleapis.com and 127.0.0.1). */
  caFile: string;
  /** For a credentials file's token_uri: https on 127.0.0.1. */
  tokenUri: string;
  /** Makes the token endpoint accept JWTs signed by this key (PEM, public or private). */
  trustKey(pem: string): void;
  createBucket(name: string): Promise<void>;
  /** Every object name in the bucket that starts with `prefix`, sorted. */
  listObjects(bucket: string, prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export function fakeGcsPath(): string {
  return requireBinary('fake-gcs-server', path.join(repoRoot, 'tools/bin/fake-gcs-server'));
}

async function call(url: string, init?: RequestInit): Promise<unknown> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = await response.text();
  if (!response.ok) throw new Error(`fake-gcs-server ${init?.method ?? 'GET'} ${url}: HTTP ${response.status} ${body.slice(0, 300)}`);
  return JSON.parse(body) as unknown;
}

/** The payload of a JWT assertion whose RS256 signature one of `keys` made, or undefined. */
function verifiedJwt(assertion: string, keys: readonly KeyObject[]): unknown {
  const [header, payload, signature] = assertion.split('.');
  if (header === undefined || payload === undefined || signature === undefined) return undefined;
  const signed = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  if (!keys.some((key) => verify('RSA-SHA256', signed, key, sig))) return undefined;
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
}

/** An OAuth token endpoint for the service-account JWT grant: a trusted signature gets a token. */
async function startTokenEndpoint(certFile: string, keyFile: string, keys: KeyObject[]): Promise<{ port: number; close(): Promise<void> }> {
  const server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const assertion = new URLSearchParams(body).get('assertion') ?? '';
      const ok = verifiedJwt(assertion, keys) !== undefined;
      res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { access_token: 'km-test-access-token', expires_in: 3600, token_type: 'Bearer' } : { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }));
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => resolve());
  });
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export async function startFakeGcs(): Promise<FakeGcsServer> {
  const exe = fakeGcsPath();
  const dir = makeTempDir('fake-gcs');
  const tls = makeTestCa(dir, [GCS_HOST]);
  const keys: KeyObject[] = [];
  let stopServer: (() => Promise<void>) | undefined;
  try {
    // "both": https on `port` for kopia, http on `httpPort` for this module.
    const { port, httpPort, running } = await startOnFreePort(async (port) => {
      const httpPort = await freePort();
      const args = [
        '-scheme', 'both', '-host', LOOPBACK, '-port', String(port), '-port-http', String(httpPort), '-backend', 'memory',
        '-cert-location', tls.certFile, '-private-key-location', tls.keyFile, '-public-host', GCS_HOST, '-log-level', 'warn',
      ];
      return { port, httpPort, running: await spawnServer('fake-gcs-server', exe, args, port, { PATH: process.env.PATH }) };
    });
    stopServer = running.stop;
    const api = `http://${LOOPBACK}:${httpPort}/storage/v1`;
    await pollUntil(`fake-gcs-server on port ${httpPort} never listed its buckets`, async () => {
      await call(`${api}/b`);
      return true;
    });
    const token = await startTokenEndpoint(tls.certFile, tls.keyFile, keys);
    let stopped: Promise<void> | undefined;
    return {
      port: httpPort,
      tlsAddress: `${LOOPBACK}:${port}`,
      caFile: tls.caFile,
      tokenUri: `https://${LOOPBACK}:${token.port}/token`,
      trustKey: (pem) => {
        keys.push(createPublicKey(pem));
      },
      createBucket: async (name) => {
        await call(`${api}/b`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
      },
      listObjects: async (bucket, prefix = '') => {
        const names: string[] = [];
        let pageToken = '';
        do {
          const query = new URLSearchParams({ prefix, ...(pageToken ? { pageToken } : {}) });
          const page = (await call(`${api}/b/${encodeURIComponent(bucket)}/o?${query.toString()}`)) as {
            items?: { name: string }[];
            nextPageToken?: string;
          };
          names.push(...(page.items ?? []).map((item) => item.name));
          pageToken = page.nextPageToken ?? '';
        } while (pageToken !== '');
        return names.sort();
      },
      stop: () => (stopped ??= Promise.all([running.stop(), token.close()]).then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await stopServer?.();
    await removeTempDir(dir);
    throw err;
  }
}
