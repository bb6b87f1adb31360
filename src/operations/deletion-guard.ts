import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import type { RestoreConfig } from '../config/parse.js';
import { mountPointsBelow } from './mounts.js';
import { shownPath } from './prune.js';
import { identityOf, protectedDirectories, ProtectedIdentities, selfAndAncestors } from './identity.js';

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

/**
 * Why file deletion must not run in DATA_DIR, or undefined when it may. Checked before kopia
 * restores anything: deletion removes whatever the snapshot does not hold, so a DATA_DIR that is
 * the root, a system directory, or a folder holding (or inside) the cache, the run folder or the
 * repository would be destroyed by an ordinary restore. Compared by spelling and by identity
 * (device and inode), so another spelling of the same folder (a bind mount) is caught too.
 */
export function deletionRefusal(config: RestoreConfig): string | undefined {
  const dataDir = config.dataDir;
  const real = realPath(dataDir);
  const shown = real === dataDir ? dataDir : `${dataDir} (${real})`;
  if (real === '/') return `${shown} is the root directory`;
  if (SYSTEM_DIRECTORIES.has(real) || LIB.test(real)) return `${shown} is a system directory`;
  const tree = SYSTEM_TREES.find((t) => within(t, real)) ?? (LIB.test(`/${real.split('/')[1]}`) ? `/${real.split('/')[1]}` : undefined);
  if (tree) return `${shown} is inside the system directory ${tree}`;
  const dirs = protectedDirectories(config);
  for (const p of dirs) {
    const other = realPath(p.path);
    if (within(real, other)) return `${shown} contains ${p.what} ${other}`;
    if (p.inside && within(other, real)) return `${shown} is inside ${p.what} ${other}`;
  }
  return identityRefusal(shown, real, new ProtectedIdentities(dirs));
}

/** The same questions asked of identities: DATA_DIR is, or lies inside, a protected folder's other spelling. */
function identityRefusal(shown: string, real: string, guarded: ProtectedIdentities): string | undefined {
  const own = identityOf(real);
  const holds = own === undefined ? undefined : guarded.reason(own);
  if (holds !== undefined) return `${shown} is ${holds} (the same folder by device and inode)`;
  for (const ancestor of selfAndAncestors(real)) {
    const id = identityOf(ancestor);
    const dir = id === undefined ? undefined : guarded.own.get(id);
    if (dir?.inside) return `${shown} is inside ${dir.what} ${dir.path} (${ancestor} is the same folder by device and inode)`;
  }
  // A protected folder mounted inside DATA_DIR (a bind mount) is another spelling below it.
  for (const key of mountPointsBelow(Buffer.from(real))) {
    const point = Buffer.from(key, 'latin1');
    const id = identityOf(point);
    const what = id === undefined ? undefined : guarded.reason(id);
    if (what !== undefined) return `${shown} has ${what} mounted inside it at ${shownPath(point)}`;
  }
  return undefined;
}
