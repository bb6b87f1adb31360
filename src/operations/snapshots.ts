import { join } from 'node:path';
import type { EnvMap } from '../env.js';
import { listingSourcePath, parseConfig, type InputNames, type MoverConfig } from '../config/parse.js';
import { ExitCode } from '../errors.js';
import { loadFacts, type Facts } from '../facts.js';
import type { SecretFile } from '../kopia/command.js';
import { environmentSecrets, kopiaEnvironment, secretValues } from '../kopia/environment.js';
import { globalFlags, kopiaPaths } from '../kopia/global-flags.js';
import { locateKopia } from '../kopia/locate.js';
import { SnapshotListReader } from '../kopia/models/snapshot.js';
import { RUN_DIR_PREFIX, type RunDir } from '../kopia/run-dir.js';
import { KopiaRunner } from '../kopia/runner.js';
import { execute } from '../plan/executor.js';
import { printPlan } from '../plan/print.js';
import type { Plan } from '../plan/step.js';
import { Output } from '../report/output.js';
import { logFailure, summaryOf, type RunSummary } from '../report/summary.js';
import { finishLogs, formatFor, prepareDirectories, systemFacts } from '../run.js';
import { stopOnSignals } from '../signals.js';
import { scrubSavedSecrets, connectSteps } from './connect.js';
import { preflightProblems, refuseOnProblems } from './preflight.js';
import { compareNewestFirst, shortTime, sourceName, unrestorableReason, type SnapshotEntry } from './select.js';

/** What a listing shows: every source (`--all`), or the identity's, of one path or of every path. */
export interface ListingScope {
  all: boolean;
  userName: string;
  host: string;
  /** Undefined: every path of user@host. */
  path?: string;
}

export function inScope(scope: ListingScope, s: SnapshotEntry): boolean {
  if (scope.all) return true;
  return s.source.userName === scope.userName && s.source.host === scope.host && (scope.path === undefined || s.source.path === scope.path);
}

function scopeName(scope: ListingScope): string {
  if (scope.all) return 'the repository';
  return scope.path === undefined ? `${scope.userName}@${scope.host} (any path)` : sourceName({ userName: scope.userName, host: scope.host, path: scope.path });
}

/** One snapshot as `snapshots --json` prints it: the shape the README documents, kept stable for scripts. */
export interface ListedSnapshot {
  id: string;
  source: string;
  userName: string;
  hostName: string;
  path: string;
  startTime: string;
  endTime: string | null;
  size: number | null;
  files: number | null;
  dirs: number | null;
  /** Entries the backup could not read (kopia saved the snapshot, then failed the backup). */
  errors: number;
  /** kopia's reason when the snapshot is a checkpoint or partial ("checkpoint", "canceled", "limit reached"), else null. */
  incomplete: string | null;
  /** The root object ID, which kopia's own text listing shows; `restore --snapshot` accepts it too. */
  rootObject: string | null;
}

export function listedSnapshot(s: SnapshotEntry): ListedSnapshot {
  const summ = s.rootEntry?.summ;
  return {
    id: s.id,
    source: sourceName(s.source),
    userName: s.source.userName,
    hostName: s.source.host,
    path: s.source.path,
    startTime: s.startTime,
    endTime: s.endTime ?? null,
    size: summ?.size ?? s.stats?.totalSize ?? null,
    files: summ?.files ?? s.stats?.fileCount ?? null,
    dirs: summ?.dirs ?? s.stats?.dirCount ?? null,
    errors: s.stats?.errorCount ?? 0,
    incomplete: s.incomplete ? s.incomplete : null,
    rootObject: s.rootEntry?.obj ?? null,
  };
}

/** By source, then newest first: each source's history reads top down. */
export function listingOrder(snapshots: readonly SnapshotEntry[]): SnapshotEntry[] {
  return [...snapshots].sort((a, b) => {
    const x = sourceName(a.source);
    const y = sourceName(b.source);
    return x < y ? -1 : x > y ? 1 : compareNewestFirst(a, b);
  });
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

function sizeText(bytes: number | null): string {
  if (bytes === null) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

function stateText(s: ListedSnapshot): string {
  if (s.incomplete !== null) return `incomplete (${s.incomplete})`;
  if (s.errors > 0) return `${s.errors} entr${s.errors === 1 ? 'y' : 'ies'} unread`;
  return 'complete';
}

/** The listing as aligned columns, a header first. */
export function snapshotTable(list: readonly ListedSnapshot[]): string[] {
  const rows = [
    ['SOURCE', 'STARTED (UTC)', 'SIZE', 'FILES', 'ID', 'STATE'],
    ...list.map((s) => [s.source, shortTime(s.startTime).replace('T', ' ').replace('Z', ''), sizeText(s.size), s.files === null ? '-' : String(s.files), s.id, stateText(s)]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '));
}

/** The listing as one JSON document; C1 controls escaped too, so no line of it is altered on the way out. */
export function snapshotJson(list: readonly ListedSnapshot[]): string[] {
  return JSON.stringify(list, null, 2)
    .replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .split('\n');
}

/** Connect as a restore does (never create), then read kopia's list of every snapshot, keeping those in scope. */
export function listingPlan(config: MoverConfig, facts: Facts, scope: ListingScope, kept: SnapshotEntry[]): Plan {
  return {
    title: `list the snapshots of ${scopeName(scope)}`,
    steps: [
      ...connectSteps(config, facts, config.identity, 'connect-only'),
      {
        id: 'list',
        kind: 'kopia',
        // kopia 0.22.3 prints incomplete snapshots in JSON anyway; --incomplete asks for them by name.
        command: { args: ['snapshot', 'list', '--all', '--incomplete', '--json'], purpose: 'list snapshots' },
        stream: () => {
          kept.length = 0;
          const reader = new SnapshotListReader((s) => {
            if (inScope(scope, s)) kept.push(s);
          });
          return { options: { onStdoutLine: (line) => reader.line(line) }, finish: (result) => reader.end(result.tail.join('\n')) };
        },
      },
    ],
  };
}

export interface SnapshotsOptions {
  env: EnvMap;
  /** The flags (and files) the command line gave inputs by, so problems are named as typed. */
  inputs?: InputNames;
  all: boolean;
  json: boolean;
  dryRun?: boolean;
  onSpawn?: (argv: string[]) => void;
  appDir?: string;
}

/** Says why the listing failed, on the log (stderr), and returns the exit code. */
function failed(log: Output, error: unknown): number {
  logFailure(log, error);
  return summaryOf(error).exitCode;
}

/** Prints the listing on stdout: the table, or the JSON document. */
function printListing(out: Output, kept: readonly SnapshotEntry[], scope: ListingScope, json: boolean): void {
  const list = listingOrder(kept).map(listedSnapshot);
  if (json) {
    for (const line of snapshotJson(list)) out.text(line);
    return;
  }
  if (list.length === 0) {
    out.text(`No snapshots of ${scopeName(scope)}.${scope.all ? '' : ' `kopia-mover snapshots --all` lists every source.'}`);
    return;
  }
  for (const line of snapshotTable(list)) out.text(line);
  const skipped = kept.filter((s) => unrestorableReason(s) !== undefined).length;
  if (skipped > 0) out.text(`${skipped} snapshot(s) not complete: a restore never selects them by time; --snapshot <ID> restores one as it is.`);
}

/**
 * `kopia-mover snapshots`: the snapshots of the run's identity (as a restore resolves user, host
 * and path), or of every source. The list alone goes to stdout; the log, errors included, to stderr.
 */
export async function listSnapshots(options: SnapshotsOptions): Promise<number> {
  // The log goes to stderr, so whether stderr is a terminal decides its form, unless KOPIA_MOVER_LOG_FORMAT does.
  const format = options.env['KOPIA_MOVER_LOG_FORMAT'] === undefined && process.stderr.isTTY ? 'pretty' : formatFor(options.env);
  const log = new Output(format, environmentSecrets(options.env), 2);
  const out = new Output('pretty', environmentSecrets(options.env), 1);
  // KOPIA_ADDITIONAL_ARGS go to an operation's main command; a listing has none.
  const env: EnvMap = { ...options.env, KOPIA_ADDITIONAL_ARGS: undefined };
  let config: MoverConfig;
  let facts: Facts;
  try {
    // Read as for maintenance: the repository, identity, cache and logging every operation shares, and
    // no DATA_DIR required. DATA_DIR and KOPIA_SOURCE_PATH_OVERRIDE are validated all the same.
    config = parseConfig(env, { operation: 'maintenance', system: systemFacts(env), inputs: options.inputs });
    facts = loadFacts(config);
  } catch (error) {
    return failed(log, error);
  }
  for (const o of [log, out]) o.setSecrets(secretValues(config, env));
  const path = listingSourcePath(env);
  const scope: ListingScope = { all: options.all, userName: config.identity.username, host: config.identity.hostname, ...(path === undefined ? {} : { path }) };
  const kept: SnapshotEntry[] = [];
  const plan = listingPlan(config, facts, scope, kept);
  const binary = locateKopia(env['KOPIA_BIN'], env['PATH'], options.appDir);
  const runnerFor = (runDir: string, stop?: AbortSignal) =>
    new KopiaRunner({
      binary,
      globalFlags: globalFlags(config, kopiaPaths(config, runDir)),
      env: kopiaEnvironment(config, env),
      output: log,
      progressIntervalMs: config.output.progressIntervalMs,
      onSpawn: options.onSpawn,
      tempDir: runDir,
      stop,
      stopGraceMs: config.output.signalGraceMs,
      stallMs: config.output.stallMs,
    });
  if (options.dryRun) {
    const planner = runnerFor(join(config.tmpDir, `${RUN_DIR_PREFIX}<this run>`));
    printPlan(out, plan, (args, files) => [binary, ...planner.argv({ args, purpose: '', secretFiles: [...files] as SecretFile[] })]);
    return ExitCode.Success;
  }
  let claimed: RunDir;
  try {
    refuseOnProblems(preflightProblems(config, facts));
    claimed = await prepareDirectories(config);
  } catch (error) {
    return failed(log, error);
  }
  const stop = stopOnSignals(log, config.output.signalGraceMs);
  const runner = runnerFor(claimed.path, stop.signal);
  stop.watch(runner);
  // Required by the steps' context; a listing prints no summary, and its steps log their warnings as they arise.
  const summary: RunSummary = { operation: 'unknown', result: 'FAILURE', exitCode: ExitCode.OperationFailed, warnings: [], notes: [], durationSeconds: 0, kopiaProcesses: 0 };
  try {
    await Promise.race([execute(plan, { config, runner, output: log, summary, parentEnv: env, paths: kopiaPaths(config, claimed.path), stop: stop.signal }), stop.stopped]);
  } catch (error) {
    return failed(log, error);
  } finally {
    stop.dispose();
    runner.cleanup();
    try {
      scrubSavedSecrets(config);
    } catch (error) {
      log.log.warn(`could not remove storage credentials from kopia.config: ${(error as Error).message}`);
    }
    await finishLogs(config, kopiaPaths(config, claimed.path).logDir, log).catch(() => undefined);
    claimed.release();
  }
  printListing(out, kept, scope, options.json);
  return ExitCode.Success;
}
