/**
 * A fault proxy between kopia and a storage server: toxiproxy's server (tools/bin/toxiproxy-server,
 * built by scripts/install-test-servers.sh), driven through its HTTP API on 127.0.0.1.
 *
 * What toxiproxy v2.5.0 does with the toxics used here (attributes in its own units):
 *   latency    { latency: ms, jitter: ms }   delays every chunk that passes, in the stream's direction
 *   bandwidth  { rate: KB/s }                at most `rate` kilobytes a second
 *   reset_peer { timeout: ms }               after `timeout`, closes the connection with a TCP RST
 *   limit_data { bytes }                     closes the connection once `bytes` have passed
 *   timeout    { timeout: ms }               drops everything; 0 never closes: a silent network
 * A toxic has a stream ("upstream" is client to server, "downstream" server to client). A
 * disabled proxy closes its listener and every open connection ("down"); enabling it listens
 * on the same port again. Removing a toxic closes the connections it held.
 */
import {
  LOOPBACK,
  pollUntil,
  repoRoot,
  requireBinary,
  spawnServer,
  startOnFreePort,
} from './common.js';
import path from 'node:path';

export function toxiproxyPath(): string {
  return requireBinary('toxiproxy-server', path.join(repoRoot, 'tools/bin/toxiproxy-server'));
}

export type ToxicStream = 'upstream' | 'downstream';

export type ToxicKind =
  | { type: 'latency'; attributes: { latency: number; jitter?: number } }
  | { type: 'bandwidth'; attributes: { rate: number } }
  | { type: 'reset_peer'; attributes: { timeout: number } }
  | { type: 'limit_data'; attributes: { bytes: number } }
  | { type: 'timeout'; attributes: { timeout: number } };

export type Toxic = ToxicKind & { name: string; stream: ToxicStream; toxicity?: number };

export interface FaultProxy {
  /** Where clients connect instead of the upstream: "127.0.0.1:PORT". */
  endpoint: string;
  addToxic(toxic: Toxic): Promise<void>;
  removeToxic(name: string): Promise<void>;
  /** Names of the toxics in place now. */
  toxics(): Promise<string[]>;
  /** Takes every toxic away. */
  clearToxics(): Promise<void>;
  /** Down closes the listener and every connection; up listens on the same port again. */
  setEnabled(enabled: boolean): Promise<void>;
}

export interface ToxiproxyServer {
  /** The HTTP API, "http://127.0.0.1:PORT". */
  api: string;
  /** A proxy listening on a free loopback port, in front of `upstream` ("host:port"). */
  createProxy(name: string, upstream: string): Promise<FaultProxy>;
  stop(): Promise<void>;
}

async function call(api: string, method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${api}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`toxiproxy ${method} ${route} answered ${response.status}: ${text.trim()}`);
  // /version answers plain text; everything else JSON.
  return (response.headers.get('content-type') ?? '').includes('json') && text !== '' ? JSON.parse(text) : text;
}

function faultProxy(api: string, name: string, endpoint: string): FaultProxy {
  const route = `/proxies/${encodeURIComponent(name)}`;
  const toxics = async () => ((await call(api, 'GET', `${route}/toxics`)) as { name: string }[]).map((t) => t.name);
  return {
    endpoint,
    addToxic: async ({ name: toxicName, type, stream, toxicity = 1, attributes }) => {
      await call(api, 'POST', `${route}/toxics`, { name: toxicName, type, stream, toxicity, attributes });
    },
    removeToxic: async (toxicName) => {
      await call(api, 'DELETE', `${route}/toxics/${encodeURIComponent(toxicName)}`);
    },
    toxics,
    clearToxics: async () => {
      for (const toxicName of await toxics()) await call(api, 'DELETE', `${route}/toxics/${encodeURIComponent(toxicName)}`);
    },
    setEnabled: async (enabled) => {
      await call(api, 'POST', route, { enabled });
    },
  };
}

export async function startToxiproxy(): Promise<ToxiproxyServer> {
  const exe = toxiproxyPath();
  const { port, running } = await startOnFreePort(async (port) => ({
    port,
    running: await spawnServer('toxiproxy-server', exe, ['-host', LOOPBACK, '-port', String(port)], port),
  }));
  const api = `http://${LOOPBACK}:${port}`;
  try {
    await pollUntil(`toxiproxy on port ${port} never answered /version`, async () => {
      await call(api, 'GET', '/version');
      return true;
    });
  } catch (err) {
    await running.stop();
    throw err;
  }
  return {
    api,
    createProxy: async (name, upstream) => {
      // Port 0: the proxy takes a free port itself and reports it, so no port race is possible.
      const made = (await call(api, 'POST', '/proxies', { name, listen: `${LOOPBACK}:0`, upstream, enabled: true })) as { listen: string };
      return faultProxy(api, name, made.listen);
    },
    stop: () => running.stop(),
  };
}
