import { randomBytes } from 'node:crypto';
import { lstatSync, renameSync, unlinkSync, type BigIntStats } from 'node:fs';
import { ConfigError } from '../errors.js';
import { identityOfStats, type ProtectedIdentities } from './identity.js';
import { byteKey } from './mounts.js';
import { names, shownPath, type SnapshotListing } from './prune.js';

export interface ConfineOptions {
  /** DATA_DIR's real path, as bytes. */
  root: Buffer;
  listing: Pick<SnapshotListing, 'paths' | 'directories' | 'symlinks'>;
  /** Mount points below root (byteKey of their absolute paths). */
  mounts: ReadonlySet<string>;
  guarded: Pick<ProtectedIdentities, 'reason'>;
  stop?: AbortSignal;
  /**
   * With file deletion: a folder where the snapshot has a file or a symlink is moved aside (DATA_DIR
   * is to equal the snapshot; deletion removes it once the restore completed). Without, it is
   * refused: the user did not ask for anything to go.
   */
  replaceFolders?: boolean;
}

const SLASH = Buffer.from('/');

/**
 * Makes DATA_DIR safe for kopia to write into, before it writes: kopia follows a symlink standing
 * where the snapshot has a directory and writes outside DATA_DIR through it. Walks DATA_DIR along
 * the snapshot's directories only and collects every non-directory (symlink, file, socket...) in
 * such a place; refuses (exit 2, nothing written) a mount point or a protected folder at any path
 * the snapshot holds. A folder where the snapshot has a file or a symlink (kopia cannot replace it)
 * is moved aside with deletion on (deletion removes it after the restore) and refused without; a symlink where the snapshot has a file, and a
 * file where it has a symlink, are removed (kopia fails on them, and would replace them anyway). Only when the whole walk found no reason to
 * refuse is anything removed or moved; kopia then writes what the snapshot has in its place. Returns
 * what was removed and moved, for the log.
 */
export interface Confined {
  /** Entries removed: symlinks, files and other non-folders kopia would follow or fail on. */
  removed: string[];
  /** Folders moved aside within their parent, `from` → `to`: deletion removes them after the restore. */
  displaced: { from: string; to: string }[];
}

export async function confineTarget(options: ConfineOptions): Promise<Confined> {
  const misplaced: Buffer[] = [];
  const folders: Buffer[] = [];
  const device = lstatSync(options.root, { bigint: true }).dev;
  let sinceYield = 0;
  const visit = async (relative: Buffer): Promise<void> => {
    const dir = relative.length === 0 ? options.root : Buffer.concat([options.root, SLASH, relative]);
    for await (const name of names(dir)) {
      if (options.stop?.aborted) throw options.stop.reason instanceof Error ? options.stop.reason : new Error('stopped');
      if (++sinceYield % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
      const child = relative.length === 0 ? name : Buffer.concat([relative, SLASH, name]);
      const isDirectory = options.listing.directories.has(child);
      if (!isDirectory && !options.listing.paths.has(child)) continue;
      const path = Buffer.concat([dir, SLASH, name]);
      const st = lstatSync(path, { bigint: true });
      refuseForeign(options, path, st, device);
      if (isDirectory && st.isDirectory()) await visit(child);
      else if (isDirectory) misplaced.push(path);
      else if (st.isDirectory()) {
        if (!options.replaceFolders) throw folderInTheWay(path, 'run again with KOPIA_ENABLE_FILE_DELETION, or move it out of DATA_DIR');
        refuseMountsBelow(options, path);
        folders.push(path);
      } else if (st.isSymbolicLink() || options.listing.symlinks.has(child)) {
        // kopia stats an existing entry through a symlink (a loop fails the restore) and cannot put a
        // symlink where a file stands; it replaces either all the same.
        misplaced.push(path);
      }
    }
  };
  await visit(Buffer.alloc(0));
  for (const path of misplaced) unlinkSync(path);
  const displaced = folders.map((path) => ({ from: shownPath(path), to: shownPath(displace(path)) }));
  return { removed: misplaced.map(shownPath), displaced };
}

/**
 * Moves a folder aside, beside itself under a name the snapshot cannot hold by chance: nothing of
 * it is deleted before the restore completed, and a restore that fails leaves it whole.
 */
function displace(path: Buffer): Buffer {
  const parent = path.subarray(0, path.lastIndexOf(SLASH[0]!));
  const aside = Buffer.concat([parent, Buffer.from(`/.kopia-mover-displaced-${randomBytes(8).toString('hex')}`)]);
  renameSync(path, aside);
  return aside;
}

function folderInTheWay(path: Buffer, what: string): ConfigError {
  return new ConfigError({
    source: 'DATA_DIR',
    message: `${shownPath(path)} is a directory where the snapshot has a file or a symlink; kopia cannot restore over it: ${what} (nothing was restored)`,
  });
}

/** A folder about to be removed whole must hold no mount point: removing stops there, and kopia would fail. */
function refuseMountsBelow(options: ConfineOptions, path: Buffer): void {
  const prefix = byteKey(Buffer.concat([path, SLASH]));
  for (const key of options.mounts) {
    if (key.startsWith(prefix)) {
      throw new ConfigError({
        source: 'DATA_DIR',
        message: `${shownPath(Buffer.from(key, 'latin1'))} is a mount point inside ${shownPath(path)}, a folder where the snapshot has a file or a symlink. Unmount it, or restore into a DATA_DIR without it (nothing was restored)`,
      });
    }
  }
}

/** A mount point (a folder or a bind-mounted file) or a protected folder where kopia would write: refused before anything is written. */
function refuseForeign(options: ConfineOptions, path: Buffer, st: BigIntStats, device: bigint): void {
  const protectedAs = options.guarded.reason(identityOfStats(st));
  if (protectedAs !== undefined) {
    throw new ConfigError({
      source: 'DATA_DIR',
      message: `${shownPath(path)} is ${protectedAs} (the same folder by device and inode), at a path the snapshot holds; kopia would restore into it. Remove that mount from DATA_DIR (nothing was restored)`,
    });
  }
  if (st.dev !== device || (options.mounts.size > 0 && options.mounts.has(byteKey(path)))) {
    throw new ConfigError({
      source: 'DATA_DIR',
      message: `${shownPath(path)} is a mount point at a path the snapshot holds; kopia would write into that other filesystem. Unmount it, or restore into a DATA_DIR without it (nothing was restored)`,
    });
  }
}
