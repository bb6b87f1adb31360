/**
 * A Prometheus Pushgateway (Debian's prometheus-pushgateway, installed by
 * scripts/install-test-servers.sh) on a free 127.0.0.1 port, metrics in memory. Optionally behind
 * basic authentication, through the gateway's own web config file (bcrypt hash of the password).
 */
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { LOOPBACK, makeTempDir, pollUntil, removeTempDir, requireBinary, spawnServer, startOnFreePort } from './common.js';

/** One sample of the gateway's /metrics: a metric name, its labels and its value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Pushgateway {
  /** http://127.0.0.1:PORT, without credentials. */
  url: string;
  port: number;
  /** Every sample the gateway exposes whose name starts with `prefix`. */
  samples(prefix?: string): Promise<Sample[]>;
  /** The raw /metrics text. */
  text(): Promise<string>;
  stop(): Promise<void>;
}

export function pushgatewayPath(): string {
  return requireBinary('prometheus-pushgateway');
}

function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

/** The samples of Prometheus' text format (comments and blank lines skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (m) samples.push({ name: m[1]!, labels: labelsOf(m[2] ?? ''), value: Number(m[3]) });
  }
  return samples;
}

/** A web config that asks for basic authentication: the user and a bcrypt hash of the password, made by htpasswd. */
function basicAuthConfig(dir: string, user: string, password: string): string {
  const htpasswd = requireBinary('htpasswd');
  const line = execFileSync(htpasswd, ['-nbBC', '10', user, password], { encoding: 'utf8' }).trim();
  const hash = line.slice(line.indexOf(':') + 1);
  const file = path.join(dir, 'web.yml');
  writeFileSync(file, `basic_auth_users:\n  ${user}: '${hash}'\n`);
  return file;
}

export async function startPushgateway(options: { basicAuth?: { user: string; password: string } } = {}): Promise<Pushgateway> {
  const exe = pushgatewayPath();
  const dir = makeTempDir('pushgateway');
  const auth = options.basicAuth;
  const webConfig = auth ? basicAuthConfig(dir, auth.user, auth.password) : undefined;
  try {
    const { port, running } = await startOnFreePort(async (port) => {
      const args = [`--web.listen-address=${LOOPBACK}:${port}`, '--log.level=warn', ...(webConfig ? [`--web.config.file=${webConfig}`] : [])];
      return { port, running: await spawnServer('prometheus-pushgateway', exe, args, port, { PATH: process.env.PATH }) };
    });
    const url = `http://${LOOPBACK}:${port}`;
    const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` } : {};
    const text = async () => {
      const response = await fetch(`${url}/metrics`, { headers, signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`pushgateway /metrics: HTTP ${response.status}`);
      return response.text();
    };
    await pollUntil(`pushgateway on port ${port} never answered /metrics`, async () => (await text()).length > 0);
    let stopped: Promise<void> | undefined;
    return {
      url,
      port,
      text,
      samples: async (prefix = '') => parseExposition(await text()).filter((s) => s.name.startsWith(prefix)),
      stop: () => (stopped ??= running.stop().then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}
