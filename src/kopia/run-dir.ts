import { closeSync, constants, existsSync, fstatSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';

/**
 * A run's private folder under TMPDIR (mode 0700): secret files for kopia, kopia's own log files
 * until they are redacted onto the cache volume, and kopia's config when it must hold storage
 * secrets. In a pod TMPDIR is an emptyDir, gone with the pod; nothing here outlives the run on a
 * persistent volume.
 *
 * The folder is claimed by a lock held for the run's life: a Unix socket listening inside it. The
 * kernel closes it however the process ends (SIGKILL, OOM kill), and a connect to a socket nobody
 * listens on is refused, in every PID namespace that shares the folder. A pid says nothing to a
 * run in another PID namespace, which is why the folder's name no longer carries one.
 */
export const RUN_DIR_PREFIX = 'kopia-mover-run-';
/** A folder being claimed: it gets its run name only once its lock listens. */
const CLAIM_PREFIX = 'kopia-mover-claim-';
const LOCK = 'lock';
/** A folder without a lock that answers is removed only this long after it last changed. */
const LEFTOVER_AGE_MS = 60 * 60 * 1000;
/** A lock that neither answers nor refuses within this time is taken as held. */
const PROBE_TIMEOUT_MS = 2000;
/** Longest socket path the kernel takes (sun_path is 108 bytes on Linux, 104 on macOS). */
const SOCKET_PATH_MAX = 100;

export interface RunDir {
  path: string;
  /** Removes the folder and drops its lock. */
  release(): void;
}

/**
 * The address of the lock socket in a folder. Node cuts a socket path longer than the kernel
 * takes without a word, so a long TMPDIR is reached through the folder's open descriptor.
 */
function lockAddress(dir: string, dirFd: number): string {
  const direct = join(dir, LOCK);
  if (Buffer.byteLength(direct) <= SOCKET_PATH_MAX) return direct;
  if (existsSync('/proc/self/fd')) return `/proc/self/fd/${dirFd}/${LOCK}`;
  throw new Error(`the path ${direct} is too long for a Unix socket`);
}

function openDirectory(path: string): number {
  return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
}

function listen(address: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    // A probe only needs the connection accepted; it is closed at once.
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(address, () => {
      server.off('error', reject);
      // The lock must never keep the program alive.
      server.unref();
      resolve(server);
    });
  });
}

function tmpDirError(tmpDir: string, error: unknown, what = 'is not a writable directory'): ConfigError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new ConfigError({ source: 'TMPDIR', message: `${tmpDir} ${what} (${code}); the mover keeps its temp files there` });
}

/**
 * Creates this run's folder and claims it. The folder is made and locked under a claim name, then
 * renamed: every folder with a run name has had a listening lock from its first moment, so a
 * refused connect there always means its owner is gone.
 */
export async function claimRunDir(tmpDir: string): Promise<RunDir> {
  let claim: string;
  let dirFd: number;
  try {
    claim = mkdtempSync(join(tmpDir, CLAIM_PREFIX));
    dirFd = openDirectory(claim);
  } catch (error) {
    throw tmpDirError(tmpDir, error);
  }
  let server: Server;
  try {
    server = await listen(lockAddress(claim, dirFd));
  } catch (error) {
    closeSync(dirFd);
    rmSync(claim, { recursive: true, force: true });
    throw tmpDirError(tmpDir, error, "cannot hold the run folder's lock, a Unix socket");
  }
  const path = join(tmpDir, `${RUN_DIR_PREFIX}${claim.slice(join(tmpDir, CLAIM_PREFIX).length)}`);
  renameSync(claim, path);
  return {
    path,
    release: () => {
      rmSync(path, { recursive: true, force: true });
      // Closed after the removal: Node unlinks the socket's path on close, which is then gone.
      server.close();
      closeSync(dirFd);
    },
  };
}

type LockState = 'held' | 'abandoned' | 'missing';

/** Whether someone listens on the folder's lock: a refused connect means the owner is gone. */
function probeLock(dir: string, dirFd: number): Promise<LockState> {
  return new Promise((resolve) => {
    let address: string;
    try {
      address = lockAddress(dir, dirFd);
    } catch {
      resolve('held');
      return;
    }
    const socket = connect(address);
    const done = (state: LockState) => {
      socket.destroy();
      resolve(state);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done('held'));
    socket.once('connect', () => done('held'));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') done('abandoned');
      else if (error.code === 'ENOENT') done('missing');
      // A full backlog (EAGAIN) and anything unknown: someone may be there.
      else done('held');
    });
  });
}

/** Whether the folder at `name` may go: its owner is gone, or it is an old leftover without a lock. */
async function isStale(tmpDir: string, name: string, uid: number | undefined, now: number): Promise<boolean> {
  const claiming = name.startsWith(CLAIM_PREFIX);
  if (!claiming && !name.startsWith(RUN_DIR_PREFIX)) return false;
  let dirFd: number;
  try {
    dirFd = openDirectory(join(tmpDir, name));
  } catch {
    return false;
  }
  try {
    const st = fstatSync(dirFd);
    if (uid !== undefined && st.uid !== uid) return false;
    const lock = await probeLock(join(tmpDir, name), dirFd);
    const old = now - st.mtimeMs > LEFTOVER_AGE_MS;
    // A claim folder's lock refuses for a moment between bind and listen: only age tells there.
    if (claiming) return old && lock !== 'held';
    return lock === 'abandoned' || (lock === 'missing' && old);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Removes the run folders that ended runs of this user left behind (SIGKILL gives no chance to
 * clean up): those whose lock refuses a connection, and old ones without a lock. Returns how many
 * were removed.
 */
export async function removeStaleRunDirs(tmpDir: string, uid = process.getuid?.(), now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = readdirSync(tmpDir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    if (!(await isStale(tmpDir, name, uid, now))) continue;
    rmSync(join(tmpDir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
