import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import type { RestoreConfig } from '../config/parse.js';
import { storageCandidates } from '../config/candidates.js';

/** Directories that are never restore output as a whole. */
const SYSTEM_DIRECTORIES = new Set(['/usr', '/etc', '/bin', '/sbin', '/var', '/boot', '/proc', '/sys', '/dev', '/root', '/home']);
/** Trees whose every folder is the system's own: a DATA_DIR anywhere in them is refused too. */
const SYSTEM_TREES = ['/usr', '/etc', '/bin', '/sbin', '/boot', '/proc', '/sys', '/dev'];
const LIB = /^\/lib[^/]*$/;

/** The real path of `path`, or of its nearest existing ancestor with the rest appended. */
export function realPath(path: string): string {
  const normalized = posix.resolve(path);
  if (existsSync(normalized)) return realpathSync(normalized);
  const parent = dirname(normalized);
  if (parent === normalized) return normalized;
  return join(realPath(parent), basename(normalized));
}

function within(outer: string, inner: string): boolean {
  return outer === '/' || inner === outer || inner.startsWith(`${outer}/`);
}

interface Protected {
  what: string;
  path: string;
  /** Refuse also when DATA_DIR lies inside it (deleting there would damage it). */
  both: boolean;
}

function protectedPaths(config: RestoreConfig): Protected[] {
  const list: Protected[] = [
    { what: 'KOPIA_CACHE_DIR', path: config.cacheDir, both: true },
    { what: "the program's default cache", path: config.homeCacheDir, both: true },
    { what: 'TMPDIR', path: config.tmpDir, both: false },
  ];
  for (const storage of storageCandidates(config)) {
    if (storage.localPath !== undefined) list.push({ what: 'the filesystem repository', path: storage.localPath, both: true });
  }
  return list;
}

/**
 * Why file deletion must not run in DATA_DIR, or undefined when it may. Checked on the real path
 * before kopia restores anything: deletion removes whatever the snapshot does not hold, so a
 * DATA_DIR that is the root, a system directory, or a folder holding the cache, the temp files or
 * the repository would be destroyed by an ordinary restore.
 */
export function deletionRefusal(config: RestoreConfig): string | undefined {
  const dataDir = config.dataDir;
  const real = realPath(dataDir);
  const shown = real === dataDir ? dataDir : `${dataDir} (${real})`;
  if (real === '/') return `${shown} is the root directory`;
  if (SYSTEM_DIRECTORIES.has(real) || LIB.test(real)) return `${shown} is a system directory`;
  const tree = SYSTEM_TREES.find((t) => within(t, real)) ?? (LIB.test(`/${real.split('/')[1]}`) ? `/${real.split('/')[1]}` : undefined);
  if (tree) return `${shown} is inside the system directory ${tree}`;
  for (const p of protectedPaths(config)) {
    const other = realPath(p.path);
    if (within(real, other)) return `${shown} contains ${p.what} ${other}`;
    if (p.both && within(other, real)) return `${shown} is inside ${p.what} ${other}`;
  }
  return undefined;
}
