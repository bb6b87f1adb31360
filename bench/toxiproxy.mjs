// toxiproxy (tools/bin/toxiproxy-server, v2.5.0) for the benchmarks: one server on 127.0.0.1,
// driven through its HTTP API. A proxy sits between kopia and MinIO; toxics add delay, reset
// connections, or the proxy is disabled for an outage.
//
//   startToxiproxy(servers): Promise<{ api, addProxy(name, upstream), stop() }>
//   proxy: { name, endpoint "127.0.0.1:PORT", url, delay(ms), resetPeers(ms), outage(), clear() }
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './servers.mjs';

export const TOXIPROXY = join(repoRoot, 'tools', 'bin', 'toxiproxy-server');
const LOOPBACK = '127.0.0.1';

export function requireToxiproxy() {
  try {
    accessSync(TOXIPROXY, constants.X_OK);
  } catch {
    throw new Error(`toxiproxy-server not found at ${TOXIPROXY}: run \`bash scripts/install-test-servers.sh\``);
  }
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(api, method, path, body) {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: HTTP ${res.status} ${text.trim()}`);
  // /version answers plain text; the rest JSON.
  return text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
}

function proxyHandle(api, name, port) {
  let toxics = [];
  const add = async (toxic) => {
    await call(api, 'POST', `/proxies/${name}/toxics`, { toxicity: 1, ...toxic });
    toxics.push(toxic.name);
  };
  return {
    name,
    endpoint: `${LOOPBACK}:${port}`,
    url: `http://${LOOPBACK}:${port}`,
    /** `ms` of delay each way (both streams), so a round trip costs 2 × ms. */
    async delay(ms) {
      await add({ name: 'delay-up', type: 'latency', stream: 'upstream', attributes: { latency: ms, jitter: 0 } });
      await add({ name: 'delay-down', type: 'latency', stream: 'downstream', attributes: { latency: ms, jitter: 0 } });
    },
    /** Every connection is reset `ms` after it opens (TCP RST), new ones too, until clear(). */
    async resetPeers(ms) {
      await add({ name: 'reset', type: 'reset_peer', stream: 'upstream', attributes: { timeout: ms } });
    },
    /** Refuses new connections and closes the open ones, until clear(). */
    async outage() {
      await call(api, 'POST', `/proxies/${name}`, { enabled: false });
    },
    /** No toxic, enabled. */
    async clear() {
      for (const toxic of toxics) await call(api, 'DELETE', `/proxies/${name}/toxics/${toxic}`);
      toxics = [];
      await call(api, 'POST', `/proxies/${name}`, { enabled: true });
    },
  };
}

/** `servers` is test/support/servers.ts as bench/servers.mjs loads it (for its freePort). */
export async function startToxiproxy({ freePort }) {
  requireToxiproxy();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(TOXIPROXY, ['-host', LOOPBACK, '-port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, LOG_LEVEL: 'warn' } });
    let output = '';
    const keep = (c) => (output = (output + c).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let exited = false;
    const gone = new Promise((r) => child.once('exit', () => r((exited = true))));
    // Killed with the benchmark, whatever ends it.
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    const api = `http://${LOOPBACK}:${port}`;
    const deadline = Date.now() + 15_000;
    while (!exited && Date.now() < deadline) {
      try {
        await call(api, 'GET', '/version');
        break;
      } catch {
        await pause(100);
      }
    }
    if (exited && attempt < 3) continue;
    if (exited || Date.now() >= deadline) {
      kill();
      throw new Error(`toxiproxy-server did not answer on ${api}:\n${output}`);
    }
    return {
      api,
      async addProxy(name, upstream) {
        const listen = await freePort();
        await call(api, 'POST', '/proxies', { name, listen: `${LOOPBACK}:${listen}`, upstream, enabled: true });
        return proxyHandle(api, name, listen);
      },
      async stop() {
        process.removeListener('exit', kill);
        if (!exited) child.kill('SIGTERM');
        await Promise.race([gone, pause(5_000).then(kill)]);
      },
    };
  }
}
