import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { forEachLine } from '../kopia/logs.js';
import type { CreatedSnapshot } from '../kopia/models/snapshot-create.js';
import { diffLineChange } from '../kopia/models/diff.js';
import { snapshotLogLine } from '../kopia/models/snapshot-log.js';
import type { SnapshotStats } from '../report/summary.js';
import type { AppliedRecord } from './state.js';

/** What this run's `snapshot create` wrote to the repository, from kopia's debug file log. */
export interface UploadFacts {
  /** Bytes of every blob kopia stored for the snapshot (data, metadata, index). */
  uploadedBytes: number;
  /** How many earlier snapshots of the source kopia compared the files with. */
  previousSnapshots?: number;
}

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
      if (maintenance) return;
      const said = snapshotLogLine(line);
      // kopia may run its own maintenance at the end of a snapshot: its writes are not the snapshot's.
      if (said?.kind === 'maintenance') maintenance = true;
      else if (said?.kind === 'uploading') previousSnapshots = said.previousManifests;
      else if (said?.kind === 'stored') {
        seen = true;
        uploadedBytes += said.bytes ?? 0;
      }
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
 * Counts one line of `kopia diff` output. Entries whose metadata alone changed are not changed
 * files: kopia stored no new content for them.
 */
export function countDiffLine(line: string, changes: FileChanges): void {
  const change = diffLineChange(line);
  if (change !== undefined) changes[change]++;
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
