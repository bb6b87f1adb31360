import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { forEachLine } from '../kopia/logs.js';
import type { CreatedSnapshot } from '../kopia/models/snapshot-create.js';
import type { SnapshotStats } from '../report/summary.js';
import type { AppliedRecord } from './state.js';

const count = z.number().int().nonnegative();

/** What this run's `snapshot create` wrote to the repository, from kopia's debug file log. */
export interface UploadFacts {
  /** Bytes of every blob kopia stored for the snapshot (data, metadata, index). */
  uploadedBytes: number;
  /** How many earlier snapshots of the source kopia compared the files with. */
  previousSnapshots?: number;
}

const blobSchema = z.object({ length: count, error: z.unknown().optional() });

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const PUT_BLOB = /\[STORAGE\] PutBlob\s+(\{.*\})\s*$/;
const UPLOADING = /\suploader uploading\s+.*"previousManifests":(\d+)/;
// kopia may run its own maintenance at the end of a snapshot: its writes are not the snapshot's.
const MAINTENANCE = /^\S+ [A-Z]+ maintenance /;

/**
 * Reads the upload figures from the snapshot's debug log (kopia's progress line rounds them and
 * stops counting before the last packs are written). Undefined when that log is not there
 * (the file log level is above debug).
 */
export function uploadFacts(logDir: string): UploadFacts | undefined {
  const dir = join(logDir, 'cli-logs');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.includes('-snapshot-create.')).sort();
  } catch {
    return undefined;
  }
  let uploadedBytes = 0;
  let previousSnapshots: number | undefined;
  let seen = false;
  for (const name of names) {
    let maintenance = false;
    forEachLine(join(dir, name), (line) => {
      if (maintenance || MAINTENANCE.test(line)) {
        maintenance = true;
        return;
      }
      const uploading = UPLOADING.exec(line);
      if (uploading) previousSnapshots = Number(uploading[1]);
      const put = PUT_BLOB.exec(line);
      if (!put) return;
      seen = true;
      const blob = blobSchema.safeParse(jsonOrUndefined(put[1]!));
      if (blob.success && !blob.data.error) uploadedBytes += blob.data.length;
    });
  }
  // A snapshot always stores at least its manifest: no write at all means the log held no debug lines.
  return seen ? { uploadedBytes, previousSnapshots } : undefined;
}

/** What `kopia diff` of the previous and the new snapshot found, counted from its lines. */
export interface FileChanges {
  added: number;
  changed: number;
}

/**
 * Counts one line of `kopia diff` output: `added file ./x (N bytes)` and
 * `changed ./x at <time> (size A -> B)`, which kopia prints for files whose content differs.
 * Entries whose metadata alone changed are not changed files: kopia stored no new content for them.
 */
export function countDiffLine(line: string, changes: FileChanges): void {
  if (/^added file .* \(\d+ bytes\)$/.test(line)) changes.added++;
  else if (/^changed .* at .* \(size \d+ -> \d+\)$/.test(line)) changes.changed++;
}

/** The last snapshot this cache took of the source. */
export interface PreviousSnapshot {
  root: string;
  files: number;
}

/** The state record (operations/state.ts) that holds the last snapshot this cache took of a source: its root and file count. */
export function lastSnapshotRecord(sourcePath: string): string {
  return `snapshot root ${sourcePath}`;
}

/** The record as a previous snapshot, if it holds one: an object ID (letters and digits, never a flag) and a count. */
export function previousSnapshot(record: AppliedRecord | undefined): PreviousSnapshot | undefined {
  const files = Number(record?.fields['files']);
  return record && /^[A-Za-z0-9]+$/.test(record.digest) && Number.isInteger(files) && files >= 0 ? { root: record.digest, files } : undefined;
}

/** What to record of a new snapshot for the next backup. */
export function snapshotRecord(manifest: CreatedSnapshot): AppliedRecord {
  return { digest: manifest.rootEntry.obj, targets: [], fields: { files: String(manifest.rootEntry.summ.files) } };
}

/**
 * The summary's file and upload figures from kopia's counters. They tell new files from changed
 * ones when kopia read none again, when it had no previous snapshot, or when it read again exactly
 * as many as the source gained since `previousFiles` (then none changed and none was removed).
 * Otherwise only a comparison with the previous snapshot can.
 */
export function snapshotFigures(manifest: CreatedSnapshot, upload: UploadFacts | undefined, previousFiles?: number): Partial<SnapshotStats> {
  const files = manifest.rootEntry.summ.files;
  const hashed = Math.min(manifest.stats.nonCachedFiles, files);
  const figures: Partial<SnapshotStats> = { unchangedFiles: files - hashed, uploadedBytes: upload?.uploadedBytes };
  if (hashed === 0 || upload?.previousSnapshots === 0 || hashed === files - (previousFiles ?? Number.NaN)) {
    return { ...figures, newFiles: hashed, changedFiles: 0 };
  }
  return { ...figures, newOrChangedFiles: hashed };
}

/** The figures once `kopia diff` has compared the new snapshot with the previous one. */
export function comparedFigures(files: number, changes: FileChanges): Partial<SnapshotStats> {
  return { newFiles: changes.added, changedFiles: changes.changed, unchangedFiles: Math.max(files - changes.added - changes.changed, 0), newOrChangedFiles: undefined };
}
