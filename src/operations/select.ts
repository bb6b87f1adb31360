/** A snapshot as `kopia snapshot list --json` prints it (the fields we use). */
export interface SnapshotEntry {
  id: string;
  source: { host: string; userName: string; path: string };
  startTime: string;
  endTime?: string;
  stats?: { errorCount?: number };
  rootEntry?: { summ?: { files?: number; size?: number } };
}

/** A snapshot kopia saved although entries could not be read (the backup itself failed). */
export function hasFatalErrors(s: SnapshotEntry): boolean {
  return (s.stats?.errorCount ?? 0) > 0;
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
