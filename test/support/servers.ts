/**
 * Real storage servers on 127.0.0.1 for integration tests.
 *
 * Install them with `bash scripts/install-test-servers.sh` (MinIO into tools/bin, sshd and
 * rclone from apt). A missing binary is an Error naming it and that script, never a skip.
 *
 * API (every start* picks a free port, waits until the port accepts connections, and returns
 * an async stop() that kills the server and deletes its temp dirs; stop() is safe to call twice.
 * Servers still running when the test process exits, or gets SIGINT/SIGTERM/SIGHUP, are killed):
 *
 *   freePort(): Promise<number>
 *   startS3Server({ tls?, hostnames?, accessKey?, secretKey? }): Promise<S3Server>
 *     { endpoint "127.0.0.1:PORT", url "http(s)://127.0.0.1:PORT", accessKey, secretKey, region,
 *       caFile? (PEM of the CA that signed the cert for IP 127.0.0.1 and every name in
 *       `hostnames`; only with tls),
 *       createBucket(name), listObjects(bucket, prefix?) -> keys, stop() }
 *   startSftpServer(): Promise<SftpServer>
 *     { host "127.0.0.1", port, user, password, keyFile (ed25519, 0600, root-owned), publicKey,
 *       knownHostsFile, knownHostsData ("[127.0.0.1]:PORT ssh-ed25519 ..."), root, stop() }
 *     Needs root: it creates the login user `kmtest` and runs sshd (as root, own config, high port).
 *   startWebdavServer(): Promise<WebdavServer>
 *     { url "http://127.0.0.1:PORT/", username, password, root, stop() }
 *   rcloneLocalRemote(): Promise<RcloneLocalRemote>
 *     { remotePath "kmlocal:/abs/dir", root (the same dir), configFile, rcloneExe, cleanup() }
 *
 * What kopia 0.22.3 did against these servers (the smoke tests in
 * test/integration/servers.test.ts cover the main path of each):
 *
 * S3 (MinIO):
 *   kopia repository create s3 --bucket=B --endpoint=127.0.0.1:PORT --disable-tls [--prefix=dir/]
 *   Credentials: env AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or --access-key / --secret-access-key.
 *   --endpoint is host:port only; "http://..." fails ("Endpoint url cannot have fully qualified paths").
 *   --region may stay empty; path-style addressing needs no option. The bucket must already exist.
 *   HTTPS: no --disable-tls, plus --root-ca-pem-path=CA.pem or --root-ca-pem-base64=<base64 PEM>.
 *   The env var ROOT_CA_PEM_BASE64 shown in --help is NOT honoured (the flag's loader only runs
 *   for a command-line value); without a CA the create fails with "certificate signed by unknown authority".
 *   Object keys: kopia.repository, kopia.blobcfg, _log_*, q*, xn0_* right after create; p* after a snapshot.
 *
 * SFTP (OpenSSH sshd):
 *   Internal client (default; --external not needed):
 *   kopia repository create sftp --host=127.0.0.1 --port=PORT --username=kmtest --path=/abs/dir
 *     key:      --keyfile=/path/key or --key-data="<private key PEM text>"
 *     password: --sftp-password=PASS (no env var exists for it)
 *     host key: --known-hosts=/path or --known-hosts-data="<line>"; one is mandatory ("must provide
 *               either --known-hosts or --known-hosts-data"); the entry must be for "[127.0.0.1]:PORT",
 *               otherwise "knownhosts: key is unknown".
 *   --embed-credentials works (stores key and known_hosts in the kopia config).
 *   --external also works: kopia runs `ssh <ssh-args split on spaces> user@host -s sftp` and does not
 *   pass --port, so e.g. --ssh-args="-i KEY -p PORT -o UserKnownHostsFile=FILE -o BatchMode=yes".
 *   Files are stored with a ".f" suffix (kopia.repository.f, sharded p/q dirs).
 *
 * WebDAV (rclone serve webdav):
 *   kopia repository create webdav --url=http://127.0.0.1:PORT/
 *   Credentials: env KOPIA_WEBDAV_USERNAME / KOPIA_WEBDAV_PASSWORD work, or --webdav-username / --webdav-password.
 *   Files as for SFTP (kopia.repository.f).
 *
 * rclone (local remote):
 *   kopia repository create rclone --remote-path=kmlocal:/abs/dir --rclone-exe=/usr/bin/rclone
 *   kopia spawns `rclone serve webdav` itself; rclone finds its config through any of: env RCLONE_CONFIG
 *   inherited by kopia, --rclone-env=RCLONE_CONFIG=/path, or --rclone-args=--config=/path.
 *   Without one: "didn't find section in config file". The spawned rclone may outlive kopia by ~1 s.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { accessSync, chmodSync, chownSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const installHint = 'run `bash scripts/install-test-servers.sh` from the repository root';
const LOOPBACK = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;

export interface S3Server {
  endpoint: string;
  url: string;
  accessKey: string;
  secretKey: string;
  region: string;
  caFile?: string;
  createBucket(name: string): Promise<void>;
  listObjects(bucket: string, prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export interface SftpServer {
  host: string;
  port: number;
  user: string;
  password: string;
  keyFile: string;
  publicKey: string;
  knownHostsFile: string;
  knownHostsData: string;
  root: string;
  stop(): Promise<void>;
}

export interface WebdavServer {
  url: string;
  username: string;
  password: string;
  root: string;
  stop(): Promise<void>;
}

export interface RcloneLocalRemote {
  remotePath: string;
  root: string;
  configFile: string;
  rcloneExe: string;
  cleanup(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Cleanup on abnormal exit: 'exit' handlers must be synchronous, so keep plain handles.

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

function killEverythingNow(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort while exiting
    }
  }
  liveDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once('exit', killEverythingNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killEverythingNow();
      // Re-raise only when nobody else handles it, so the default exit still happens.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function makeTempDir(label: string): string {
  installExitHooks();
  const dir = mkdtempSync(path.join(os.tmpdir(), `kopia-mover-${label}-`));
  liveDirs.add(dir);
  return dir;
}

async function removeTempDir(dir: string): Promise<void> {
  liveDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// Binaries

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of `name` from PATH (plus sbin dirs, which non-login shells often omit). */
function findOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of [...dirs, '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function requireBinary(name: string, candidate?: string): string {
  const found = candidate !== undefined ? (isExecutable(candidate) ? candidate : undefined) : findOnPath(name);
  if (found === undefined) {
    const where = candidate ?? 'PATH, /usr/local/sbin, /usr/sbin, /sbin';
    throw new Error(`${name} not found (looked in ${where}); ${installHint}`);
  }
  return found;
}

export function minioPath(): string {
  return requireBinary('minio', path.join(repoRoot, 'tools/bin/minio'));
}

export function rclonePath(): string {
  return requireBinary('rclone');
}

function runSync(exe: string, args: string[], input?: string): string {
  const result = spawnSync(exe, args, { encoding: 'utf8', input });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${exe} ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

// ---------------------------------------------------------------------------
// Ports and processes

/** A port that was free a moment ago; the start* functions retry if another process wins it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port of a probe listener'));
      });
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Running {
  child: ChildProcess;
  stop(): Promise<void>;
}

class EarlyExit extends Error {}

/**
 * Spawns a server and resolves once `port` accepts connections. The output is kept so a
 * server that dies while starting explains why.
 */
async function spawnServer(
  name: string,
  exe: string,
  args: string[],
  port: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Running> {
  installExitHooks();
  const child = spawn(exe, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  let spawnError: Error | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      liveChildren.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited = true;
      liveChildren.delete(child);
      resolve();
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const killed = await Promise.race([exitedPromise.then(() => true), sleep(5_000).then(() => false)]);
        if (!killed) {
          child.kill('SIGKILL');
          await exitedPromise;
        }
      }
    })();
    return stopping;
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) {
      throw new EarlyExit(
        `${name} exited before listening on ${LOOPBACK}:${port}${spawnError ? ` (${spawnError.message})` : ''}:\n${output}`,
      );
    }
    if (await canConnect(port)) return { child, stop };
    await sleep(100);
  }
  await stop();
  throw new Error(`${name} did not listen on ${LOOPBACK}:${port} within ${READY_TIMEOUT_MS} ms:\n${output}`);
}

/** Starts on a fresh port, retrying when the server dies at once (usually a lost port race). */
async function startOnFreePort<T>(attempt: (port: number) => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let i = 0; i < 3; i++) {
    try {
      return await attempt(await freePort());
    } catch (err) {
      if (!(err instanceof EarlyExit)) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------
// S3 (MinIO)

function makeTestCa(dir: string, hostnames: readonly string[] = []): { caFile: string; certFile: string; keyFile: string } {
  const openssl = requireBinary('openssl');
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'private.key');
  const csr = path.join(dir, 'server.csr');
  const certFile = path.join(dir, 'public.crt');
  const ext = path.join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  runSync(openssl, [
    'req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '7',
    '-subj', '/CN=kopia-mover test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  runSync(openssl, ['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  writeFileSync(
    ext,
    `subjectAltName=${['IP:127.0.0.1', ...hostnames.map((h) => `DNS:${h}`)].join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  runSync(openssl, [
    'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '7', '-extfile', ext, '-out', certFile,
  ]);
  return { caFile, certFile, keyFile };
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
// SigV4 wants RFC 3986 encoding, which is stricter than encodeURIComponent.
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

interface S3Target {
  port: number;
  tls: boolean;
  ca?: Buffer;
  accessKey: string;
  secretKey: string;
  region: string;
}

/** One path-style S3 request signed with AWS SigV4 (empty body). */
function s3Request(
  target: S3Target,
  method: string,
  bucket: string,
  query: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const host = `${LOOPBACK}:${target.port}`;
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const payloadHash = sha256Hex('');
  const canonicalUri = `/${rfc3986(bucket)}`;
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${rfc3986(k)}=${rfc3986(query[k] ?? '')}`)
    .join('&');
  const signedHeaders = 'host;x-amz-content-sha256;x-amz-date';
  const canonicalHeaders = `host:${host}\nx-amz-content-sha256:${payloadHash}\nx-amz-date:${amzDate}\n`;
  const canonicalRequest = [method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${target.region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${target.secretKey}`, day);
  for (const part of [target.region, 's3', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');

  return httpRequest(target, method, canonicalQuery ? `${canonicalUri}?${canonicalQuery}` : canonicalUri, {
    host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payloadHash,
    authorization: `AWS4-HMAC-SHA256 Credential=${target.accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  });
}

function httpRequest(
  target: S3Target,
  method: string,
  pathAndQuery: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const options: https.RequestOptions = {
    host: LOOPBACK,
    port: target.port,
    method,
    path: pathAndQuery,
    headers: { ...headers, 'content-length': '0' },
    ca: target.ca,
  };
  return new Promise((resolve, reject) => {
    const req = (target.tls ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${pathAndQuery} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function xmlUnescape(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
      case 'amp': return '&';
      default:
        return String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

function xmlTag(body: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body);
  return m?.[1] === undefined ? undefined : xmlUnescape(m[1]);
}

async function createBucket(target: S3Target, name: string): Promise<void> {
  const res = await s3Request(target, 'PUT', name);
  if (res.status === 200) return;
  if (res.status === 409 && xmlTag(res.body, 'Code') === 'BucketAlreadyOwnedByYou') return;
  throw new Error(`creating bucket ${name} failed with HTTP ${res.status}: ${res.body}`);
}

async function listObjects(target: S3Target, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const query: Record<string, string> = { 'list-type': '2', prefix };
    if (token !== undefined) query['continuation-token'] = token;
    const res = await s3Request(target, 'GET', bucket, query);
    if (res.status !== 200) throw new Error(`listing bucket ${bucket} failed with HTTP ${res.status}: ${res.body}`);
    for (const m of res.body.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(xmlUnescape(m[1] ?? ''));
    token = xmlTag(res.body, 'IsTruncated') === 'true' ? xmlTag(res.body, 'NextContinuationToken') : undefined;
  } while (token !== undefined);
  return keys.sort();
}

export interface S3ServerOptions {
  tls?: boolean;
  /**
   * DNS names the certificate is also valid for (with tls), e.g. a name that a test's own
   * /etc/hosts maps to 127.0.0.1: Go never sends an IP-literal loopback host through a proxy.
   */
  hostnames?: readonly string[];
  /** Fixed root credentials, e.g. the ones a recorded pod spec carries; random by default. */
  accessKey?: string;
  secretKey?: string;
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const exe = minioPath();
  const tls = options.tls ?? false;
  const dir = makeTempDir('s3');
  const dataDir = path.join(dir, 'data');
  const certsDir = path.join(dir, 'certs');
  mkdirSync(dataDir);
  mkdirSync(certsDir);
  const ca = tls ? makeTestCa(certsDir, options.hostnames) : undefined;
  const accessKey = options.accessKey ?? 'kmtest-access';
  const secretKey = options.secretKey ?? randomBytes(16).toString('hex');
  const region = 'us-east-1';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MINIO_ROOT_USER: accessKey,
    MINIO_ROOT_PASSWORD: secretKey,
    MINIO_BROWSER: 'off',
    MINIO_UPDATE: 'off',
    MINIO_REGION: region,
    HOME: dir,
  };
  let started: Running | undefined;
  try {
    const { port, running } = await startOnFreePort(async (port) => {
      const args = ['server', dataDir, '--address', `${LOOPBACK}:${port}`, '--certs-dir', certsDir, '--quiet'];
      return { port, running: await spawnServer('minio', exe, args, port, env) };
    });
    started = running;
    const target: S3Target = {
      port,
      tls,
      ca: ca ? readFileSync(ca.caFile) : undefined,
      accessKey,
      secretKey,
      region,
    };
    // The port opens before MinIO serves requests; wait for its readiness probe.
    await waitForS3(target);
    let stopped: Promise<void> | undefined;
    return {
      endpoint: `${LOOPBACK}:${port}`,
      url: `${tls ? 'https' : 'http'}://${LOOPBACK}:${port}`,
      accessKey,
      secretKey,
      region,
      ...(ca ? { caFile: ca.caFile } : {}),
      createBucket: (name) => createBucket(target, name),
      listObjects: (bucket, prefix) => listObjects(target, bucket, prefix),
      stop: () => (stopped ??= running.stop().then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await started?.stop();
    await removeTempDir(dir);
    throw err;
  }
}

async function waitForS3(target: S3Target): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    try {
      // The health probe can pass while the object layer still answers every S3 request with
      // 503 "not initialized" (seen under load), so a signed ListBuckets must succeed too.
      const health = await httpRequest(target, 'GET', '/minio/health/ready');
      if (health.status === 200) {
        const list = await s3Request(target, 'GET', '');
        if (list.status === 200) return;
        last = `ListBuckets HTTP ${list.status}: ${xmlTag(list.body, 'Code') ?? ''}`;
      } else {
        last = `HTTP ${health.status}`;
      }
    } catch (err) {
      last = String(err);
    }
    await sleep(200);
  }
  throw new Error(`minio on port ${target.port} never became ready: ${last}`);
}

// ---------------------------------------------------------------------------
// SFTP (OpenSSH)

const SFTP_USER = 'kmtest';
const SFTP_PASSWORD = 'kmtest-Sftp-Pass-1';

function userIds(user: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Creates the login user once; parallel test files may race here, so a lost race is fine. */
async function ensureSftpUser(): Promise<{ uid: number; gid: number }> {
  const useradd = requireBinary('useradd');
  const chpasswd = requireBinary('chpasswd');
  for (let i = 0; i < 10 && userIds(SFTP_USER) === undefined; i++) {
    spawnSync(useradd, ['--create-home', '--shell', '/bin/sh', SFTP_USER], { encoding: 'utf8' });
    if (userIds(SFTP_USER) === undefined) await sleep(200);
  }
  const ids = userIds(SFTP_USER);
  if (ids === undefined) throw new Error(`could not create user ${SFTP_USER} with useradd`);
  runSync(chpasswd, [], `${SFTP_USER}:${SFTP_PASSWORD}\n`);
  return ids;
}

export async function startSftpServer(): Promise<SftpServer> {
  if (process.getuid?.() !== 0) {
    throw new Error('startSftpServer needs root: it creates the user kmtest and runs sshd');
  }
  const sshd = requireBinary('sshd');
  const sshKeygen = requireBinary('ssh-keygen');
  const ids = await ensureSftpUser();

  const dir = makeTempDir('sftp');
  try {
    // sshd reads authorized_keys as the login user, so it must be able to reach it.
    chmodSync(dir, 0o755);
    const hostKey = path.join(dir, 'ssh_host_ed25519_key');
    const keyFile = path.join(dir, 'client_ed25519');
    const authorizedKeys = path.join(dir, 'authorized_keys');
    const root = path.join(dir, 'root');
    runSync(sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'kopia-mover-test-host', '-f', hostKey]);
    runSync(sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'kopia-mover-test-client', '-f', keyFile]);
    chmodSync(keyFile, 0o600);
    const publicKey = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    writeFileSync(authorizedKeys, `${publicKey}\n`, { mode: 0o644 });
    mkdirSync(root, { mode: 0o755 });
    chownSync(root, ids.uid, ids.gid);
    // Debian's sshd refuses to start without its privilege separation directory.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

    const hostPub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
    const { port, running } = await startOnFreePort(async (port) => {
      const config = path.join(dir, 'sshd_config');
      writeFileSync(
        config,
        [
          `Port ${port}`,
          `ListenAddress ${LOOPBACK}`,
          `HostKey ${hostKey}`,
          `PidFile ${path.join(dir, 'sshd.pid')}`,
          `AuthorizedKeysFile ${authorizedKeys}`,
          // The temp dir lives under world-writable /tmp, which StrictModes would reject.
          'StrictModes no',
          'PubkeyAuthentication yes',
          'PasswordAuthentication yes',
          'KbdInteractiveAuthentication no',
          // Without PAM, sshd checks passwords against /etc/shadow itself.
          'UsePAM no',
          'PermitRootLogin no',
          `AllowUsers ${SFTP_USER}`,
          'Subsystem sftp internal-sftp',
          'LogLevel VERBOSE',
          '',
        ].join('\n'),
      );
      // sshd re-executes itself, so it needs an absolute path; -e sends its log to stderr.
      return { port, running: await spawnServer('sshd', sshd, ['-D', '-e', '-f', config], port) };
    });

    const knownHostsData = `[${LOOPBACK}]:${port} ${hostPub[0]} ${hostPub[1]}`;
    const knownHostsFile = path.join(dir, 'known_hosts');
    writeFileSync(knownHostsFile, `${knownHostsData}\n`);
    let stopped: Promise<void> | undefined;
    return {
      host: LOOPBACK,
      port,
      user: SFTP_USER,
      password: SFTP_PASSWORD,
      keyFile,
      publicKey,
      knownHostsFile,
      knownHostsData,
      root,
      stop: () => (stopped ??= running.stop().then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}

// ---------------------------------------------------------------------------
// WebDAV and rclone

export async function startWebdavServer(): Promise<WebdavServer> {
  const rclone = rclonePath();
  const dir = makeTempDir('webdav');
  try {
    const root = path.join(dir, 'root');
    mkdirSync(root);
    // An empty config keeps rclone away from the user's own ~/.config/rclone.
    const configFile = path.join(dir, 'rclone.conf');
    writeFileSync(configFile, '');
    const username = 'kmtest';
    const password = randomBytes(12).toString('hex');
    const { port, running } = await startOnFreePort(async (port) => {
      const args = ['serve', 'webdav', root, '--addr', `${LOOPBACK}:${port}`, '--user', username, '--pass', password,
        '--config', configFile];
      return { port, running: await spawnServer('rclone serve webdav', rclone, args, port) };
    });
    let stopped: Promise<void> | undefined;
    return {
      url: `http://${LOOPBACK}:${port}/`,
      username,
      password,
      root,
      stop: () => (stopped ??= running.stop().then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}

/** A local-disk rclone remote, for kopia's rclone backend without any network server. */
export async function rcloneLocalRemote(): Promise<RcloneLocalRemote> {
  const rcloneExe = rclonePath();
  const dir = makeTempDir('rclone');
  const root = path.join(dir, 'root');
  mkdirSync(root);
  const configFile = path.join(dir, 'rclone.conf');
  writeFileSync(configFile, '[kmlocal]\ntype = local\n');
  let cleaned: Promise<void> | undefined;
  return {
    remotePath: `kmlocal:${root}`,
    root,
    configFile,
    rcloneExe,
    cleanup: () => (cleaned ??= removeTempDir(dir)),
  };
}
