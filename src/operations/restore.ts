import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { withAdditionalArgs } from '../config/additional-args.js';
import type { RestoreConfig } from '../config/parse.js';
import { OperationError } from '../errors.js';
import type { Facts } from '../facts.js';
import { JsonArrayElements } from '../kopia/json-stream.js';
import type { Arg, Placeholder, Plan, RunState, Step } from '../plan/step.js';
import { checkedMainCommand, warningsStep } from './common.js';
import { connectSteps } from './connect.js';
import { confineTarget } from './confine.js';
import { realPath } from './deletion-guard.js';
import { protectedDirectories, ProtectedIdentities } from './identity.js';
import { mountPointsBelow } from './mounts.js';
import { DeletionStopped, removeExtras, SnapshotListing } from './prune.js';
import { compareNewestFirst, discoveryRecord, hasFatalErrors, selectSnapshot, type SnapshotEntry } from './select.js';
import { settingsSteps } from './settings.js';

const SELECTED: Placeholder = { ref: 'snapshot', shown: '<selected snapshot>' };

/** The restore's arguments; the snapshot (index 2) is known only once one was selected. */
function restoreArguments(config: RestoreConfig, dataDir: string) {
  const own = ['snapshot', 'restore', SELECTED.shown, dataDir, '--write-files-atomically', '--ignore-permission-errors', '--flush-files'];
  if (config.parallelism !== undefined) own.push(`--parallel=${config.parallelism}`);
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
  const errors = tail.filter((line) => /error/i.test(line));
  // kopia may print its last progress update without a line break, right before its error.
  const match =
    errors.length === 1 ? /(?:^|[^A-Za-z])error restoring: restore error: finish directory: unlinkat (\S+)\.kopia-entry: read-only file system$/.exec(errors[0]!.trim()) : null;
  // For /data kopia names //data.kopia-entry: compare normalised paths.
  if (!match || posix.normalize(match[1]!) !== resolve(dataDir)) return undefined;
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

/**
 * The snapshots of one source, read from kopia's list of every snapshot one element at a time: only
 * this source's entries are kept whole, the rest as the few fields discovery prints.
 */
function snapshotReader(source: { username: string; hostname: string; path: string }) {
  const mine: SnapshotEntry[] = [];
  const others: SnapshotEntry[] = [];
  const elements = new JsonArrayElements((text) => {
    const s = JSON.parse(text) as SnapshotEntry;
    const compact: SnapshotEntry = { id: s.id, source: s.source, startTime: s.startTime, endTime: s.endTime };
    if (s.source?.userName === source.username && s.source.host === source.hostname && s.source.path === source.path) {
      mine.push({ ...compact, stats: s.stats && { errorCount: s.stats.errorCount }, rootEntry: s.rootEntry && { summ: s.rootEntry.summ } });
    } else others.push(compact);
  });
  return { mine, others, elements };
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
  const source = `${username}@${hostname}:${path}`;
  const main = checkedMainCommand('snapshot restore', restoreArguments(config, dataDir));
  let reader = snapshotReader({ username, hostname, path });
  const steps: Step[] = [
    ...warningsStep('warnings', main.warnings),
    ...connectSteps(config, facts, config.identity, 'connect-only'),
    // A restore takes the throttle (download speed); policies only matter to backups.
    ...settingsSteps(config, facts),
    {
      id: 'list',
      kind: 'kopia',
      command: { args: ['snapshot', 'list', '--all', '--json'], purpose: 'list snapshots' },
      stream: () => {
        reader = snapshotReader({ username, hostname, path });
        return { onStdoutLine: (line) => reader.elements.push(`${line}\n`) };
      },
      after: (result, state) => {
        try {
          reader.elements.end();
        } catch (error) {
          throw new OperationError(`could not read the snapshot list kopia printed: ${(error as Error).message}`, result.tail.join('\n'));
        }
        select(config, state, reader.mine, reader.others, source);
      },
    },
  ];
  // An empty DATA_DIR (a fresh volume) has nothing in kopia's way and nothing to delete: no listing.
  const occupied = holdsAnything(dataDir);
  const snapshot = { listing: new SnapshotListing('') };
  if (occupied) steps.push(...confinementSteps(config, dataDir, snapshot));
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
      run: (state) => deleteExtras(config, state, dataDir, snapshot.listing),
    });
  }
  steps.push({
    id: 'restored',
    kind: 'internal',
    describe: 'print "Snapshot restore completed: <id>, <files> files, <bytes> bytes"',
    run: (state) => {
      const totals = state.values.get('totals') ?? '0 files, 0 bytes';
      state.ctx.output.line(`Snapshot restore completed: ${state.values.get(SELECTED.ref)}, ${totals}`);
    },
  });
  return { title: `restore of ${source} into ${dataDir}`, steps };
}

/**
 * The selected snapshot's listing (one `kopia ls -r`, read as bytes, serving deletion too), then
 * DATA_DIR checked and cleared along the snapshot's folders before kopia writes anything.
 */
function confinementSteps(config: RestoreConfig, dataDir: string, snapshot: { listing: SnapshotListing }): Step[] {
  return [
    {
      id: 'listing',
      kind: 'kopia',
      // Long format: the mode tells symlinks apart, which the short one does not.
      command: { args: ['ls', '-r', '-l', SELECTED], purpose: 'list the contents of the selected snapshot' },
      // Raw bytes, streamed into hashes: never decoded, never held whole, however many files it names.
      stream: (state) => {
        const listing = new SnapshotListing(state.values.get(SELECTED.ref) ?? '');
        snapshot.listing = listing;
        return { onStdoutRawLine: (line) => listing.line(line) };
      },
      after: () => snapshot.listing.end(),
    },
    {
      id: 'confine',
      kind: 'internal',
      describe: `walk ${dataDir} along the snapshot's folders: refuse a mount point there, remove a symlink or file standing where a folder belongs`,
      run: (state) => confine(config, state, dataDir, snapshot.listing),
    },
  ];
}

/** Picks the snapshot to restore, or ends the run saying why nothing is restored. */
function select(config: RestoreConfig, state: RunState, mine: SnapshotEntry[], others: SnapshotEntry[], source: string): void {
  const { output, summary } = state.ctx;
  const candidates = [...mine].sort(compareNewestFirst);
  // A snapshot with unread entries is missing data; restoring it (worse, with deletion) would lose files.
  for (const s of candidates.filter(hasFatalErrors)) {
    output.log.warn({ snapshot: s.id, startTime: s.startTime, errors: s.stats?.errorCount }, 'skipping a snapshot whose backup could not read every entry');
  }
  const chosen = selectSnapshot(candidates.filter((s) => !hasFatalErrors(s)), config.restore);
  if (!chosen) {
    if (candidates.length === 0) output.line(`No snapshots found for ${source}`);
    output.line('No eligible snapshots found');
    if (config.restore.discoverSnapshots) {
      output.line('=== Discovery Mode: Available Snapshots ===');
      for (const s of [...mine, ...others].sort(compareNewestFirst)) output.line(discoveryRecord(s));
      output.line('=== End Discovery Mode ===');
    }
    summary.skipped = `no eligible snapshot of ${source}, nothing restored`;
    state.stopped = 'no eligible snapshot';
    return;
  }
  output.log.info({ snapshot: chosen.id, startTime: chosen.startTime, source }, 'restoring snapshot');
  state.values.set(SELECTED.ref, chosen.id);
  const totals = chosen.rootEntry?.summ ?? {};
  state.values.set('totals', `${totals.files ?? 0} files, ${totals.size ?? 0} bytes`);
  summary.restoredSnapshot = { id: chosen.id, startTime: chosen.startTime, source };
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
