import { withAdditionalArgs } from '../config/additional-args.js';
import type { BackupConfig } from '../config/parse.js';
import { BeforeSnapshotActionError, OperationError } from '../errors.js';
import type { Facts } from '../facts.js';
import { classifyKopiaOutput, KNOWN_FAILURES } from '../kopia/failures.js';
import { snapshotsExpired } from '../kopia/logs.js';
import { fatalErrors, ignoredErrors, parseCreatedSnapshot, type CreatedSnapshot } from '../kopia/models/snapshot-create.js';
import type { KopiaResult } from '../kopia/runner.js';
import type { Plan, RunState, Step } from '../plan/step.js';
import { checkedMainCommand, warningsStep } from './common.js';
import { connectSteps } from './connect.js';
import { runHook } from './hooks.js';
import { actionsEnabled as kopiaActionsEnabled, settingsSteps, settingsWarnings, snapshotStallMs } from './settings.js';
import { farLess, measureTree } from './source-size.js';
import {
  comparedFigures,
  countDiffLine,
  lastSnapshotRecord,
  previousSnapshot,
  snapshotFigures,
  snapshotRecord,
  uploadFacts,
  type FileChanges,
  type PreviousSnapshot,
} from './snapshot-statistics.js';
import { recordApplied } from './state.js';
import { verifySteps } from './verify.js';

/** The snapshot path's kopia policy target, `user@host:path`. */
export function pathTarget(config: Pick<BackupConfig, 'identity' | 'sourcePath'>): string {
  return `${config.identity.username}@${config.identity.hostname}:${config.sourcePath}`;
}

/**
 * The snapshot path's policy from env, in kopia's JSON: compression, retention
 * (yearly is kopia's keepAnnual) and the policy flags of KOPIA_ADDITIONAL_ARGS.
 */
export function pathPolicy(config: BackupConfig, globalPolicy?: Record<string, unknown>): Record<string, unknown> | undefined {
  const { compression, retention } = config.backup;
  const policy: Record<string, unknown> = { ...config.pathPolicyArgs };
  // kopia takes a list from the most specific policy that has one, replacing the global list: an
  // --ignore in KOPIA_ADDITIONAL_ARGS adds to the global ignore rules only if they are repeated here.
  const files = config.pathPolicyArgs.files;
  const globalFiles = globalPolicy?.['files'] as Record<string, unknown> | undefined;
  if (files && globalFiles) {
    const merged: Record<string, unknown> = { ...files };
    for (const key of ['ignore', 'ignoreDotFiles']) {
      const own = files[key];
      const inherited = globalFiles[key];
      if (Array.isArray(own) && Array.isArray(inherited)) merged[key] = [...new Set([...inherited, ...own])];
    }
    policy['files'] = merged;
  }
  if (compression) policy['compression'] = { compressorName: compression };
  const keep = Object.entries({
    keepLatest: retention.latest,
    keepHourly: retention.hourly,
    keepDaily: retention.daily,
    keepWeekly: retention.weekly,
    keepMonthly: retention.monthly,
    keepAnnual: retention.yearly,
  }).filter(([, v]) => v !== undefined);
  if (keep.length > 0) policy['retention'] = Object.fromEntries(keep);
  if (Object.keys(policy).length === 0 || !config.sourcePath) return undefined;
  return policy;
}

function snapshotArguments(config: BackupConfig) {
  // --json-verbose adds the statistics, among them what the policy excluded.
  const own = ['snapshot', 'create', config.dataDir, '--json', '--json-verbose'];
  if (config.parallelism !== undefined) own.push(`--parallel=${config.parallelism}`);
  if (config.sourcePath !== config.dataDir) own.push(`--override-source=${config.sourcePath}`);
  return withAdditionalArgs(own, config.additionalArgs);
}

/** Whether kopia's policy (ignore rules, size limits, other file systems) left anything out. kopia may count an excluded entry more than once. */
export function excludedAny(manifest: { stats?: { excludedFileCount?: number; excludedDirCount?: number } }): boolean {
  return (manifest.stats?.excludedFileCount ?? 0) > 0 || (manifest.stats?.excludedDirCount ?? 0) > 0;
}

/** kopia saves a manifest even when entries could not be read, then exits 1: say what was missed. */
function snapshotFailure(dataDir: string, result: KopiaResult, purpose: string): OperationError {
  const kopiaOutput = result.tail.join('\n');
  const fatal = fatalErrors(kopiaOutput);
  if (!fatal) {
    const failure = classifyKopiaOutput(result.rawTail);
    const known = failure.class !== 'Unknown';
    return new OperationError(`${purpose} failed (kopia exit code ${result.exitCode})${known ? `: ${failure.what}` : ''}`, kopiaOutput, known ? failure : undefined);
  }
  const example = fatal.first ? `; first: "${fatal.first.path}" (${fatal.first.reason})` : '';
  return new OperationError(
    `snapshot incomplete: kopia could not read ${fatal.count} entr${fatal.count === 1 ? 'y' : 'ies'} of ${dataDir}${example}`,
    kopiaOutput,
    KNOWN_FAILURES.SourceError,
  );
}

/** Reads kopia's manifest of the new snapshot into the summary, and fails a snapshot that holds nothing. */
async function snapshotTaken(config: BackupConfig, dataDir: string, previous: PreviousSnapshot | undefined, result: KopiaResult, state: RunState): Promise<void> {
  const { output, summary, paths } = state.ctx;
  const manifest = parseCreatedSnapshot(result.stdout, result.tail.join('\n'));
  state.found.snapshot = manifest.id;
  const summ = manifest.rootEntry.summ;
  const ignored = ignoredErrors(result.tail.join('\n'));
  summary.snapshot = {
    id: manifest.id,
    files: summ.files,
    directories: summ.dirs,
    bytes: summ.size,
    errors: summ.numFailed,
    ignoredErrors: ignored,
    ...snapshotFigures(manifest, uploadFacts(paths.logDir), previous?.files),
    startTime: manifest.startTime,
  };
  comparePrevious(config, manifest, previous, state);
  output.log.info({ snapshot: summary.snapshot }, 'snapshot created');
  output.line(`Snapshot created successfully: ${summary.snapshot.id}`);
  const expired = snapshotsExpired(paths.logDir);
  if (expired !== undefined) summary.snapshot.expiredSnapshots = expired;
  if (expired) {
    const note = `retention expired ${expired} older snapshot${expired === 1 ? '' : 's'} of ${pathTarget(config)}`;
    output.log.info({ expired }, note);
    summary.notes.push(note);
  }
  const lowered = state.found.retentionLowered;
  if (lowered !== undefined) {
    // Said even when nothing expired yet: the next backups will expire what the old values kept.
    const count = expired ?? 0;
    summary.warnings.push(`this backup expired ${count} snapshot${count === 1 ? '' : 's'} after retention was lowered (${lowered.join(', ')}) for ${pathTarget(config)}`);
  }
  if (summ.numFailed > 0) {
    summary.warnings.push(`kopia could not read ${summ.numFailed} entries; they are missing from snapshot ${manifest.id}`);
  }
  // Only exclusions make a snapshot miss part of a readable source (read errors are reported
  // above), so the source is counted only then: counting every time would read the metadata of
  // every file a second time on every backup.
  const source = excludedAny(manifest) ? await measureTree(dataDir).catch(() => undefined) : undefined;
  if (source && farLess({ files: summ.files, bytes: summ.size }, source)) {
    summary.warnings.push(
      `snapshot ${manifest.id} holds far less than ${dataDir}: ${summ.files} of ${source.files} files, ` +
        `${summ.size} of ${source.bytes} bytes; check ignore rules and read errors`,
    );
  }
  if (ignored > 0) {
    summary.warnings.push(`kopia could not read ${ignored} entries and ignored them as the error-handling policy says; they are missing from snapshot ${manifest.id}`);
  }
  // The root counts as one directory: anything less than one more entry means nothing was read.
  if (summ.files === 0 && summ.dirs <= 1 && summ.symlinks === 0) {
    throw new OperationError(`snapshot ${manifest.id} holds no files although ${dataDir} is not empty`, result.tail.join('\n'));
  }
}

/**
 * kopia counts the files it read again, new and changed alike; when the counts alone cannot tell
 * them apart, the compare step diffs the new root with the previous snapshot this cache took (a
 * source normally has one writer, its own mover and cache). This snapshot is recorded for the next backup.
 */
function comparePrevious(config: BackupConfig, manifest: CreatedSnapshot, previous: PreviousSnapshot | undefined, state: RunState): void {
  recordApplied(config, lastSnapshotRecord(config.sourcePath), snapshotRecord(manifest));
  const root = manifest.rootEntry.obj;
  if (previous === undefined || previous.root === root || state.ctx.summary.snapshot?.newOrChangedFiles === undefined) return;
  state.found.compareRoot = root;
}

/** `kopia diff` of the previous and the new root, counted line by line; a failure leaves the figures as kopia gave them. */
function compareStep(config: BackupConfig, previous: PreviousSnapshot): Step {
  return {
    id: 'compare',
    kind: 'kopia',
    when: { on: 'flag', flag: 'compareRoot', describe: 'kopia read files again and their count cannot tell new from changed' },
    command: {
      args: ['diff', previous.root, { ref: 'compareRoot', shown: '<new snapshot root>' }],
      purpose: `count the new and changed files of ${pathTarget(config)} since this cache's previous snapshot`,
    },
    stream: () => {
      const changes: FileChanges = { added: 0, changed: 0 };
      return {
        options: { onStdoutLine: (line) => countDiffLine(line, changes) },
        finish: (_result, state) => {
          const snapshot = state.ctx.summary.snapshot;
          if (snapshot) Object.assign(snapshot, comparedFigures(snapshot.files, changes));
        },
      };
    },
    continueOn: ['failed', 'not-initialized'],
  };
}

/**
 * A backup as steps: nothing when DATA_DIR is empty; otherwise connect (or create), apply the
 * settings, the before-action, the snapshot, the after-action, and with KOPIA_VERIFY_PERCENT the
 * verify of the new snapshot.
 */
/** A command's own stall limit, only where it differs from the run's. */
function stallOverride(runMs: number, commandMs: number): { stallMs?: number } {
  return commandMs === runMs ? {} : { stallMs: commandMs };
}

export function planBackup(config: BackupConfig, facts: Facts): Plan {
  const dataDir = config.dataDir;
  const title = `backup of ${dataDir} as ${pathTarget(config)}`;
  const main = checkedMainCommand('snapshot create', snapshotArguments(config));
  if (facts.sourceEmpty) {
    return {
      title,
      steps: [
        {
          id: 'source-empty',
          kind: 'internal',
          describe: `${dataDir} is empty (lost+found ignored): nothing to back up`,
          run: (state) => {
            state.ctx.summary.skipped = `${dataDir} is empty, nothing to back up`;
            state.ctx.output.log.info({ dataDir }, 'source is empty (lost+found ignored): nothing to back up');
            state.stopped = 'source empty';
          },
        },
      ],
    };
  }
  const settings = facts.settings;
  const previous = previousSnapshot(facts.applied.snapshot);
  const path = { target: pathTarget(config), policy: pathPolicy(config, settings.globalPolicy) };
  const repo = settings.repository;
  const hooksEnabled = repo?.enableActions !== false;
  const timeoutMs = repo?.actionTimeoutMs ?? config.backup.actionTimeoutMs;
  const warnings = [...main.warnings, ...settingsWarnings(config, settings, path)];
  for (const [name, command] of [['KOPIA_BEFORE_SNAPSHOT', config.backup.beforeSnapshot], ['KOPIA_AFTER_SNAPSHOT', config.backup.afterSnapshot]] as const) {
    if (command && !hooksEnabled) warnings.push(`${name} skipped: enableActions is false in ${repo?.source}`);
  }
  const purpose = `snapshot ${dataDir} as ${pathTarget(config)}`;
  const steps: Step[] = [
    ...warningsStep('warnings', warnings),
    ...connectSteps(config, facts, config.identity, 'connect-or-create', { enableActions: kopiaActionsEnabled(settings) }),
    ...settingsSteps(config, facts, path),
  ];
  const before = config.backup.beforeSnapshot;
  if (before && hooksEnabled) {
    steps.push({
      id: 'before-snapshot',
      kind: 'internal',
      describe: 'run KOPIA_BEFORE_SNAPSHOT',
      run: async (state) => {
        const hook = await runHook(state.ctx, 'KOPIA_BEFORE_SNAPSHOT', before, dataDir, timeoutMs, { KOPIA_MOVER_SOURCE: pathTarget(config) });
        if (!hook.ok) throw new BeforeSnapshotActionError(`${hook.reason}; no snapshot was taken`);
      },
    });
  }
  steps.push({
    id: 'snapshot',
    kind: 'kopia',
    command: { args: main.args, purpose, captureStdout: true, ...stallOverride(config.output.stallMs, snapshotStallMs(config.output.stallMs, settings, path)) },
    after: (result, state) => snapshotTaken(config, dataDir, previous, result, state),
    fail: (result) => snapshotFailure(dataDir, result, purpose),
  });
  const after = config.backup.afterSnapshot;
  if (after && hooksEnabled) {
    steps.push({
      id: 'after-snapshot',
      kind: 'internal',
      describe: 'run KOPIA_AFTER_SNAPSHOT',
      run: async (state) => {
        const hook = await runHook(state.ctx, 'KOPIA_AFTER_SNAPSHOT', after, dataDir, timeoutMs, {
          KOPIA_MOVER_SOURCE: pathTarget(config),
          KOPIA_MOVER_SNAPSHOT_ID: state.found.snapshot ?? '',
        });
        if (!hook.ok) state.ctx.summary.warnings.push(`${hook.reason} (the snapshot was taken)`);
      },
    });
  }
  if (previous) steps.push(compareStep(config, previous));
  steps.push(...verifySteps(config.cacheDir, 'snapshot', config.backup.verifyPercent));
  return { title, steps };
}
