/**
 * What every test server shares: finding its binary, a free port, starting it and waiting until
 * it listens, and cleaning up after it (also when the test process dies).
 *
 * Self-contained on purpose (no import from the rest of test/ or from src/): bench/servers.mjs
 * compiles test/support/servers.ts and what it imports on its own, and finds MinIO through
 * repoRoot below, which is computed from this file's own location.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const installHint = 'run `bash scripts/install-test-servers.sh` from the repository root';
export const LOOPBACK = '127.0.0.1';
export const READY_TIMEOUT_MS = 30_000;

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

/** A temp dir deleted by removeTempDir(), or when the test process exits. */
export function makeTempDir(label: string): string {
  installExitHooks();
  const dir = mkdtempSync(path.join(os.tmpdir(), `kopia-mover-${label}-`));
  liveDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
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

/** The binary's path; a missing one is an Error naming it and the install script, never a skip. */
export function requireBinary(name: string, candidate?: string): string {
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

export function runSync(exe: string, args: string[], input?: string): string {
  const result = spawnSync(exe, args, { encoding: 'utf8', input });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${exe} ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** Runs a client to the end; a non-zero exit is an Error carrying its stderr. */
export function runClient(exe: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(exe, args, { env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${path.basename(exe)} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

// ---------------------------------------------------------------------------
// Ports, readiness and processes

/** A port that was free a moment ago; startOnFreePort retries if another process wins it. */
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

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Asks `probe` until it answers true, at most until the deadline. `probe` returns false or
 * throws while the event has not happened; the last error goes into the failure message.
 */
export async function pollUntil(
  what: string,
  probe: () => Promise<boolean>,
  { timeoutMs = READY_TIMEOUT_MS, intervalMs = 100, stopIf }: { timeoutMs?: number; intervalMs?: number; stopIf?: () => string | undefined } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const stopped = stopIf?.();
    if (stopped !== undefined) throw new EarlyExit(stopped);
    try {
      if (await probe()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) throw new Error(`${what} within ${timeoutMs} ms${last ? `: ${last}` : ''}`);
    await pause(intervalMs);
  }
}

export interface Running {
  child: ChildProcess;
  /** The server's last output, to explain a failure. */
  output(): string;
  stop(): Promise<void>;
}

/** The server died while starting: usually a lost port race, so startOnFreePort tries again. */
export class EarlyExit extends Error {}

/**
 * Spawns a server and resolves once `port` accepts connections. The output is kept so a
 * server that dies while starting explains why.
 */
export async function spawnServer(
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
        const killed = await Promise.race([exitedPromise.then(() => true), pause(5_000).then(() => false)]);
        if (!killed) {
          child.kill('SIGKILL');
          await exitedPromise;
        }
      }
    })();
    return stopping;
  };

  try {
    await pollUntil(`${name} did not listen on ${LOOPBACK}:${port}`, () => canConnect(port), {
      stopIf: () =>
        exited
          ? `${name} exited before listening on ${LOOPBACK}:${port}${spawnError ? ` (${spawnError.message})` : ''}:\n${output}`
          : undefined,
    });
  } catch (err) {
    await stop();
    if (err instanceof EarlyExit) throw err;
    throw new Error(`${(err as Error).message}:\n${output}`);
  }
  return { child, output: () => output, stop };
}

/** Starts on a fresh port, retrying when the server dies at once (usually a lost port race). */
export async function startOnFreePort<T>(attempt: (port: number) => Promise<T>): Promise<T> {
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
