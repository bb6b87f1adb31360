import { lstatSync } from 'node:fs';
import { lsEntryLine, lsEntryPath, type LsEntryLine } from '../kopia/models/ls-listing.js';
import { names, shownPath, SnapshotListing } from '../operations/prune.js';

/** How many paths of each kind the plan names; the counts cover the rest. */
export const SHOWN_PATHS = 5;

/** One kind of change to DATA_DIR: how many entries, and the first few. */
export interface PathCount {
  count: number;
  first: string[];
}

export interface RestoreChanges {
  /** Entries of the snapshot DATA_DIR does not hold. */
  add: PathCount;
  /** Entries DATA_DIR holds that kopia writes over: every file and symlink the snapshot also holds, and anything of another type there. */
  replace: PathCount;
  /** Entries the snapshot does not hold (a folder counts once, as deletion counts it), lost+found and other filesystems aside. */
  extra: PathCount;
}

const SLASH = Buffer.from('/');

function counted(into: PathCount, path: Buffer): void {
  if (into.count++ < SHOWN_PATHS) into.first.push(shownPath(path));
}

/**
 * Compares a snapshot, as `kopia ls -r -l` lists it (fed line by line, the same reading as the
 * restore's), with DATA_DIR as it is now, read with lstat: a symlink in DATA_DIR is an entry
 * itself, never followed. Reads only.
 */
export class RestoreComparison {
  readonly listing: SnapshotListing;
  readonly changes: RestoreChanges = { add: { count: 0, first: [] }, replace: { count: 0, first: [] }, extra: { count: 0, first: [] } };
  private pending: LsEntryLine | undefined;

  constructor(
    snapshotId: string,
    private readonly root: Buffer,
  ) {
    this.listing = new SnapshotListing(snapshotId);
  }

  line(bytes: Buffer): void {
    this.listing.line(bytes);
    // An entry whose name holds a newline spans lines: it is compared once whole, as the listing reads it.
    const entry = lsEntryLine(bytes);
    if (entry !== undefined) {
      this.compare();
      this.pending = entry;
    } else if (this.pending !== undefined) {
      this.pending.path = Buffer.concat([this.pending.path, Buffer.from([0x0a]), bytes]);
    }
  }

  /** Once the listing ended: what the snapshot lacks of DATA_DIR. */
  async end(): Promise<RestoreChanges> {
    this.compare();
    this.listing.end();
    let device: bigint;
    try {
      device = lstatSync(this.root, { bigint: true }).dev;
    } catch {
      return this.changes;
    }
    await this.extras(Buffer.alloc(0), device);
    return this.changes;
  }

  private compare(): void {
    const entry = this.pending;
    this.pending = undefined;
    if (entry === undefined) return;
    const { kind, path } = lsEntryPath(entry);
    if (path.length === 0) return;
    let st;
    try {
      st = lstatSync(Buffer.concat([this.root, SLASH, path]));
    } catch {
      counted(this.changes.add, path);
      return;
    }
    if (kind !== 'directory' || !st.isDirectory()) counted(this.changes.replace, path);
  }

  private async extras(relative: Buffer, device: bigint): Promise<void> {
    const dir = relative.length === 0 ? this.root : Buffer.concat([this.root, SLASH, relative]);
    for await (const name of names(dir)) {
      if (relative.length === 0 && name.toString('latin1') === 'lost+found') continue;
      const child = relative.length === 0 ? name : Buffer.concat([relative, SLASH, name]);
      const st = lstatSync(Buffer.concat([dir, SLASH, name]), { bigint: true });
      // Deletion never crosses into another filesystem; neither does its forecast.
      if (st.dev !== device) continue;
      if (!this.listing.paths.has(child)) counted(this.changes.extra, child);
      else if (st.isDirectory() && this.listing.directories.has(child)) await this.extras(child, device);
    }
  }
}
