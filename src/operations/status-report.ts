import type { EffectivePolicy } from '../kopia/models/effective-policy.js';
import type { MaintenanceSchedule, MaintenanceTaskRun } from '../kopia/models/maintenance-schedule.js';
import type { RepositoryStatus } from '../kopia/models/repository-status.js';
import { compareNewestFirst, isIncomplete, sourceName, type SnapshotEntry } from './select.js';
import type { ListingScope } from './snapshots.js';

/** One identity of the report: a source the repository holds snapshots of, or the run's own that holds none. */
export interface ReportedIdentity {
  /** `user@host:path`, or `user@host` when the identity has no snapshot and no path was given. */
  source: string;
  userName: string;
  hostName: string;
  path: string | null;
  /** Complete snapshots: those a restore selects by time. */
  snapshots: number;
  /** Checkpoints and partial snapshots a stopped backup left. */
  incomplete: number;
  newest: { id: string; startTime: string; endTime: string | null; size: number | null } | null;
  oldest: { id: string; startTime: string } | null;
  /** Seconds from the newest complete snapshot's start to the report. */
  ageSeconds: number | null;
  /** The newest complete snapshot is older than the maximum age, or there is none. */
  stale: boolean;
  /** The retention in force for the source: kopia's effective policy, null for a count not set. */
  retention: Record<(typeof RETENTION_KEYS)[number], number | null>;
}

export const RETENTION_KEYS = ['keepLatest', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepAnnual'] as const;

/** The last run of a maintenance cycle: its newest task record. */
export interface CycleRun {
  task: string;
  start: string;
  end: string;
  success: boolean;
  error: string | null;
}

export interface ReportedCycle {
  enabled: boolean;
  intervalSeconds: number;
  lastRun: CycleRun | null;
  /** When kopia runs the cycle next; null when it is due at the next maintenance run (or off). */
  nextDue: string | null;
}

export interface StatusReport {
  /** No identity is stale. */
  healthy: boolean;
  checkedAt: string;
  maxAgeSeconds: number | null;
  /** One sentence for each stale identity, naming it and saying how old. */
  problems: string[];
  identities: ReportedIdentity[];
  repository: {
    storageType: string;
    formatVersion: number;
    indexVersion: number | null;
    hash: string;
    encryption: string;
    /** Null when the storage cannot tell (object stores). */
    freeSpace: { availableBytes: number; capacityBytes: number } | null;
    maintenance: { owner: string | null; quick: ReportedCycle; full: ReportedCycle };
  };
}

/** An identity to report on, before kopia's policies are read: the target `kopia policy show` takes for it. */
export interface IdentityGroup {
  target: string;
  userName: string;
  hostName: string;
  path: string | null;
  snapshots: SnapshotEntry[];
}

/**
 * The identities of the report: every source the listing kept, by name; and without `--all`, the
 * run's own identity even when it holds no snapshot (that is the finding a probe is for).
 */
export function identityGroups(scope: ListingScope, kept: readonly SnapshotEntry[]): IdentityGroup[] {
  const groups = new Map<string, IdentityGroup>();
  for (const s of kept) {
    const target = sourceName(s.source);
    const group = groups.get(target) ?? { target, userName: s.source.userName, hostName: s.source.host, path: s.source.path, snapshots: [] };
    group.snapshots.push(s);
    groups.set(target, group);
  }
  if (groups.size === 0 && !scope.all) {
    const target = scope.path === undefined ? `${scope.userName}@${scope.host}` : `${scope.userName}@${scope.host}:${scope.path}`;
    return [{ target, userName: scope.userName, hostName: scope.host, path: scope.path ?? null, snapshots: [] }];
  }
  return [...groups.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

/** A length of time as a person reads it: `3d 4h`, `26h 5m`, `12m`, `40s`. */
export function ageText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return m > 0 ? `${m}m` : `${s}s`;
}

export function reportedIdentity(group: IdentityGroup, policy: EffectivePolicy | undefined, now: number, maxAgeMs: number | undefined): ReportedIdentity {
  const complete = group.snapshots.filter((s) => !isIncomplete(s)).sort(compareNewestFirst);
  const newest = complete[0];
  const oldest = complete[complete.length - 1];
  const ageMs = newest === undefined ? undefined : now - Date.parse(newest.startTime);
  const retention = Object.fromEntries(RETENTION_KEYS.map((key) => [key, policy?.retention?.[key] ?? null])) as ReportedIdentity['retention'];
  return {
    source: group.target,
    userName: group.userName,
    hostName: group.hostName,
    path: group.path,
    snapshots: complete.length,
    incomplete: group.snapshots.length - complete.length,
    newest: newest === undefined ? null : { id: newest.id, startTime: newest.startTime, endTime: newest.endTime ?? null, size: newest.rootEntry?.summ?.size ?? newest.stats?.totalSize ?? null },
    oldest: oldest === undefined ? null : { id: oldest.id, startTime: oldest.startTime },
    ageSeconds: ageMs === undefined ? null : Math.floor(ageMs / 1000),
    stale: ageMs === undefined || (maxAgeMs !== undefined && ageMs > maxAgeMs),
    retention,
  };
}

/** Why an identity is stale, naming it and saying how old, for the report and the log. */
export function staleProblem(identity: ReportedIdentity, maxAge: { ms: number; name: string; text: string } | undefined): string | undefined {
  if (!identity.stale) return undefined;
  if (identity.newest === null) {
    return identity.incomplete > 0
      ? `${identity.source} has no complete snapshot (${identity.incomplete} incomplete)`
      : `${identity.source} has no snapshot`;
  }
  const age = ageText((identity.ageSeconds ?? 0) * 1000);
  return `${identity.source}: the newest snapshot (${identity.newest.id}, ${identity.newest.startTime}) is ${age} old, older than ${maxAge?.name} ${maxAge?.text}`;
}

/**
 * Tasks that only a full cycle runs. A full cycle runs the quick tasks as well, so the last quick
 * run may be part of the last full one.
 */
const FULL_ONLY_TASKS = new Set([
  'snapshot-gc',
  'full-rewrite-contents',
  'full-drop-deleted-content',
  'full-delete-blobs',
  'extend-blob-retention-time',
  'generate-epoch-range-index',
  'cleanup-epoch-markers',
  'delete-superseded-epoch-indexes',
]);

/** Go's zero time, which kopia prints for "never scheduled". */
const isZeroTime = (t: string) => Date.parse(t) <= Date.parse('0001-01-02T00:00:00Z');

/** The newest task record of a cycle's tasks, by start. */
function lastRun(runs: Record<string, MaintenanceTaskRun[]> | null | undefined, full: boolean): CycleRun | null {
  let newest: CycleRun | null = null;
  for (const [task, records] of Object.entries(runs ?? {})) {
    if (FULL_ONLY_TASKS.has(task) !== full) continue;
    for (const r of records) {
      if (newest === null || Date.parse(r.start) > Date.parse(newest.start)) newest = { task, start: r.start, end: r.end, success: r.success === true, error: r.error ?? null };
    }
  }
  return newest;
}

function reportedCycle(info: MaintenanceSchedule, full: boolean): ReportedCycle {
  const cycle = full ? info.full : info.quick;
  const next = full ? info.schedule.nextFullMaintenance : info.schedule.nextQuickMaintenance;
  return {
    enabled: cycle.enabled,
    intervalSeconds: Math.round(cycle.interval / 1e9),
    lastRun: lastRun(info.schedule.runs, full),
    nextDue: cycle.enabled && !isZeroTime(next) ? next : null,
  };
}

/** The repository's part of the report: format, free space and maintenance. */
export function reportedRepository(status: RepositoryStatus, info: MaintenanceSchedule, localSpace: { availableBytes: number; capacityBytes: number } | undefined): StatusReport['repository'] {
  const volume = status.volume === undefined ? localSpace ?? null : { availableBytes: status.volume.available, capacityBytes: status.volume.capacity };
  return {
    storageType: status.storage.type,
    formatVersion: status.contentFormat.version,
    indexVersion: status.contentFormat.indexVersion ?? null,
    hash: status.contentFormat.hash,
    encryption: status.contentFormat.encryption,
    freeSpace: volume,
    maintenance: { owner: info.owner === '' ? null : info.owner, quick: reportedCycle(info, false), full: reportedCycle(info, true) },
  };
}
