import type { EnvMap } from '../env.js';
import { listingSourcePath, type MoverConfig } from '../config/parse.js';
import { ExitCode } from '../errors.js';
import type { Facts } from '../facts.js';
import { SnapshotListReader } from '../kopia/models/snapshot.js';
import type { Plan } from '../plan/step.js';
import type { Output } from '../report/output.js';
import { connectSteps } from './connect.js';
import { readRepository, type ReadingOptions } from './reading.js';
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

export function sizeText(bytes: number | null): string {
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

/** A value as one indented JSON document; C1 controls escaped too, so no line of it is altered on the way out. */
export function jsonLines(value: unknown): string[] {
  return JSON.stringify(value, null, 2)
    .replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .split('\n');
}

/** The listing as one JSON document. */
export function snapshotJson(list: readonly ListedSnapshot[]): string[] {
  return jsonLines(list);
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

export interface SnapshotsOptions extends ReadingOptions {
  all: boolean;
  json: boolean;
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

/** The listing's scope: every source, or the run's identity (as a restore resolves user, host and path). */
export function listingScope(config: MoverConfig, env: EnvMap, all: boolean): ListingScope {
  const path = listingSourcePath(env);
  return { all, userName: config.identity.username, host: config.identity.hostname, ...(path === undefined ? {} : { path }) };
}

/**
 * `kopia-mover snapshots`: the snapshots of the run's identity (as a restore resolves user, host
 * and path), or of every source. The list alone goes to stdout; the log, errors included, to stderr.
 */
export function listSnapshots(options: SnapshotsOptions): Promise<number> {
  return readRepository(options, (config, facts, env) => {
    const scope = listingScope(config, env, options.all);
    const kept: SnapshotEntry[] = [];
    return {
      plan: listingPlan(config, facts, scope, kept),
      print: (out) => {
        printListing(out, kept, scope, options.json);
        return ExitCode.Success;
      },
    };
  });
}
