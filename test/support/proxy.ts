/**
 * A small real HTTP proxy on 127.0.0.1 for tests: it tunnels `CONNECT host:port` (what Go's
 * HTTP client, and so kopia, sends for an https:// URL when HTTPS_PROXY applies) and logs every
 * CONNECT target, so a test can prove that storage traffic went through it, or that none did.
 *
 *   startConnectProxy({ hosts? }): Promise<ConnectProxy>
 *     { port, url "http://127.0.0.1:PORT", connects() -> ["minio.test:9000", ...],
 *       requests() -> every request line seen, CONNECT or not, clear(), stop() }
 *
 * `hosts` maps names to addresses (or `address:port`) for the tunnels' own connections (the proxy
 * resolves the target itself, like a real one; a test name such as `minio.test` is only in the pod's
 * /etc/hosts). Plain (non-CONNECT) proxy requests are logged and answered 501: the tests only
 * use https endpoints.
 */
import http from 'node:http';
import net from 'node:net';

const LOOPBACK = '127.0.0.1';

export interface ConnectProxy {
  port: number;
  url: string;
  /** CONNECT targets in arrival order, exactly as the client sent them (`host:port`). */
  connects(): string[];
  /** Every request line seen (`CONNECT host:port`, `GET http://...`). */
  requests(): string[];
  /** Forgets what was logged so far. */
  clear(): void;
  stop(): Promise<void>;
}

export interface ConnectProxyOptions {
  hosts?: Record<string, string>;
}

function splitTarget(target: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { host: m[1]!, port } : undefined;
}

export async function startConnectProxy(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const hosts = options.hosts ?? {};
  const connectLog: string[] = [];
  const requestLog: string[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const server = http.createServer((req, res) => {
    requestLog.push(`${req.method ?? '?'} ${req.url ?? ''}`);
    res.writeHead(501, { 'content-type': 'text/plain', connection: 'close' });
    res.end('only CONNECT is supported by this test proxy\n');
  });
  server.on('connection', track);

  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    connectLog.push(target);
    requestLog.push(`CONNECT ${target}`);
    const parsed = splitTarget(target);
    if (!parsed) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    // A mapped address may carry its own port ("127.0.0.1:PORT" for a server that stands in for :443).
    const mapped = splitTarget(hosts[parsed.host] ?? '');
    const upstream = net.connect(mapped ?? { host: hosts[parsed.host] ?? parsed.host, port: parsed.port });
    track(upstream);
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', () => {
      if (client.writable) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      else client.destroy();
    });
    client.once('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('the test proxy has no port');
  const port = address.port;

  let stopped: Promise<void> | undefined;
  return {
    port,
    url: `http://${LOOPBACK}:${port}`,
    connects: () => [...connectLog],
    requests: () => [...requestLog],
    clear: () => {
      connectLog.length = 0;
      requestLog.length = 0;
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      })),
  };
}
