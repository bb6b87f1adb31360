import { createHash } from 'node:crypto';
import { lstatSync, opendirSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/**
 * The relative paths of a snapshot, kept as 64-bit hashes in one growing typed array: memory is
 * 8 bytes a path whatever its length, so a listing of millions of entries fits a small heap. Two
 * paths sharing a hash can only make a file be kept that should have gone, never the reverse.
 */
export class SnapshotPaths {
  private hashes = new BigUint64Array(4096);
  private count = 0;
  private sorted = true;

  add(relative: string): void {
    if (this.count === this.hashes.length) {
      const grown = new BigUint64Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.count++] = hash64(relative);
    this.sorted = false;
  }

  get size(): number {
    return this.count;
  }

  has(relative: string): boolean {
    if (!this.sorted) {
      this.hashes = this.hashes.slice(0, this.count).sort();
      this.sorted = true;
    }
    const wanted = hash64(relative);
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = this.hashes[mid]!;
      if (value === wanted) return true;
      if (value < wanted) low = mid + 1;
      else high = mid - 1;
    }
    return false;
  }
}

function hash64(text: string): bigint {
  return createHash('sha256').update(text).digest().readBigUInt64BE(0);
}

/**
 * One line of `kopia ls -r <id>`: "<id>/<relative path>", directories ending in "/". Returns the
 * relative path, or undefined for a line of any other shape: deleting on a listing that is not
 * understood could empty the volume.
 */
export function listingPath(line: string, snapshotId: string): string | undefined {
  const prefix = `${snapshotId}/`;
  if (!line.startsWith(prefix)) return undefined;
  const path = line.slice(prefix.length);
  return path.endsWith('/') ? path.slice(0, -1) : path;
}

export interface PruneResult {
  /** Entries removed (a removed directory counts once). */
  removed: number;
  /** Entries kept because they live on another filesystem (a mount point inside DATA_DIR). */
  otherDevice: number;
}

/**
 * Removes from `root` what a completed restore did not bring back. Only called after kopia
 * restored the selected snapshot successfully. Never follows a symlink (an unlisted one is removed
 * itself, a listed one is kept as it is) and never enters another filesystem: an entry whose
 * device differs from root's is kept and counted. The top-level lost+found stays, and so does any
 * name the listing cannot represent (a newline in it). Directories are read as a stream, so memory
 * does not grow with their size.
 */
export function removeExtras(root: string, keep: { has(relative: string): boolean }): PruneResult {
  const result: PruneResult = { removed: 0, otherDevice: 0 };
  const device = lstatSync(root).dev;

  /** Removes a whole subtree on root's filesystem; false when something in it had to stay. */
  const removeTree = (path: string, st: Stats): boolean => {
    if (st.dev !== device) {
      result.otherDevice++;
      return false;
    }
    if (!st.isDirectory()) {
      unlinkSync(path);
      return true;
    }
    let empty = true;
    forEachName(path, (name) => {
      const child = join(path, name);
      if (!removeTree(child, lstatSync(child))) empty = false;
    });
    if (empty) rmdirSync(path);
    return empty;
  };

  const visit = (relative: string) => {
    const dir = relative === '' ? root : join(root, relative);
    forEachName(dir, (name) => {
      if (relative === '' && name === 'lost+found') return;
      if (name.includes('\n')) return;
      const child = relative === '' ? name : `${relative}/${name}`;
      const path = join(root, child);
      const st = lstatSync(path);
      if (st.dev !== device) {
        result.otherDevice++;
        return;
      }
      if (!keep.has(child)) {
        if (removeTree(path, st)) result.removed++;
      } else if (st.isDirectory()) {
        visit(child);
      }
    });
  };
  visit('');
  return result;
}

/** Calls `each` for every name in a directory, reading it as a stream. */
function forEachName(dir: string, each: (name: string) => void): void {
  const handle = opendirSync(dir);
  try {
    for (let entry = handle.readSync(); entry !== null; entry = handle.readSync()) each(entry.name);
  } finally {
    handle.closeSync();
  }
}
