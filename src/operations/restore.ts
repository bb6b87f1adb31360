import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { flagName, withAdditionalArgs } from '../config/additional-args.js';
import type { RestoreConfig } from '../config/parse.js';
import { ConfigError, OperationError } from '../errors.js';
import type { Facts } from '../facts.js';
import { SnapshotListReader } from '../kopia/models/snapshot.js';
import { required, type Arg, type Placeholder, type Plan, type RunState, type Step } from '../plan/step.js';
import { checkedMainCommand, warningsStep } from './common.js';
import { connectSteps } from './connect.js';
import { confineTarget } from './confine.js';
import { realPath } from './deletion-guard.js';
import { protectedDirectories, ProtectedIdentities } from './identity.js';
import { mountPointsBelow } from './mounts.js';
import { DeletionStopped, removeExtras, SnapshotListing } from './prune.js';
import {
  compareNewestFirst,
  discoveryRecord,
  namesSnapshot,
  sameSource,
  selectSnapshot,
  shortTime,
  sourceName,
  sourceSummaries,
  unrestorableReason,
  type SnapshotEntry,
} from './select.js';
import { settingsSteps } from './settings.js';
import { readOnlyRestoreParent } from '../kopia/failures.js';

const SELECTED: Placeholder = { ref: 'selectedSnapshot', shown: '<selected snapshot>' };

/**
 * Files restored at once when neither KOPIA_PARALLELISM nor KOPIA_ADDITIONAL_ARGS says. kopia's own
 * default, 8, leaves a restore from an object store waiting one round trip per 8 small files; at
 * 32 the same restore waits for a quarter of them (docs/performance.md, the latency table), for a
 * few more open files and buffers.
 */
export const RESTORE_PARALLELISM = 32;

/**
 * The list a restore chooses from. kopia 0.22.3 prints incomplete snapshots in JSON anyway;
 * --incomplete asks for them by name, so the selection sees them, and skips them, whatever a later kopia's default.
 */
export const RESTORE_LIST_ARGS: readonly string[] = ['snapshot', 'list', '--all', '--incomplete', '--json'];

/** The restore's arguments; the snapshot (index 2) is known only once one was selected. */
function restoreArguments(config: RestoreConfig, dataDir: string) {
  const own = ['snapshot', 'restore', SELECTED.shown, dataDir, '--write-files-atomically', '--ignore-permission-errors', '--flush-files'];
  const theirs = config.additionalArgs.some((arg) => flagName(arg) === '--parallel');
  if (config.parallelism !== undefined || !theirs) own.push(`--parallel=${config.parallelism ?? RESTORE_PARALLELISM}`);
  return withAdditionalArgs(own, config.additionalArgs);
}

/**
 * kopia 0.22.3 ends every restore by removing a shallow-restore placeholder beside the target,
 * `<DATA_DIR>.kopia-entry`, and fails with EROFS when DATA_DIR's parent is read-only (a pod whose
 * volume is mounted at /data on a read-only root). That removal is the last step of the root
 * directory, after every entry and the root's own attributes were written. Nothing can sit there
 * to remove: kopia could not have created it on a read-only filesystem, and this program never
 * restores shallow. So exactly that failure, and no other line of error, is a completed restore.
 */
function readOnlyParent(tail: readonly string[], dataDir: string): string | undefined {
  const placeholder = readOnlyRestoreParent(tail);
  // For /data kopia names //data.kopia-entry: compare normalised paths.
  if (placeholder === undefined || posix.normalize(placeholder) !== resolve(dataDir)) return undefined;
  try {
    if (!statSync(dataDir).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  return `every entry was restored; kopia could not remove ${resolve(dataDir)}.kopia-entry beside DATA_DIR because the parent is read-only, and no such placeholder can exist there`;
}

/** kopia restores owners only as root; as anyone else every file becomes the mover's own, without a word. */
const OWNERS_NOTE = 'owners not restored: unprivileged mover';

function ownersNote(config: RestoreConfig): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return undefined;
  if (config.privilegedMover) return `${OWNERS_NOTE} (PRIVILEGED_MOVER=1, but the mover runs as UID ${uid}: every file belongs to it)`;
  return `${OWNERS_NOTE}; every file belongs to UID ${uid}. Allow privileged movers in the namespace if the application needs its files' owners`;
}

/** What a restore keeps of kopia's list of every snapshot. */
export interface RestoreCandidates {
  /** The run's own source's snapshots, whole. */
  mine: SnapshotEntry[];
  /** Every other snapshot, as the few fields discovery and the hint print. */
  others: SnapshotEntry[];
  /** The snapshots named by KOPIA_RESTORE_SNAPSHOT_ID (by ID, or several sharing a root object), whole. */
  named: SnapshotEntry[];
}

/** Reads kopia's list one element at a time, keeping whole only what the selection may need. */
export function snapshotReader(source: SnapshotEntry['source'], snapshotId: string | undefined) {
  const kept: RestoreCandidates = { mine: [], others: [], named: [] };
  const reader = new SnapshotListReader((s) => {
    if (snapshotId !== undefined && namesSnapshot(s, snapshotId)) kept.named.push(s);
    if (sameSource(s.source, source)) kept.mine.push(s);
    else kept.others.push({ id: s.id, source: s.source, startTime: s.startTime, endTime: s.endTime });
  });
  return { kept, reader };
}

/**
 * A restore as steps: refuse an unsafe deletion target before anything; connect (never create);
 * the throttle; list and select a snapshot (or stop, saying why, leaving DATA_DIR as it is);
 * restore it; and with KOPIA_ENABLE_FILE_DELETION remove what it does not hold.
 */
export function planRestore(config: RestoreConfig, facts: Facts): Plan {
  const { username, hostname } = config.identity;
  // Resolved once: a DATA_DIR given through a symlink is its target for kopia and for deletion alike.
  const dataDir = realPath(config.dataDir);
  const path = config.sourcePath;
  const own = { userName: username, host: hostname, path };
  const source = sourceName(own);
  const main = checkedMainCommand('snapshot restore', restoreArguments(config, dataDir));
  const steps: Step[] = [
    ...warningsStep('warnings', main.warnings),
    ...connectSteps(config, facts, config.identity, 'connect-only'),
    // A restore takes the throttle (download speed); policies only matter to backups.
    ...settingsSteps(config, facts),
    {
      id: 'list',
      kind: 'kopia',
      command: { args: [...RESTORE_LIST_ARGS], purpose: 'list snapshots' },
      stream: () => {
        const list = snapshotReader(own, config.restore.snapshotId);
        return {
          options: { onStdoutLine: (line) => list.reader.line(line) },
          finish: (result, state) => {
            list.reader.end(result.tail.join('\n'));
            const chosen = config.restore.snapshotId === undefined ? selectByTime(config, state, list.kept, own) : namedSnapshot(config, state, list.kept, own);
            if (chosen) restoring(state, chosen);
          },
        };
      },
    },
  ];
  // An empty DATA_DIR (a fresh volume) has nothing in kopia's way and nothing to delete: no listing.
  const occupied = holdsAnything(dataDir);
  if (occupied) steps.push(...confinementSteps(config, dataDir));
  steps.push({
    id: 'restore',
    kind: 'kopia',
    command: { args: main.args.map((a, i): Arg => (i === 2 ? SELECTED : a)), purpose: `restore the selected snapshot into ${dataDir}` },
    tolerate: (result) => readOnlyParent(result.tail, dataDir),
    after: (_result, state) => {
      const note = ownersNote(config);
      if (note !== undefined) {
        state.ctx.output.log.warn(note);
        state.ctx.summary.notes.push(note);
      }
    },
  });
  if (config.restore.enableFileDeletion && occupied) {
    steps.push({
      id: 'delete-extras',
      kind: 'internal',
      describe: `remove from ${dataDir} what the snapshot does not hold (never across a mount point, never into a protected folder)`,
      run: (state) => deleteExtras(config, state, dataDir, required(state, 'listing')),
    });
  }
  steps.push({
    id: 'restored',
    kind: 'internal',
    describe: 'print "Snapshot restore completed: <id>, <files> files, <bytes> bytes"',
    run: (state) => {
      const { files, bytes } = state.found.selectedTotals ?? { files: 0, bytes: 0 };
      state.ctx.output.line(`Snapshot restore completed: ${required(state, 'selectedSnapshot')}, ${files} files, ${bytes} bytes`);
    },
  });
  return { title: `restore of ${source} into ${dataDir}`, steps };
}

/**
 * The selected snapshot's listing (one `kopia ls -r`, read as bytes, serving deletion too), then
 * DATA_DIR checked and cleared along the snapshot's folders before kopia writes anything.
 */
function confinementSteps(config: RestoreConfig, dataDir: string): Step[] {
  return [
    {
      id: 'listing',
      kind: 'kopia',
      // Long format: the mode tells symlinks apart, which the short one does not.
      command: { args: ['ls', '-r', '-l', SELECTED], purpose: 'list the contents of the selected snapshot' },
      // Raw bytes, streamed into hashes: never decoded, never held whole, however many files it names.
      stream: (state) => {
        const listing = new SnapshotListing(required(state, 'selectedSnapshot'));
        state.found.listing = listing;
        return { options: { onStdoutRawLine: (line) => listing.line(line) }, finish: () => listing.end() };
      },
    },
    {
      id: 'confine',
      kind: 'internal',
      describe: `walk ${dataDir} along the snapshot's folders: refuse a mount point there, remove a symlink or file standing where a folder belongs`,
      run: (state) => confine(config, state, dataDir, required(state, 'listing')),
    },
  ];
}

/**
 * Picks the newest eligible snapshot of the run's own source under the selection rules, or ends the
 * run saying why nothing is restored and which sources the repository does hold.
 */
function selectByTime(config: RestoreConfig, state: RunState, kept: RestoreCandidates, own: SnapshotEntry['source']): SnapshotEntry | undefined {
  const { output, summary } = state.ctx;
  const source = sourceName(own);
  const candidates = [...kept.mine].sort(compareNewestFirst);
  for (const s of candidates) {
    const why = unrestorableReason(s);
    if (why !== undefined) output.log.warn({ snapshot: s.id, startTime: s.startTime, reason: why }, 'skipping a snapshot that does not hold everything its source held');
  }
  const chosen = chosenByTime(config, candidates);
  if (chosen) return chosen;
  if (candidates.length === 0) output.line(`No snapshots found for ${source}`);
  output.line('No eligible snapshots found');
  for (const line of choiceHint(candidates, kept.others, own)) output.text(line);
  if (config.restore.discoverSnapshots) {
    output.line('=== Discovery Mode: Available Snapshots ===');
    for (const s of [...kept.mine, ...kept.others].sort(compareNewestFirst)) output.line(discoveryRecord(s));
    output.line('=== End Discovery Mode ===');
  }
  summary.skipped = `no eligible snapshot of ${source}, nothing restored`;
  state.stopped = 'no eligible snapshot';
  return undefined;
}

/**
 * The snapshot KOPIA_RESTORE_SNAPSHOT_ID names, restored as it is. One of another source is
 * refused unless KOPIA_RESTORE_ANY_SOURCE allows it; one missing data is never a base for deletion.
 */
function namedSnapshot(config: RestoreConfig, state: RunState, kept: RestoreCandidates, own: SnapshotEntry['source']): SnapshotEntry {
  const { chosen, warning } = namedChoice(config, kept, own);
  if (warning !== undefined) {
    state.ctx.output.log.warn({ snapshot: chosen.id }, warning);
    state.ctx.summary.warnings.push(warning);
  }
  return chosen;
}

/**
 * The snapshot the time rules pick among the run's own source's snapshots. A snapshot missing data
 * is never chosen on its own: restoring it (worse, with deletion) would lose files. The plan's
 * change report picks with this too, so it names the snapshot the run restores.
 */
export function chosenByTime(config: RestoreConfig, mine: readonly SnapshotEntry[]): SnapshotEntry | undefined {
  return selectSnapshot(
    [...mine].sort(compareNewestFirst).filter((s) => unrestorableReason(s) === undefined),
    config.restore,
  );
}

/** The snapshot KOPIA_RESTORE_SNAPSHOT_ID names, and the warning restoring it takes; a refusal is thrown. */
export function namedChoice(config: RestoreConfig, kept: RestoreCandidates, own: SnapshotEntry['source']): { chosen: SnapshotEntry; warning?: string } {
  const id = config.restore.snapshotId ?? '';
  const matches = [...kept.named].sort(compareNewestFirst);
  // Snapshots of unchanged data share their root object: the run's own source's is the one meant.
  const chosen = matches.find((s) => sameSource(s.source, own)) ?? matches[0];
  const issue = (source: string, message: string) => new ConfigError({ source, message: `${message}; nothing was restored` });
  if (!chosen) {
    throw issue('KOPIA_RESTORE_SNAPSHOT_ID', `the repository holds no snapshot ${id} (\`kopia-mover snapshots --all\` lists every snapshot)`);
  }
  if (!sameSource(chosen.source, own) && !config.restore.anySource) {
    throw issue(
      'KOPIA_RESTORE_SNAPSHOT_ID',
      `snapshot ${id} belongs to ${sourceName(chosen.source)}, not to this restore's ${sourceName(own)}; to restore it all the same, add --any-source (KOPIA_RESTORE_ANY_SOURCE=true)`,
    );
  }
  const why = unrestorableReason(chosen);
  if (why !== undefined && config.restore.enableFileDeletion) {
    throw issue('KOPIA_ENABLE_FILE_DELETION', `snapshot ${id} is ${why}, so deleting what it lacks would lose files; restore it without file deletion`);
  }
  return { chosen, warning: why === undefined ? undefined : `snapshot ${id} is restored as asked, although it is ${why}` };
}

/** Sets the snapshot the later steps restore and report. */
function restoring(state: RunState, chosen: SnapshotEntry): void {
  const source = sourceName(chosen.source);
  state.ctx.output.log.info({ snapshot: chosen.id, startTime: chosen.startTime, source }, 'restoring snapshot');
  state.found.selectedSnapshot = chosen.id;
  const totals = chosen.rootEntry?.summ ?? {};
  state.found.selectedTotals = { files: totals.files ?? 0, bytes: totals.size ?? 0 };
  state.ctx.summary.restoredSnapshot = { id: chosen.id, startTime: chosen.startTime, source };
}

/** At most this many sources are named in the hint; `kopia-mover snapshots --all` lists the rest. */
const HINT_SOURCES = 10;

/** A path as it can be typed after a flag in a shell. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:@+=-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * What a person who found nothing needs next: the sources that do hold snapshots, each with the
 * flags that select it, and the variables behind those flags. Indented and worded so that none of
 * these lines is one the controller keeps or parses (it reads discovery, which follows unchanged).
 */
function choiceHint(mine: readonly SnapshotEntry[], others: readonly SnapshotEntry[], own: SnapshotEntry['source']): string[] {
  if (mine.length > 0) {
    const complete = mine.filter((s) => unrestorableReason(s) === undefined).length;
    return [
      `${sourceName(own)} has ${mine.length} snapshot(s), ${complete} of them complete; none is selected by --as-of, --shallow and --previous as given. ` +
        '`kopia-mover snapshots` lists them; --snapshot (KOPIA_RESTORE_SNAPSHOT_ID) restores one by its ID.',
    ];
  }
  const sources = sourceSummaries(others);
  if (sources.length === 0) return ['The repository holds no snapshots yet.'];
  const lines = ['The repository holds snapshots of these sources:'];
  const shown = sources.slice(0, HINT_SOURCES);
  const width = Math.max(...shown.map((s) => sourceName(s.source).length));
  for (const { source, count, newest } of shown) {
    const identity = source.userName === own.userName && source.host === own.host ? [] : ['--username', shellWord(source.userName), '--hostname', shellWord(source.host)];
    const flags = [...identity, '--source-path', shellWord(source.path)].join(' ');
    const snapshots = `${count} snapshot${count === 1 ? '' : 's'}`.padEnd(12);
    lines.push(`  ${sourceName(source).padEnd(width)}  ${snapshots}  newest ${shortTime(newest.startTime)}  restore it with ${flags}`);
  }
  if (sources.length > HINT_SOURCES) lines.push(`  and ${sources.length - HINT_SOURCES} more sources: \`kopia-mover snapshots --all\` lists them`);
  lines.push(
    'Choose a source with --source-path (KOPIA_SOURCE_PATH_OVERRIDE), --username (KOPIA_OVERRIDE_USERNAME) and --hostname (KOPIA_OVERRIDE_HOSTNAME), ' +
      'or one snapshot with --snapshot (KOPIA_RESTORE_SNAPSHOT_ID); `kopia-mover snapshots --all` lists every snapshot.',
  );
  return lines;
}

/** The protected folders by identity, and the mount points below DATA_DIR, as they are now. */
function surroundings(config: RestoreConfig, root: Buffer) {
  return { guarded: new ProtectedIdentities(protectedDirectories(config)), mounts: mountPointsBelow(root) };
}

/** Before kopia writes: DATA_DIR holds no way out along the snapshot's folders (see confineTarget). */
async function confine(config: RestoreConfig, state: RunState, dataDir: string, listing: SnapshotListing): Promise<void> {
  if (!listing.understood) {
    throw new OperationError(`could not read the listing of snapshot ${listing.snapshotId} that kopia printed; nothing was restored`);
  }
  const root = Buffer.from(dataDir);
  if (!isDirectory(root)) return;
  const replaceFolders = config.restore.enableFileDeletion;
  const { removed, displaced } = await confineTarget({ root, listing, ...surroundings(config, root), stop: state.ctx.stop, replaceFolders });
  if (removed.length > 0) {
    state.ctx.output.log.warn({ replaced: removed }, 'removed entries that stood where the snapshot has another type (kopia would have written through them or failed)');
  }
  for (const { from, to } of displaced) {
    state.ctx.output.log.warn({ folder: from, movedTo: to }, 'moved aside a folder that stands where the snapshot has a file or a symlink; file deletion removes it once the restore completed');
  }
}

/**
 * Whether DATA_DIR holds anything kopia could meet: any entry but an empty lost+found folder (the
 * filesystem's own). A missing DATA_DIR holds nothing; kopia creates it.
 */
function holdsAnything(dataDir: string): boolean {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch {
    return false;
  }
  if (names.length === 0) return false;
  if (names.length > 1 || names[0] !== 'lost+found') return true;
  const lostFound = join(dataDir, 'lost+found');
  return !lstatSync(lostFound).isDirectory() || readdirSync(lostFound).length > 0;
}

function isDirectory(path: Buffer): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * With KOPIA_ENABLE_FILE_DELETION: removes what the restored snapshot does not hold. Only now, with
 * the snapshot fully restored, is that safe. Meeting a protected folder (another spelling of the
 * repository, a cache or the run folder) stops deletion, saying what it found.
 */
async function deleteExtras(config: RestoreConfig, state: RunState, dataDir: string, listing: SnapshotListing): Promise<void> {
  const { output, summary } = state.ctx;
  const root = Buffer.from(dataDir);
  let deleted = 0;
  const onRemoved = (paths: string[]) => {
    deleted += paths.length;
    output.log.info({ deleted: paths }, 'deleted entries absent from the snapshot');
  };
  let result;
  try {
    result = await removeExtras({ root, keep: listing.paths, ambiguous: (name) => listing.ambiguous(name), ...surroundings(config, root), stop: state.ctx.stop, onRemoved });
  } catch (error) {
    if (!(error instanceof DeletionStopped)) throw error;
    throw new OperationError(`file deletion stopped: ${error.message}; it was not entered. ${deleted} entr${deleted === 1 ? 'y' : 'ies'} deleted before (listed in the log); the restore itself completed`, undefined, DELETION_STOPPED);
  }
  const { removed, otherDevice, ambiguous } = result;
  output.log.info({ removed, keptOnOtherFilesystems: otherDevice, keptAmbiguous: ambiguous }, 'removed entries absent from the snapshot');
  if (otherDevice > 0) {
    summary.warnings.push(`file deletion kept ${otherDevice} entr${otherDevice === 1 ? 'y' : 'ies'} on other filesystems mounted inside ${dataDir}`);
  }
  if (ambiguous > 0) {
    summary.warnings.push(`file deletion kept ${ambiguous} entr${ambiguous === 1 ? 'y' : 'ies'} whose name holds a line break followed by what reads as a listing line: kopia's listing cannot tell whether the snapshot holds them`);
  }
}

/** Exit 1, not 2: the restore has written by then, and exit 2 says nothing was. */
const DELETION_STOPPED = {
  class: 'TargetConflict',
  what: 'file deletion met a protected folder',
  retryable: false,
  fix: 'DATA_DIR reaches the repository, a cache or the run folder by another path (a bind mount): remove that mount from DATA_DIR',
} as const;
