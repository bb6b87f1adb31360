import { parseGoDurationMs } from '../text.js';

/**
 * kopia 0.22.3's in-place progress lines, as typed values. kopia prints them on stderr, each
 * started by a carriage return, about every 300 ms; its percentage and time left appear only
 * once kopia has an estimate of the total and has been running for more than a second.
 *
 *   snapshot create:  " / 1 hashing, 3424 hashed (9 MB), 0 cached (0 B), uploaded 186 B, estimating..."
 *                     " | 0 hashing, 14170 hashed (37.1 MB), 0 cached (0 B), uploaded 21.2 MB, estimated 52.4 MB (70.8%) 0s left"
 *   snapshot restore: "Processed 734 (1.7 MB) of 20100 (52.4 MB)."
 *                     "Processed 3891 (9.9 MB) of 20100 (52.4 MB) 8.3 MB/s (19.0%) remaining 4s."
 */

/** kopia's own estimate: how far along, and the time it expects is left. */
export interface ProgressEstimate {
  percent: number;
  remainingSeconds: number;
}

export interface SnapshotProgress {
  kind: 'snapshot';
  hashingFiles: number;
  hashedFiles: number;
  hashedBytes: number;
  cachedFiles: number;
  cachedBytes: number;
  uploadedBytes: number;
  fatalErrors: number;
  ignoredErrors: number;
  /** kopia marks its last update of a snapshot with "*" in place of the spinner. */
  finished: boolean;
  estimate?: ProgressEstimate & { totalBytes: number };
}

export interface RestoreProgress {
  kind: 'restore';
  /** Entries (files, directories, links) restored or skipped so far. */
  doneEntries: number;
  restoredBytes: number;
  /** Entries and bytes kopia has found to restore so far; they grow while it walks the snapshot. */
  queuedEntries: number;
  queuedBytes: number;
  skippedEntries: number;
  skippedBytes: number;
  ignoredErrors: number;
  estimate?: ProgressEstimate & { bytesPerSecond: number };
}

export type KopiaProgress = SnapshotProgress | RestoreProgress;

const PREFIX_POWER: Record<string, number> = { '': 0, K: 1, M: 2, G: 3, T: 4, P: 5, E: 6 };

/**
 * A size as kopia prints it: "0 B", "9 MB", "52.4 MB", or in powers of two ("1.5 GiB") when
 * KOPIA_BYTES_STRING_BASE_2 is set. Rounded to whole bytes: kopia itself printed one decimal.
 */
export function parseKopiaBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ([KMGTPE]?)(i?)B$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (m[3] ? 1024 : 1000) ** (PREFIX_POWER[m[2] ?? ''] ?? 0));
}

const SIZE = String.raw`\d+(?:\.\d+)? [KMGTPE]?i?B`;

const SNAPSHOT_LINE = new RegExp(
  String.raw`^ ?([|/\\*-]) (\d+) hashing, (\d+) hashed \((${SIZE})\), (\d+) cached \((${SIZE})\), uploaded (${SIZE})` +
    String.raw`(?: \((\d+) fatal errors\))?(?: \((\d+) errors ignored\))?` +
    String.raw`(?:, estimating\.\.\.|, estimated (${SIZE}) \((\d+(?:\.\d+)?)%\) (\S+) left)$`,
);

const RESTORE_LINE = new RegExp(
  String.raw`^Processed (\d+) \((${SIZE})\) of (\d+) \((${SIZE})\)` +
    String.raw`(?:, skipped (\d+) \((${SIZE})\))?(?:, ignored (\d+) errors)?` +
    String.raw`(?: (${SIZE})/s \((\d+(?:\.\d+)?)%\) remaining (\S+))?\.$`,
);

function seconds(duration: string): number | undefined {
  const ms = parseGoDurationMs(duration);
  return ms === undefined ? undefined : ms / 1000;
}

/** Numbers the patterns matched: digits, so always finite. */
function count(text: string | undefined): number {
  return text === undefined ? 0 : Number(text);
}

function bytes(text: string | undefined): number {
  return text === undefined ? 0 : (parseKopiaBytes(text) ?? 0);
}

function snapshotProgress(m: RegExpExecArray): SnapshotProgress | undefined {
  const progress: SnapshotProgress = {
    kind: 'snapshot',
    hashingFiles: count(m[2]),
    hashedFiles: count(m[3]),
    hashedBytes: bytes(m[4]),
    cachedFiles: count(m[5]),
    cachedBytes: bytes(m[6]),
    uploadedBytes: bytes(m[7]),
    fatalErrors: count(m[8]),
    ignoredErrors: count(m[9]),
    finished: m[1] === '*',
  };
  if (m[10] === undefined) return progress;
  const remainingSeconds = seconds(m[12] ?? '');
  if (remainingSeconds === undefined) return undefined;
  return { ...progress, estimate: { totalBytes: bytes(m[10]), percent: Number(m[11]), remainingSeconds } };
}

function restoreProgress(m: RegExpExecArray): RestoreProgress | undefined {
  const progress: RestoreProgress = {
    kind: 'restore',
    doneEntries: count(m[1]),
    restoredBytes: bytes(m[2]),
    queuedEntries: count(m[3]),
    queuedBytes: bytes(m[4]),
    skippedEntries: count(m[5]),
    skippedBytes: bytes(m[6]),
    ignoredErrors: count(m[7]),
  };
  if (m[8] === undefined) return progress;
  const remainingSeconds = seconds(m[10] ?? '');
  if (remainingSeconds === undefined) return undefined;
  return { ...progress, estimate: { bytesPerSecond: bytes(m[8]), percent: Number(m[9]), remainingSeconds } };
}

/**
 * One progress line of `snapshot create` or `snapshot restore`, without its carriage return;
 * undefined for any other line. kopia pads a line shorter than the one before it with spaces.
 */
export function parseProgressLine(line: string): KopiaProgress | undefined {
  const text = line.trimEnd();
  const snapshot = SNAPSHOT_LINE.exec(text);
  if (snapshot) return snapshotProgress(snapshot);
  const restore = RESTORE_LINE.exec(text);
  return restore ? restoreProgress(restore) : undefined;
}

/** What a person wants to know of either kind: how much is done, and of what. */
export interface ProgressCounts {
  operation: 'backup' | 'restore';
  /** Files read (backup) or entries written (restore). */
  items: number;
  bytes: number;
  /** The total kopia knows of so far: its estimate (backup) or what it has queued (restore). */
  totalBytes?: number;
  totalItems?: number;
  estimate?: ProgressEstimate;
}

export function progressCounts(progress: KopiaProgress): ProgressCounts {
  if (progress.kind === 'snapshot') {
    const { estimate } = progress;
    return {
      operation: 'backup',
      items: progress.hashedFiles + progress.cachedFiles,
      bytes: progress.hashedBytes + progress.cachedBytes,
      totalBytes: estimate?.totalBytes,
      estimate: estimate && { percent: estimate.percent, remainingSeconds: estimate.remainingSeconds },
    };
  }
  const { estimate } = progress;
  return {
    operation: 'restore',
    items: progress.doneEntries,
    // kopia's percentage counts restored bytes only.
    bytes: progress.restoredBytes,
    // kopia counts the root folder as done but never as queued: the total is at least what is done.
    totalBytes: Math.max(progress.queuedBytes, progress.restoredBytes),
    totalItems: Math.max(progress.queuedEntries, progress.doneEntries),
    estimate: estimate && { percent: estimate.percent, remainingSeconds: estimate.remainingSeconds },
  };
}
