import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MoverConfig } from '../config/parse.js';
import { classifyKopiaOutput } from '../kopia/failures.js';
import { processAlive } from '../processes.js';

/**
 * What kopia rebuilds from the repository: its cache folders and its cached copies of the format
 * blobs. Never kopia.config, logs or own-writes.
 */
export const REBUILDABLE = ['contents', 'metadata', 'indexes', 'index-blobs', 'blob-list', 'kopia.repository', 'kopia.blobcfg'] as const;
/** Writes kopia has made but the repository may not list yet: losing them loses data. */
const OWN_WRITES = 'own-writes';
const LOCK = 'kopia-mover-cache-clear.lock';
const STAMP = 'kopia-mover-cache-cleared';
export const MIN_INTERVAL_MS = 5 * 60 * 1000;
/** kopia honours an own-writes entry for 15 minutes (ownWritesCacheDuration); older ones it ignores. */
const OWN_WRITES_WINDOW_MS = 15 * 60 * 1000;

/**
 * Whether kopia's words say it cannot load the local cache (see `CacheDamage` in kopia/failures.ts).
 * The same message from the repository itself fails again after the cache is cleared, so clearing
 * once can only help.
 */
export function cacheCorruption(tail: readonly string[], args: readonly string[] = []): boolean {
  return cacheToClear(tail, args) !== undefined;
}

/**
 * What of the cache to clear for a failed command, when the failure is the cache's: one folder whose
 * layout file is damaged, the cached format blobs, or (`only` undefined) every rebuildable folder.
 * A cached kopia.blobcfg that does not decrypt says the same as a repository two movers created at
 * once; only a connect or create can meet the latter (a command of a connected client reads the
 * cached copy), so for those the message stays the creation race's.
 */
export function cacheToClear(tail: readonly string[], args: readonly string[]): { only?: string[] } | undefined {
  const damage = classifyKopiaOutput(tail).cache;
  if (damage === undefined) return undefined;
  if (damage === 'unreadable') return {};
  if (damage !== 'blobcfg') return { only: [damage.folder] };
  const connecting = args[0] === 'repository' && (args[1] === 'connect' || args[1] === 'create');
  return connecting ? undefined : { only: ['kopia.blobcfg', 'kopia.repository'] };
}

/** The cache folder whose `.shards` layout file kopia could not read, if that is what failed. */
export function corruptLayoutFolder(tail: readonly string[]): string | undefined {
  const damage = classifyKopiaOutput(tail).cache;
  return typeof damage === 'object' ? damage.folder : undefined;
}

/**
 * Caches of blobs by their name only (contents, and the format blobs): what they hold never changes
 * in the repository, so clearing them cannot hide a recent write and needs no look at own-writes.
 */
const CONTENT_CACHES: readonly string[] = ['contents', 'metadata', 'kopia.blobcfg', 'kopia.repository'];

export type ClearResult = { cleared: true; folders: string[] } | { cleared: false; reason: string };

/** Takes the cleanup lock (a file holding our pid); a lock whose process is gone is taken over. */
function acquireLock(path: string): boolean {
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx', mode: 0o600 });
    return true;
  } catch {
    const holder = Number(readFileSync(path, 'utf8').trim());
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) return false;
    writeFileSync(path, String(process.pid), { mode: 0o600 });
    return true;
  }
}

/**
 * Clears the rebuildable cache folders (all, or `only` those named), only when it is safe: nothing
 * pending in own-writes (unless only content caches are cleared), no folder is a symlink (it could
 * point at data), no other process is clearing, and the last clearing is more than 5 minutes old
 * (a cache that breaks again so soon has a cause clearing will not fix).
 */
export function clearRebuildableCache(config: MoverConfig, now = Date.now(), only?: readonly string[]): ClearResult {
  const dir = config.cacheDir;
  // kopia's failed connect removes the whole cache directory; the lock and stamp need it back.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ownWrites = join(dir, OWN_WRITES);
  const kept = only?.find((name) => !(REBUILDABLE as readonly string[]).includes(name));
  if (kept !== undefined) {
    return { cleared: false, reason: `${join(dir, kept)} is damaged, and it holds kopia's recent writes, which are never cleared automatically; look at its .shards file, then empty the cache volume` };
  }
  const pending = only?.every((name) => CONTENT_CACHES.includes(name)) ? 0 : pendingOwnWrites(ownWrites, now);
  if (pending > 0) {
    return {
      cleared: false,
      reason: `${ownWrites} holds ${pending} write(s) from the last 15 minutes that the repository may not list yet; clearing the cache now could hide them`,
    };
  }
  const candidates = REBUILDABLE.filter((name) => only === undefined || only.includes(name));
  const present = candidates.filter((name) => existsSync(join(dir, name)) || isLink(join(dir, name)));
  const linked = present.filter((name) => isLink(join(dir, name)));
  if (linked.length > 0) return { cleared: false, reason: `${linked.map((n) => join(dir, n)).join(', ')} is a symlink; not clearing through it` };
  const stamp = join(dir, STAMP);
  if (existsSync(stamp)) {
    const last = statSync(stamp).mtimeMs;
    if (now - last < MIN_INTERVAL_MS) {
      return { cleared: false, reason: `the cache was cleared ${Math.round((now - last) / 1000)}s ago; not clearing again within 5 minutes` };
    }
  }
  const lock = join(dir, LOCK);
  if (!acquireLock(lock)) return { cleared: false, reason: `another process holds ${lock}` };
  try {
    for (const name of present) rmSync(join(dir, name), { recursive: true, force: true });
    writeFileSync(stamp, new Date(now).toISOString(), { mode: 0o600 });
    return { cleared: true, folders: present.map((n) => join(dir, n)) };
  } finally {
    rmSync(lock, { force: true });
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function pendingOwnWrites(dir: string, now: number): number {
  if (!existsSync(dir)) return 0;
  let pending = 0;
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue; // kopia's shard layout file, not a write
    try {
      if (now - statSync(join(dir, name)).mtimeMs < OWN_WRITES_WINDOW_MS) pending++;
    } catch {
      // gone meanwhile: not pending
    }
  }
  return pending;
}
