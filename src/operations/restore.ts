import { statSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import type { MoverConfig } from '../config/types.js';
import { OperationError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { connect, planConnect } from './connect.js';
import { applySettings, readSettings } from './settings.js';
import { checkMainCommand, runStep, type RunContext } from './context.js';
import { withAdditionalArgs } from '../config/additional-args.js';
import type { PlanStep } from './plan.js';
import { checkDeletionTarget } from './deletion-guard.js';
import { listingPath, removeExtras, SnapshotPaths } from './prune.js';
import { compareNewestFirst, discoveryRecord, hasFatalErrors, selectSnapshot, snapshotsOf, type SnapshotEntry } from './select.js';

const LIST: KopiaCommand = {
  args: ['snapshot', 'list', '--all', '--json'],
  purpose: 'list snapshots',
  captureStdout: true,
};

function restoreArguments(config: MoverConfig, snapshotId: string) {
  const own = ['snapshot', 'restore', snapshotId, config.dataDir ?? '', '--write-files-atomically', '--ignore-permission-errors', '--flush-files'];
  if (config.backup.parallelism !== undefined) own.push(`--parallel=${config.backup.parallelism}`);
  return withAdditionalArgs(own, config.additionalArgs);
}

export function restoreCommand(config: MoverConfig, snapshotId: string): KopiaCommand {
  return { args: restoreArguments(config, snapshotId).args, purpose: `restore snapshot ${snapshotId} into ${config.dataDir}` };
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

function ownersNote(config: MoverConfig): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return undefined;
  if (config.privilegedMover) return `${OWNERS_NOTE} (PRIVILEGED_MOVER=1, but the mover runs as UID ${uid}: every file belongs to it)`;
  return `${OWNERS_NOTE}; every file belongs to UID ${uid}. Allow privileged movers in the namespace if the application needs its files' owners`;
}

function listingCommand(snapshotId: string): KopiaCommand {
  return { args: ['ls', '-r', snapshotId], purpose: `list the contents of snapshot ${snapshotId}` };
}

export function planRestore(config: MoverConfig): PlanStep[] {
  const steps: PlanStep[] = [];
  const connection = planConnect(config, config.identity, 'connect-only');
  for (const command of connection.steps) steps.push({ command });
  steps.push({ command: LIST });
  steps.push({ note: `select a snapshot of ${config.identity.username}@${config.identity.hostname}:${config.sourcePath}` });
  steps.push({ command: restoreCommand(config, '<selected snapshot>') });
  if (config.restore.enableFileDeletion) {
    steps.push({ command: listingCommand('<selected snapshot>') });
    steps.push({ note: `remove files absent from the snapshot from ${config.dataDir} (lost+found kept)` });
  }
  return steps;
}

export async function runRestore(ctx: RunContext): Promise<void> {
  const { config, output, summary } = ctx;
  const { username, hostname } = config.identity;
  const path = config.sourcePath ?? '';
  const source = `${username}@${hostname}:${path}`;

  checkMainCommand(ctx, 'snapshot restore', restoreArguments(config, '<snapshot>'));
  if (config.restore.enableFileDeletion) checkDeletionTarget(config);
  const { settings, outcome } = readSettings(ctx);
  await connect(ctx, config.identity, 'connect-only');
  // A restore takes the throttle (download speed); policies only matter to backups.
  await applySettings(ctx, settings, outcome);

  const listed = await runStep(ctx, LIST);
  let all: SnapshotEntry[];
  try {
    all = JSON.parse(listed.stdout) as SnapshotEntry[];
  } catch {
    throw new OperationError('could not read the snapshot list kopia printed', listed.tail.join('\n'));
  }
  const candidates = snapshotsOf(all, username, hostname, path);
  // A snapshot with unread entries is missing data; restoring it (worse, with deletion) would lose files.
  const incomplete = candidates.filter(hasFatalErrors);
  for (const s of incomplete) {
    output.log.warn({ snapshot: s.id, startTime: s.startTime, errors: s.stats?.errorCount }, 'skipping a snapshot whose backup could not read every entry');
  }
  const mine = candidates.filter((s) => !hasFatalErrors(s));
  const chosen = selectSnapshot(mine, config.restore);
  if (!chosen) {
    if (candidates.length === 0) output.line(`No snapshots found for ${source}`);
    output.line('No eligible snapshots found');
    if (config.restore.discoverSnapshots) {
      output.line('=== Discovery Mode: Available Snapshots ===');
      for (const s of [...all].sort(compareNewestFirst)) {
        output.line(discoveryRecord(s));
      }
      output.line('=== End Discovery Mode ===');
    }
    summary.skipped = `no eligible snapshot of ${source}, nothing restored`;
    return;
  }

  output.log.info({ snapshot: chosen.id, startTime: chosen.startTime, source }, 'restoring snapshot');
  await runStep(ctx, restoreCommand(config, chosen.id), undefined, { tolerated: (result) => readOnlyParent(result.tail, config.dataDir ?? '') });
  summary.restoredSnapshot = { id: chosen.id, startTime: chosen.startTime, source };
  const note = ownersNote(config);
  if (note !== undefined) {
    output.log.warn(note);
    summary.notes.push(note);
  }
  await deleteExtras(ctx, chosen.id);
  const totals = chosen.rootEntry?.summ ?? {};
  output.line(`Snapshot restore completed: ${chosen.id}, ${totals.files ?? 0} files, ${totals.size ?? 0} bytes`);
}

/**
 * With KOPIA_ENABLE_FILE_DELETION: removes what the restored snapshot does not hold. Only now, with
 * the snapshot fully restored, is that safe. The listing is streamed into hashes: it is never held
 * whole, however many files it names.
 */
async function deleteExtras(ctx: RunContext, snapshotId: string): Promise<void> {
  const { config, output, summary } = ctx;
  if (!config.restore.enableFileDeletion) return;
  const keep = new SnapshotPaths();
  let understood = true;
  await runStep(ctx, listingCommand(snapshotId), undefined, {
    onStdoutLine: (line) => {
      if (!understood || line === '') return;
      const path = listingPath(line, snapshotId);
      if (path === undefined) understood = false;
      else keep.add(path);
    },
  });
  if (!understood) {
    summary.warnings.push('file deletion skipped: the snapshot listing could not be read safely; extra files were kept');
    return;
  }
  const { removed, otherDevice } = removeExtras(config.dataDir ?? '', keep);
  output.log.info({ removed, keptOnOtherFilesystems: otherDevice }, 'removed entries absent from the snapshot');
  if (otherDevice > 0) {
    summary.warnings.push(`file deletion kept ${otherDevice} entr${otherDevice === 1 ? 'y' : 'ies'} on other filesystems mounted inside ${config.dataDir}`);
  }
}
