import { existsSync, readdirSync, realpathSync, statSync, type BigIntStats } from 'node:fs';
import { dirname, join } from 'node:path';
import { storageCandidates } from '../config/candidates.js';
import type { RestoreConfig } from '../config/parse.js';
import { RUN_DIR_PREFIX } from '../kopia/run-dir.js';

/**
 * A directory's identity: device and inode. Two spellings of one directory (a bind mount, a
 * symlinked parent, `..` tricks) share it; two different directories never do.
 */
export type Identity = string;

export function identityOfStats(st: Pick<BigIntStats, 'dev' | 'ino'>): Identity {
  return `${st.dev}:${st.ino}`;
}

export function identityOf(path: string | Buffer): Identity | undefined {
  try {
    return identityOfStats(statSync(path, { bigint: true }));
  } catch {
    return undefined;
  }
}

/** Something deletion must never touch, and whether a DATA_DIR inside it is refused as well. */
export interface ProtectedDir {
  what: string;
  path: string;
  /** Refuse also a DATA_DIR inside it: deleting there would damage it (not so for TMPDIR itself). */
  inside: boolean;
}

/**
 * The repository (filesystem backend), both caches, TMPDIR and the run folders in it: kopia and
 * this program keep their state there, and a restore's deletion must never reach any of them.
 */
export function protectedDirectories(config: RestoreConfig): ProtectedDir[] {
  const list: ProtectedDir[] = [
    { what: 'KOPIA_CACHE_DIR', path: config.cacheDir, inside: true },
    { what: "the program's default cache", path: config.homeCacheDir, inside: true },
    { what: 'TMPDIR', path: config.tmpDir, inside: false },
  ];
  for (const name of runFolders(config.tmpDir)) list.push({ what: 'the run folder', path: join(config.tmpDir, name), inside: true });
  for (const storage of storageCandidates(config)) {
    if (storage.localPath !== undefined) list.push({ what: 'the filesystem repository', path: storage.localPath, inside: true });
  }
  return list;
}

function runFolders(tmpDir: string): string[] {
  try {
    return readdirSync(tmpDir).filter((name) => name.startsWith(RUN_DIR_PREFIX));
  } catch {
    return [];
  }
}

/** The real path of the protected directory, or of its nearest existing ancestor. */
function existingReal(path: string): string {
  let at = path;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  try {
    return realpathSync(at);
  } catch {
    return at;
  }
}

/** Each existing directory from `path` up to the root, nearest first. */
export function selfAndAncestors(path: string): string[] {
  const chain = [path];
  for (let at = path; dirname(at) !== at; at = dirname(at)) chain.push(dirname(at));
  return chain;
}

/**
 * The identities of the protected directories and of every ancestor of theirs, each with what it
 * is. Deletion may not enter or remove any of them: removing an ancestor removes what it holds.
 */
export class ProtectedIdentities {
  /** The protected directories themselves (and DATA_DIR inside them is refused when `inside`). */
  readonly own = new Map<Identity, ProtectedDir>();
  /** The protected directories and all their ancestors, with words for each. */
  readonly guarded = new Map<Identity, string>();

  constructor(dirs: readonly ProtectedDir[]) {
    for (const dir of dirs) {
      const real = existingReal(dir.path);
      const exists = existsSync(dir.path);
      selfAndAncestors(real).forEach((path, index) => {
        const id = identityOf(path);
        if (id === undefined) return;
        const itself = index === 0 && exists;
        const words = itself ? `${dir.what} ${dir.path}` : `${path}, which holds ${dir.what} ${dir.path}`;
        if (itself) this.own.set(id, dir);
        if (!this.guarded.has(id)) this.guarded.set(id, words);
      });
    }
  }

  /** What a directory of this identity is, if deletion must not touch it. */
  reason(id: Identity): string | undefined {
    return this.guarded.get(id);
  }
}
