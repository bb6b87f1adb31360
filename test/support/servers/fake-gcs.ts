/**
 * Google Cloud Storage (fake-gcs-server, tools/bin/fake-gcs-server), over http, data in memory.
 * Buckets are made and listed through its JSON API, the one kopia's Go client speaks.
 *
 * What kopia 0.22.3 did against it:
 *   kopia repository create gcs --bucket=B [--prefix=P] [--credentials-file=F]
 *   kopia has no endpoint flag; the Go storage client it is built with (cloud.google.com/go/storage
 *   v1.57.2) sends everything to STORAGE_EMULATOR_HOST (host:port means http) when that variable
 *   is in its environment, and then turns authentication off: it sends no token at all, and a
 *   credentials file, good or garbage, is never read (a test shows this limit with bare kopia).
 *   Without the variable the client goes to storage.googleapis.com. The bucket must exist.
 */
import path from 'node:path';
import { LOOPBACK, pollUntil, repoRoot, requireBinary, spawnServer, startOnFreePort } from './common.js';

export interface FakeGcsServer {
  port: number;
  /** For STORAGE_EMULATOR_HOST: `127.0.0.1:PORT`. */
  host: string;
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

export async function startFakeGcs(): Promise<FakeGcsServer> {
  const exe = fakeGcsPath();
  const { port, running } = await startOnFreePort(async (port) => {
    const url = `http://${LOOPBACK}:${port}`;
    const args = ['-scheme', 'http', '-host', LOOPBACK, '-port', String(port), '-backend', 'memory', '-external-url', url, '-public-host', `${LOOPBACK}:${port}`, '-log-level', 'warn'];
    return { port, running: await spawnServer('fake-gcs-server', exe, args, port, { PATH: process.env.PATH }) };
  });
  const api = `http://${LOOPBACK}:${port}/storage/v1`;
  try {
    await pollUntil(`fake-gcs-server on port ${port} never listed its buckets`, async () => {
      await call(`${api}/b`);
      return true;
    });
  } catch (err) {
    await running.stop();
    throw err;
  }
  return {
    port,
    host: `${LOOPBACK}:${port}`,
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
    stop: () => running.stop(),
  };
}
