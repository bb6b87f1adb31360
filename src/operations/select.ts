import type { SnapshotManifest } from '../kopia/models/snapshot.js';

/** A snapshot as `kopia snapshot list --json` prints it (the fields we use), checked by its schema. */
export type SnapshotEntry = SnapshotManifest;

/** A snapshot kopia saved although entries could not be read (the backup itself failed). */
export function hasFatalErrors(s: SnapshotEntry): boolean {
  return (s.stats?.errorCount ?? 0) > 0;
}

/** A checkpoint or partial snapshot of a backup that was stopped or cut short: it lacks what came after. */
export function isIncomplete(s: SnapshotEntry): boolean {
  return s.incomplete !== undefined && s.incomplete !== '';
}

/**
 * Why a snapshot is not chosen on its own, if it is not, worded to follow "snapshot X is": restoring
 * it (worse, with deletion) would lose files.
 */
export function unrestorableReason(s: SnapshotEntry): string | undefined {
  if (isIncomplete(s)) return `incomplete (${s.incomplete}): its backup stopped before reading everything`;
  const errors = s.stats?.errorCount ?? 0;
  if (errors > 0) return `missing ${errors} entr${errors === 1 ? 'y' : 'ies'} its backup could not read`;
  return undefined;
}

/** `user@host:path`, as kopia names a source. */
export function sourceName(source: SnapshotEntry['source']): string {
  return `${source.userName}@${source.host}:${source.path}`;
}

export function sameSource(a: SnapshotEntry['source'], b: SnapshotEntry['source']): boolean {
  return a.userName === b.userName && a.host === b.host && a.path === b.path;
}

/** The snapshot a person named: by its ID, or by its root object ID (what kopia's own text list shows). */
export function namesSnapshot(s: SnapshotEntry, id: string): boolean {
  return s.id === id || s.rootEntry?.obj === id;
}

/** A snapshot's start time to the second, in UTC, e.g. 2026-12-02T10:16:53Z. */
export function shortTime(time: string): string {
  return new Date(time).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** One source of the repository: how many snapshots it holds and the newest one's start time. */
export interface SourceSummary {
  source: SnapshotEntry['source'];
  count: number;
  newest: SnapshotEntry;
}

/** The sources the snapshots belong to, the most recently backed up first. */
export function sourceSummaries(snapshots: Iterable<SnapshotEntry>): SourceSummary[] {
  const bySource = new Map<string, SourceSummary>();
  for (const s of snapshots) {
    const key = JSON.stringify([s.source.userName, s.source.host, s.source.path]);
    const known = bySource.get(key);
    if (!known) bySource.set(key, { source: s.source, count: 1, newest: s });
    else {
      known.count++;
      if (compareNewestFirst(s, known.newest) < 0) known.newest = s;
    }
  }
  return [...bySource.values()].sort((a, b) => compareNewestFirst(a.newest, b.newest));
}

export interface SelectionRules {
  asOf?: Date;
  shallow?: number;
  previous: number;
}

/** Nanoseconds within the second; kopia trims trailing zeros, so pad before comparing. */
function fractionNanos(time: string): number {
  const fraction = /\.(\d+)/.exec(time)?.[1] ?? '';
  return Number(fraction.slice(0, 9).padEnd(9, '0'));
}

/** kopia prints nanoseconds; Date keeps milliseconds, so equal milliseconds compare the fraction. */
export function compareNewestFirst(a: SnapshotEntry, b: SnapshotEntry): number {
  const seconds = (t: string) => Math.floor(Date.parse(t) / 1000);
  const diff = seconds(b.startTime) - seconds(a.startTime);
  if (diff !== 0) return diff;
  return fractionNanos(b.startTime) - fractionNanos(a.startTime);
}

export function snapshotsOf(all: readonly SnapshotEntry[], username: string, hostname: string, path: string): SnapshotEntry[] {
  return all
    .filter((s) => s.source.userName === username && s.source.host === hostname && s.source.path === path)
    .sort(compareNewestFirst);
}

/**
 * Applies the restore rules in the contract's order: as-of (an instant, not a
 * string), then the newest `shallow` of those, then skip `previous`.
 */
export function selectSnapshot(candidates: readonly SnapshotEntry[], rules: SelectionRules): SnapshotEntry | undefined {
  let eligible = [...candidates].sort(compareNewestFirst);
  if (rules.asOf) {
    const limit = rules.asOf.getTime();
    eligible = eligible.filter((s) => Date.parse(s.startTime) <= limit);
  }
  if (rules.shallow !== undefined && rules.shallow > 0) eligible = eligible.slice(0, rules.shallow);
  return eligible[rules.previous];
}

export function discoveryRecord(s: SnapshotEntry): string {
  return JSON.stringify({
    id: s.id,
    userName: s.source.userName,
    hostName: s.source.host,
    path: s.source.path,
    startTime: s.startTime,
    endTime: s.endTime ?? null,
  });
}
