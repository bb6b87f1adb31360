import { createHash } from 'node:crypto';
import { lstatSync, opendirSync, rmdirSync, unlinkSync, type BigIntStats, type Dirent } from 'node:fs';
import { lsEntryLine, lsEntryPath, type LsEntryLine } from '../kopia/models/ls-listing.js';
import { byteKey } from './mounts.js';
import { identityOfStats, type ProtectedIdentities } from './identity.js';

/**
 * The relative paths of a snapshot, kept as 64-bit hashes in one growing typed array: memory is
 * 8 bytes a path whatever its length, so a listing of millions of entries fits a small heap. Two
 * paths sharing a hash can only make a file be kept that should have gone, never the reverse.
 * Paths are bytes: a name that is not UTF-8 matches only the very same bytes.
 */
export class SnapshotPaths {
  private hashes = new BigUint64Array(4096);
  private count = 0;
  private sorted = true;

  add(relative: Buffer | string): void {
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

  has(relative: Buffer | string): boolean {
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

function hash64(path: Buffer | string): bigint {
  return createHash('sha256').update(path).digest().readBigUInt64BE(0);
}

/**
 * The snapshot as `kopia ls -l -r <id>` prints it, read as raw bytes. kopia 0.22.3 stores a name that
 * is not UTF-8 with each bad byte replaced by U+FFFD, restores it under that name and lists it so:
 * the listing's bytes are exactly the restored names. A name holding a newline is printed as is, so
 * its entry spans lines; a line that is not an entry line continues the one before. A name in
 * DATA_DIR whose part after a newline reads as an entry line could be read either way: it is kept,
 * and counted (see `ambiguous`). The mode tells symlinks apart: kopia cannot restore one over a file.
 */
export class SnapshotListing {
  readonly paths = new SnapshotPaths();
  /** The directories alone: a restore walks DATA_DIR along them before kopia writes. */
  readonly directories = new SnapshotPaths();
  /** The symlinks alone: a file standing at one of them goes before kopia writes. */
  readonly symlinks = new SnapshotPaths();
  /** False once a line could not be understood: nothing is then deleted. */
  understood = true;
  private pending: LsEntryLine | undefined;

  constructor(readonly snapshotId: string) {}

  line(bytes: Buffer): void {
    if (!this.understood) return;
    const entry = lsEntryLine(bytes);
    if (entry !== undefined) {
      this.commit();
      this.pending = entry;
    } else if (this.pending !== undefined) {
      this.pending.path = Buffer.concat([this.pending.path, Buffer.from([0x0a]), bytes]);
    } else {
      this.understood = false;
    }
  }

  end(): void {
    this.commit();
  }

  /** A name kopia's listing cannot tell apart from two entries: it is never deleted. */
  ambiguous(name: Buffer): boolean {
    let at = name.indexOf(0x0a);
    for (; at >= 0; at = name.indexOf(0x0a, at + 1)) {
      if (lsEntryLine(name.subarray(at + 1)) !== undefined) return true;
    }
    return false;
  }

  private commit(): void {
    const entry = this.pending;
    this.pending = undefined;
    if (entry === undefined) return;
    const { kind, path } = lsEntryPath(entry);
    if (path.length === 0) return;
    this.paths.add(path);
    if (kind === 'directory') this.directories.add(path);
    else if (kind === 'symlink') this.symlinks.add(path);
  }
}

export interface PruneResult {
  /** Entries removed (a removed directory counts once). */
  removed: number;
  /** Entries kept because they live on another filesystem (a mount point inside DATA_DIR). */
  otherDevice: number;
  /** Names kept because the listing cannot tell whether the snapshot holds them. */
  ambiguous: number;
}

/** What stopped deletion halfway: a protected folder reached by another spelling. */
export class DeletionStopped extends Error {}

export interface PruneOptions {
  /** DATA_DIR's real path, as bytes. */
  root: Buffer;
  keep: { has(relative: Buffer): boolean };
  /** True for a name the listing cannot decide on (kept). */
  ambiguous?: (name: Buffer) => boolean;
  /** Mount points below root (byteKey of their absolute paths). */
  mounts: ReadonlySet<string>;
  guarded: Pick<ProtectedIdentities, 'reason'>;
  /** Checked between entries: once aborted, the walk throws its reason. */
  stop?: AbortSignal;
  /** Receives what was deleted, a batch at a time, so a stop leaves a complete record. */
  onRemoved?: (paths: string[]) => void;
  /** Entries handled between two yields to the event loop (signals are heard there). */
  batch?: number;
}

const SLASH = Buffer.from('/');

function joinBytes(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name]);
}

/** A name for the log: bytes that are not printable UTF-8 are shown as \xNN. */
export function shownPath(path: Buffer): string {
  const text = path.toString('utf8');
  if (Buffer.from(text).equals(path) && !/[\u0000-\u001f\u007f]/.test(text)) return text;
  let out = '';
  for (const byte of path) out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return out;
}

/**
 * Removes from root what a completed restore did not bring back. Names are bytes throughout (no
 * name is lost, kept or matched by a lossy decoding). Never follows a symlink (an unlisted one is
 * removed itself, a listed one kept), never enters a mount point (one in /proc/self/mountinfo, a
 * same-device bind mount included, or any change of device): those are kept and counted. Every
 * directory it would enter or remove is compared by identity with the repository, the caches and
 * the run folder and their ancestors; meeting one stops deletion (DeletionStopped) with what it is.
 * The top-level lost+found stays. Directories are read as a stream, and the walk yields to the
 * event loop every `batch` entries, checking the stop signal before each entry.
 */
export async function removeExtras(options: PruneOptions): Promise<PruneResult> {
  return new Pruner(options).run();
}

class Pruner {
  readonly result: PruneResult = { removed: 0, otherDevice: 0, ambiguous: 0 };
  private readonly device: bigint;
  private sinceYield = 0;
  private removedBatch: string[] = [];

  constructor(private readonly options: PruneOptions) {
    this.device = lstatSync(options.root, { bigint: true }).dev;
  }

  async run(): Promise<PruneResult> {
    try {
      await this.visit(Buffer.alloc(0));
    } finally {
      this.flush();
    }
    return this.result;
  }

  /** Between entries: a requested stop ends the walk; now and then the event loop gets a turn. */
  private async step(): Promise<void> {
    this.checkStop();
    if (++this.sinceYield >= (this.options.batch ?? 256)) {
      this.sinceYield = 0;
      this.flush();
      await new Promise((resolve) => setImmediate(resolve));
      this.checkStop();
    }
  }

  private checkStop(): void {
    const stop = this.options.stop;
    if (stop?.aborted) throw stop.reason instanceof Error ? stop.reason : new Error('stopped');
  }

  private flush(): void {
    if (this.removedBatch.length > 0) this.options.onRemoved?.(this.removedBatch);
    this.removedBatch = [];
  }

  private absolute(relative: Buffer): Buffer {
    return relative.length === 0 ? this.options.root : joinBytes(this.options.root, relative);
  }

  /** An entry the walk must not enter or remove: a mount point, also of a single file (kept), or a protected folder (stop). */
  private foreign(path: Buffer, st: BigIntStats): boolean {
    const protectedAs = st.isDirectory() ? this.options.guarded.reason(identityOfStats(st)) : undefined;
    if (protectedAs !== undefined) {
      throw new DeletionStopped(`${shownPath(path)} is ${protectedAs} (the same folder by device and inode)`);
    }
    const mounts = this.options.mounts;
    return st.dev !== this.device || (mounts.size > 0 && mounts.has(byteKey(path)));
  }

  private async visit(relative: Buffer): Promise<void> {
    const { keep, ambiguous } = this.options;
    for await (const name of names(this.absolute(relative))) {
      await this.step();
      if (relative.length === 0 && name.toString('latin1') === 'lost+found') continue;
      const child = relative.length === 0 ? name : joinBytes(relative, name);
      const path = this.absolute(child);
      const st = lstatIfThere(path);
      if (st === undefined) continue;
      if (this.foreign(path, st)) {
        this.result.otherDevice++;
      } else if (keep.has(child)) {
        if (st.isDirectory()) await this.visit(child);
      } else if (ambiguous?.(name)) {
        this.result.ambiguous++;
      } else if (await this.removeInterruptible(child, path, st)) {
        this.result.removed++;
        this.removedBatch.push(shownPath(child));
      }
    }
  }

  /** removeTree, and a stop or refusal halfway through a subtree is recorded as such. */
  private async removeInterruptible(child: Buffer, path: Buffer, st: BigIntStats): Promise<boolean> {
    try {
      return await this.removeTree(path, st);
    } catch (error) {
      if (st.isDirectory()) this.removedBatch.push(`${shownPath(child)} (in part: stopped inside it)`);
      throw error;
    }
  }

  /** Removes a whole subtree on root's filesystem; false when something in it had to stay. */
  async removeTree(path: Buffer, st: BigIntStats): Promise<boolean> {
    if (this.foreign(path, st)) {
      this.result.otherDevice++;
      return false;
    }
    if (!st.isDirectory()) {
      unlinkSync(path);
      return true;
    }
    let empty = true;
    for await (const name of names(path)) {
      await this.step();
      const child = joinBytes(path, name);
      const childStats = lstatIfThere(child);
      if (childStats !== undefined && !(await this.removeTree(child, childStats))) empty = false;
    }
    if (empty) rmdirSync(path);
    return empty;
  }
}

/** An entry's stats, or undefined when it went away since its folder was read (the application still runs). */
function lstatIfThere(path: Buffer): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The names in a directory, as bytes, read as a stream. */
export async function* names(dir: Buffer): AsyncGenerator<Buffer> {
  const handle = opendirSync(dir, { encoding: 'buffer' } as unknown as { encoding: 'utf8' });
  try {
    for (let entry = handle.readSync(); entry !== null; entry = handle.readSync()) yield (entry as unknown as Dirent<Buffer>).name;
  } finally {
    handle.closeSync();
  }
}
