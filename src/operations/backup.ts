import { readdirSync } from 'node:fs';
import { KNOWN_FAILURES } from '../kopia/failures.js';
import { snapshotsExpired } from '../kopia/logs.js';
import type { MoverConfig } from '../config/types.js';
import { BeforeSnapshotActionError, ConfigError, OperationError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { connect, planConnect } from './connect.js';
import { checkMainCommand, runStep, type RunContext } from './context.js';
import { withAdditionalArgs } from '../config/additional-args.js';
import { runHook } from './hooks.js';
import type { PlanStep } from './plan.js';
import { farLess, measureTree } from './source-size.js';
import { actionsEnabled as kopiaActionsEnabled, applySettings, readSettings, settingsSteps, settingsWarnings } from './settings.js';
import { loadPolicySettings } from '../policy/mounted.js';
import { forgetApplied } from './state.js';

/** Entries of DATA_DIR that count as content (lost+found is the filesystem's, not the user's). */
export function dataEntries(dataDir: string): string[] {
  try {
    return readdirSync(dataDir).filter((name) => name !== 'lost+found');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError({
      source: 'DATA_DIR',
      message: code === 'ENOENT' ? `directory ${dataDir} does not exist` : `directory ${dataDir} cannot be read (${code})`,
    });
  }
}

/** The snapshot path's kopia policy target, `user@host:path`. */
export function pathTarget(config: MoverConfig): string {
  return `${config.identity.username}@${config.identity.hostname}:${config.sourcePath}`;
}

/**
 * The snapshot path's policy from env, in kopia's JSON: compression, retention
 * (yearly is kopia's keepAnnual) and the policy flags of KOPIA_ADDITIONAL_ARGS.
 */
export function pathPolicy(config: MoverConfig, globalPolicy?: Record<string, unknown>): Record<string, unknown> | undefined {
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

function snapshotArguments(config: MoverConfig) {
  // --json-verbose adds the statistics, among them what the policy excluded.
  const own = ['snapshot', 'create', config.dataDir ?? '', '--json', '--json-verbose'];
  if (config.backup.parallelism !== undefined) own.push(`--parallel=${config.backup.parallelism}`);
  if (config.sourcePath && config.sourcePath !== config.dataDir) own.push(`--override-source=${config.sourcePath}`);
  return withAdditionalArgs(own, config.additionalArgs);
}

export function snapshotCommand(config: MoverConfig): KopiaCommand {
  return {
    args: snapshotArguments(config).args,
    purpose: `snapshot ${config.dataDir} as ${config.identity.username}@${config.identity.hostname}:${config.sourcePath}`,
    captureStdout: true,
  };
}

export function planBackup(config: MoverConfig): PlanStep[] {
  const steps: PlanStep[] = [];
  steps.push({ note: `skip everything if ${config.dataDir} is empty (lost+found ignored)` });
  const settings = loadPolicySettings(config);
  const connection = planConnect(config, config.identity, 'connect-or-create', { enableActions: kopiaActionsEnabled(settings) });
  for (const command of connection.steps) steps.push({ command });
  if (connection.create) steps.push({ command: connection.create });
  for (const finding of settings.findings.filter((f) => f.severity === 'error')) {
    steps.push({ note: `not applied (${finding.source}): ${finding.message}` });
  }
  for (const step of settingsSteps(config, settings, { target: pathTarget(config), policy: pathPolicy(config, settings.globalPolicy) })) {
    steps.push({ command: step.command });
  }
  if (config.backup.beforeSnapshot) steps.push({ note: 'run KOPIA_BEFORE_SNAPSHOT' });
  steps.push({ command: snapshotCommand(config) });
  if (config.backup.afterSnapshot) steps.push({ note: 'run KOPIA_AFTER_SNAPSHOT' });
  return steps;
}

export interface SnapshotManifest {
  id?: string;
  rootEntry?: { summ?: { size?: number; files?: number; dirs?: number; symlinks?: number; numFailed?: number } };
  /** Printed with --json-verbose. kopia may count an excluded entry more than once. */
  stats?: { excludedFileCount?: number; excludedDirCount?: number };
}

/** Whether kopia's policy (ignore rules, size limits, other file systems) left anything out. */
export function excludedAny(manifest: SnapshotManifest): boolean {
  return (manifest.stats?.excludedFileCount ?? 0) > 0 || (manifest.stats?.excludedDirCount ?? 0) > 0;
}

export async function runBackup(ctx: RunContext): Promise<void> {
  const { config, output, summary } = ctx;
  const dataDir = config.dataDir ?? '';
  checkMainCommand(ctx, 'snapshot create', snapshotArguments(config));
  if (dataEntries(dataDir).length === 0) {
    summary.skipped = `${dataDir} is empty, nothing to back up`;
    output.log.info({ dataDir }, 'source is empty (lost+found ignored): nothing to back up');
    return;
  }

  const { settings, outcome } = readSettings(ctx);
  const path = { target: pathTarget(config), policy: pathPolicy(config, settings.globalPolicy) };
  for (const warning of settingsWarnings(config, settings, path)) {
    output.log.warn(warning);
    summary.warnings.push(warning);
  }
  const { created } = await connect(ctx, config.identity, 'connect-or-create', { enableActions: kopiaActionsEnabled(settings) });
  // A new repository has none of the policies this cache remembers applying.
  if (created) forgetApplied(config);
  await applySettings(ctx, settings, outcome, path);

  const repo = settings.repository;
  const actionsEnabled = repo?.enableActions !== false;
  const timeoutMs = repo?.actionTimeoutMs ?? config.backup.actionTimeoutMs;
  for (const [name, command] of [['KOPIA_BEFORE_SNAPSHOT', config.backup.beforeSnapshot], ['KOPIA_AFTER_SNAPSHOT', config.backup.afterSnapshot]] as const) {
    if (command && !actionsEnabled) {
      const note = `${name} skipped: enableActions is false in ${repo?.source}`;
      output.log.warn(note);
      summary.warnings.push(note);
    }
  }

  if (config.backup.beforeSnapshot && actionsEnabled) {
    const hook = await runHook(ctx, 'KOPIA_BEFORE_SNAPSHOT', config.backup.beforeSnapshot, dataDir, timeoutMs);
    if (!hook.ok) throw new BeforeSnapshotActionError(`${hook.reason}; no snapshot was taken`);
  }

  const result = await runStep(ctx, snapshotCommand(config), (message, kopiaOutput) => {
    // kopia saves a manifest even when entries could not be read, then exits 1: say what was missed.
    const fatal = /Found (\d+) fatal error/.exec(kopiaOutput)?.[1];
    const first = /Error when processing "([^"\n]*)": [^\n]*?([^:\n]*)$/m.exec(kopiaOutput);
    if (!fatal) return new OperationError(message, kopiaOutput);
    const example = first ? `; first: "${first[1]}" (${first[2]?.trim()})` : '';
    return new OperationError(
      `snapshot incomplete: kopia could not read ${fatal} entr${fatal === '1' ? 'y' : 'ies'} of ${dataDir}${example}`,
      kopiaOutput,
      KNOWN_FAILURES.SourceError,
    );
  });
  let manifest: SnapshotManifest;
  try {
    manifest = JSON.parse(result.stdout) as SnapshotManifest;
  } catch {
    throw new OperationError('kopia reported success but printed no snapshot manifest', result.tail.join('\n'));
  }
  const summ = manifest.rootEntry?.summ ?? {};
  // The manifest counts only fatal errors; errors the policy ignores appear in kopia's output alone.
  const ignored = Number(/Ignored (\d+) error\(s\)/.exec(result.tail.join('\n'))?.[1] ?? 0);
  summary.snapshot = {
    id: manifest.id ?? 'unknown',
    files: summ.files ?? 0,
    directories: summ.dirs ?? 0,
    bytes: summ.size ?? 0,
    errors: summ.numFailed ?? 0,
    ignoredErrors: ignored,
  };
  output.log.info({ snapshot: summary.snapshot }, 'snapshot created');
  output.line(`Snapshot created successfully: ${summary.snapshot.id}`);
  const expired = snapshotsExpired(ctx.paths.logDir);
  if (expired) {
    const note = `retention expired ${expired} older snapshot${expired === 1 ? '' : 's'} of ${pathTarget(config)}`;
    output.log.info({ expired }, note);
    summary.notes.push(note);
  }
  if ((summ.numFailed ?? 0) > 0) {
    summary.warnings.push(`kopia could not read ${summ.numFailed} entries; they are missing from snapshot ${manifest.id}`);
  }
  // Only exclusions make a snapshot miss part of a readable source (read errors are reported
  // above), so the source is counted only then: counting every time would read the metadata of
  // every file a second time on every backup.
  const source = excludedAny(manifest) ? await measureTree(dataDir).catch(() => undefined) : undefined;
  if (source && farLess({ files: summ.files ?? 0, bytes: summ.size ?? 0 }, source)) {
    summary.warnings.push(
      `snapshot ${manifest.id} holds far less than ${dataDir}: ${summ.files ?? 0} of ${source.files} files, ` +
        `${summ.size ?? 0} of ${source.bytes} bytes; check ignore rules and read errors`,
    );
  }
  if (ignored > 0) {
    summary.warnings.push(`kopia could not read ${ignored} entries and ignored them as the error-handling policy says; they are missing from snapshot ${manifest.id}`);
  }
  // The root counts as one directory: anything less than one more entry means nothing was read.
  if ((summ.files ?? 0) === 0 && (summ.dirs ?? 0) <= 1 && (summ.symlinks ?? 0) === 0) {
    throw new OperationError(`snapshot ${manifest.id} holds no files although ${dataDir} is not empty`, result.tail.join('\n'));
  }

  if (config.backup.afterSnapshot && actionsEnabled) {
    const hook = await runHook(ctx, 'KOPIA_AFTER_SNAPSHOT', config.backup.afterSnapshot, dataDir, timeoutMs, {
      KOPIA_MOVER_SNAPSHOT_ID: manifest.id ?? '',
    });
    if (!hook.ok) summary.warnings.push(`${hook.reason} (the snapshot was taken)`);
  }
}
