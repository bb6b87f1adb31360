import { Gauge, Registry } from 'prom-client';
import type { ReportedIdentity } from '../config/parse.js';
import type { RunSummary } from './summary.js';

/** The Pushgateway job every run pushes under. */
export const METRICS_JOB = 'kopia_mover';

/**
 * How long a push may take, connecting included. A pod stopped by SIGTERM has 30 s before it is
 * killed and kopia gets most of it (the signal grace, 20 s by default); the push must fit in what
 * is left, and an unreachable gateway must never hold a run back for long.
 */
export const PUSH_TIMEOUT_MS = 5000;

/** The run whose result is pushed: which operation, whose, and how it ended. */
export interface RunMetrics {
  operation: string;
  identity: ReportedIdentity;
  summary: RunSummary;
}

/**
 * The families of each set. A push is a POST, which replaces in the run's group only the families
 * it carries: every run carries the whole `lastRun` set, so none of it outlives the run that set
 * it; only a successful run carries `lastSuccess`, and only a run that saved a snapshot carries
 * `lastSnapshot`, so a failed run leaves both as the last good run left them (an alert on snapshot
 * age keeps working through failures).
 */
export const METRIC_SETS = {
  lastRun: [
    'kopia_mover_last_run_start_timestamp_seconds',
    'kopia_mover_last_run_end_timestamp_seconds',
    'kopia_mover_last_run_duration_seconds',
    'kopia_mover_last_run_success',
    'kopia_mover_last_run_exit_code',
    'kopia_mover_last_run_failure_info',
    'kopia_mover_last_run_warnings',
    'kopia_mover_last_run_peak_memory_bytes',
  ],
  lastSuccess: ['kopia_mover_last_success_timestamp_seconds', 'kopia_mover_last_success_duration_seconds'],
  lastSnapshot: [
    'kopia_mover_last_snapshot_timestamp_seconds',
    'kopia_mover_last_snapshot_info',
    'kopia_mover_last_snapshot_files',
    'kopia_mover_last_snapshot_bytes',
    'kopia_mover_last_snapshot_errors',
    'kopia_mover_last_snapshot_expired_snapshots',
  ],
  lastRestore: ['kopia_mover_last_restored_snapshot_info', 'kopia_mover_last_restored_snapshot_timestamp_seconds'],
  lastMaintenance: ['kopia_mover_last_maintenance_duration_seconds'],
} as const;

const seconds = (ms: number) => ms / 1000;

/** A gauge of `registry` set to one value per label set; entries with an undefined value are left out. */
function gauge(registry: Registry, name: string, help: string, samples: [Record<string, string>, number | undefined][]): void {
  const labelNames = Object.keys(samples[0]?.[0] ?? {});
  const g = new Gauge({ name, help, labelNames, registers: [registry] });
  for (const [labels, value] of samples) if (value !== undefined) g.set(labels, value);
}

/** What every run pushes: how it went, replacing the previous run's. */
function lastRunFamilies(registry: Registry, { summary }: RunMetrics, endedMs: number): void {
  const startedMs = summary.startedAtMs ?? endedMs;
  gauge(registry, 'kopia_mover_last_run_start_timestamp_seconds', 'When the last run started (Unix time).', [[{}, seconds(startedMs)]]);
  gauge(registry, 'kopia_mover_last_run_end_timestamp_seconds', 'When the last run ended (Unix time).', [[{}, seconds(endedMs)]]);
  gauge(registry, 'kopia_mover_last_run_duration_seconds', 'How long the last run took.', [[{}, summary.durationSeconds]]);
  gauge(registry, 'kopia_mover_last_run_success', '1 when the last run succeeded, else 0.', [[{}, summary.result === 'SUCCESS' ? 1 : 0]]);
  gauge(registry, 'kopia_mover_last_run_exit_code', "The last run's exit code.", [[{}, summary.exitCode]]);
  const failureClass = summary.result === 'FAILURE' ? (summary.failure?.class ?? 'Unknown') : 'none';
  gauge(registry, 'kopia_mover_last_run_failure_info', "The last run's failure class (none when it succeeded); the value is 1.", [[{ class: failureClass }, 1]]);
  gauge(registry, 'kopia_mover_last_run_warnings', 'How many warnings the last run reported.', [[{}, summary.warnings.length]]);
  gauge(registry, 'kopia_mover_last_run_peak_memory_bytes', "The mover process's peak resident memory in the last run.", [[{}, summary.peakMemoryBytes]]);
}

/** What a successful run pushes besides: when it ended, kept through failed runs. */
function lastSuccessFamilies(registry: Registry, { summary }: RunMetrics, endedMs: number): void {
  gauge(registry, 'kopia_mover_last_success_timestamp_seconds', 'When the last successful run ended (Unix time).', [[{}, seconds(endedMs)]]);
  gauge(registry, 'kopia_mover_last_success_duration_seconds', 'How long the last successful run took.', [[{}, summary.durationSeconds]]);
}

/** The figures of the snapshot a backup saved, kept until the next backup saves one. */
function lastSnapshotFamilies(registry: Registry, { summary }: RunMetrics): void {
  const s = summary.snapshot;
  if (s === undefined) return;
  const started = s.startTime === undefined ? undefined : Date.parse(s.startTime);
  gauge(registry, 'kopia_mover_last_snapshot_timestamp_seconds', 'When kopia started the last snapshot saved (Unix time).', [[{}, started === undefined ? undefined : seconds(started)]]);
  gauge(registry, 'kopia_mover_last_snapshot_info', "The last snapshot saved, by kopia's snapshot ID; the value is 1.", [[{ snapshot_id: s.id }, 1]]);
  gauge(registry, 'kopia_mover_last_snapshot_files', 'Files in the last snapshot: all of them, and those new, changed, new or changed (when kopia cannot tell which), unchanged.', [
    [{ kind: 'total' }, s.files],
    [{ kind: 'new' }, s.newFiles],
    [{ kind: 'changed' }, s.changedFiles],
    [{ kind: 'new_or_changed' }, s.newOrChangedFiles],
    [{ kind: 'unchanged' }, s.unchangedFiles],
  ]);
  gauge(registry, 'kopia_mover_last_snapshot_bytes', 'Bytes of the last snapshot: its whole size, and what kopia uploaded for it.', [
    [{ kind: 'total' }, s.bytes],
    [{ kind: 'uploaded' }, s.uploadedBytes],
  ]);
  gauge(registry, 'kopia_mover_last_snapshot_errors', 'Entries kopia could not read in the last snapshot.', [[{}, s.errors]]);
  gauge(registry, 'kopia_mover_last_snapshot_expired_snapshots', 'Older snapshots retention expired when the last snapshot was saved.', [[{}, s.expiredSnapshots ?? 0]]);
}

/** The snapshot a restore wrote, kept until the next restore writes one. */
function lastRestoreFamilies(registry: Registry, { summary }: RunMetrics): void {
  const r = summary.restoredSnapshot;
  if (r === undefined || summary.result !== 'SUCCESS') return;
  gauge(registry, 'kopia_mover_last_restored_snapshot_info', "The snapshot the last successful restore wrote, by kopia's snapshot ID; the value is 1.", [[{ snapshot_id: r.id }, 1]]);
  gauge(registry, 'kopia_mover_last_restored_snapshot_timestamp_seconds', 'When kopia started the snapshot the last successful restore wrote (Unix time).', [[{}, seconds(Date.parse(r.startTime))]]);
}

/** A maintenance run always runs the quick cycle and then the full one: its duration is the full cycle's. */
function lastMaintenanceFamilies(registry: Registry, { operation, summary }: RunMetrics): void {
  if (operation !== 'maintenance' || summary.maintenance?.status !== 'SUCCESS') return;
  gauge(registry, 'kopia_mover_last_maintenance_duration_seconds', 'How long the last successful maintenance took, by kind (full: quick and full cycles).', [[{ kind: 'full' }, summary.durationSeconds]]);
}

/** The exposition text of what this run pushes, in Prometheus' text format. */
export async function runMetricsText(run: RunMetrics, endedMs = run.summary.endedAtMs ?? Date.now()): Promise<string> {
  const registry = new Registry();
  lastRunFamilies(registry, run, endedMs);
  if (run.summary.result === 'SUCCESS') lastSuccessFamilies(registry, run, endedMs);
  lastSnapshotFamilies(registry, run);
  lastRestoreFamilies(registry, run);
  lastMaintenanceFamilies(registry, run);
  return registry.metrics();
}

/**
 * The group's path under the gateway: the job, then the operation and the identity. Each value is
 * written in the gateway's base64 form, the one spelling that carries any value (a path's slashes,
 * an empty path) in a URL segment.
 */
export function groupPath({ operation, identity }: Pick<RunMetrics, 'operation' | 'identity'>): string {
  const labels: [string, string][] = [
    ['operation', operation],
    ['username', identity.username],
    ['hostname', identity.hostname],
    ['source_path', identity.sourcePath],
  ];
  const encoded = labels.map(([name, value]) => `${name}@base64/${value === '' ? '=' : Buffer.from(value).toString('base64url')}`);
  return `metrics/job/${METRICS_JOB}/${encoded.join('/')}`;
}

/** The gateway's address without its credentials, as messages name it. */
export function gatewayName(gateway: string): string {
  const url = new URL(gateway);
  url.username = '';
  url.password = '';
  return url.toString();
}

/** Why a push failed, in words that name no credential: fetch's own message says only "fetch failed". */
function pushFailure(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${PUSH_TIMEOUT_MS / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/**
 * Pushes the run's metrics to the gateway (a POST: see METRIC_SETS), within PUSH_TIMEOUT_MS.
 * Returns the warning to report when the push failed, undefined when it went through. Credentials
 * in the gateway's URL go into the Authorization header (fetch refuses a URL that holds them).
 */
export async function pushRunMetrics(gateway: string, run: RunMetrics): Promise<string | undefined> {
  const where = `${gatewayName(gateway)} (job ${METRICS_JOB})`;
  try {
    const target = new URL(groupPath(run), gatewayName(gateway).replace(/\/*$/, '/'));
    const body = await runMetricsText(run);
    const response = await fetch(target, { method: 'POST', headers: pushHeaders(gateway), body, signal: AbortSignal.timeout(PUSH_TIMEOUT_MS) });
    const answer = (await response.text()).trim().slice(0, 200);
    if (response.ok) return undefined;
    return `metrics not pushed to ${where}: HTTP ${response.status}${answer ? ` ${answer}` : ''}`;
  } catch (error) {
    return `metrics not pushed to ${where}: ${pushFailure(error)}`;
  }
}

/** The request's headers: the text format, and basic authentication from the URL's user and password. */
function pushHeaders(gateway: string): Record<string, string> {
  const url = new URL(gateway);
  const headers: Record<string, string> = { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' };
  if (url.username === '' && url.password === '') return headers;
  // A stray % is taken as it is written rather than failing the push.
  const decoded = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  headers['authorization'] = `Basic ${Buffer.from(`${decoded(url.username)}:${decoded(url.password)}`).toString('base64')}`;
  return headers;
}
