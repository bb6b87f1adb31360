import { readdirSync } from 'node:fs';
import type { MoverConfig } from '../config/types.js';
import { BeforeSnapshotActionError, ConfigError, OperationError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { connect, planConnect } from './connect.js';
import { runKopia, runStep, type RunContext } from './context.js';
import { runHook } from './hooks.js';
import type { PlanStep } from './plan.js';
import { applySettings, globalPolicyCommand, readSettings, throttleCommand } from './settings.js';
import { loadPolicySettings } from '../policy/mounted.js';
import { alreadyApplied, digestOf, forgetApplied, recordApplied } from './state.js';

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

/** The per-path policy from env: compression and retention in one `policy set`. */
export function pathPolicyCommand(config: MoverConfig): KopiaCommand | undefined {
  const { compression, retention } = config.backup;
  const flags: string[] = [];
  if (compression) flags.push(`--compression=${compression}`);
  const keep: [string, number | undefined][] = [
    ['--keep-latest', retention.latest],
    ['--keep-hourly', retention.hourly],
    ['--keep-daily', retention.daily],
    ['--keep-weekly', retention.weekly],
    ['--keep-monthly', retention.monthly],
    ['--keep-annual', retention.yearly],
  ];
  for (const [flag, value] of keep) if (value !== undefined) flags.push(`${flag}=${value}`);
  flags.push(...config.pathPolicyFlags);
  if (flags.length === 0 || !config.sourcePath) return undefined;
  return { args: ['policy', 'set', config.sourcePath, ...flags], purpose: `set policy for ${config.sourcePath}` };
}

export function snapshotCommand(config: MoverConfig): KopiaCommand {
  const args = ['snapshot', 'create', config.dataDir ?? '', '--json'];
  if (config.backup.parallelism !== undefined) args.push(`--parallel=${config.backup.parallelism}`);
  if (config.sourcePath && config.sourcePath !== config.dataDir) args.push(`--override-source=${config.sourcePath}`);
  args.push(...config.additionalArgs);
  return { args, purpose: `snapshot ${config.dataDir} as ${config.identity.username}@${config.identity.hostname}:${config.sourcePath}`, captureStdout: true };
}

export function planBackup(config: MoverConfig): PlanStep[] {
  const steps: PlanStep[] = [];
  steps.push({ note: `skip everything if ${config.dataDir} is empty (lost+found ignored)` });
  const connection = planConnect(config, config.identity, 'connect-or-create');
  for (const command of connection.steps) steps.push({ command });
  if (connection.create) steps.push({ command: connection.create });
  const settings = loadPolicySettings(config);
  for (const finding of settings.findings.filter((f) => f.severity === 'error')) {
    steps.push({ note: `not applied (${finding.source}): ${finding.message}` });
  }
  for (const [name, command] of [['global-policy', globalPolicyCommand(settings)], ['throttle', throttleCommand(settings)]] as const) {
    if (command && !(connection.reuse && alreadyApplied(config, name, digestOf([...command.args, ...(command.secretFiles ?? []).map((f) => f.content.reveal())])))) {
      steps.push({ command });
    }
  }
  const policy = pathPolicyCommand(config);
  if (policy && !(connection.reuse && alreadyApplied(config, 'path-policy', digestOf(policy.args)))) {
    steps.push({ command: policy });
  }
  if (config.backup.beforeSnapshot) steps.push({ note: 'run KOPIA_BEFORE_SNAPSHOT' });
  steps.push({ command: snapshotCommand(config) });
  if (config.backup.afterSnapshot) steps.push({ note: 'run KOPIA_AFTER_SNAPSHOT' });
  return steps;
}

interface SnapshotManifest {
  id?: string;
  rootEntry?: { summ?: { size?: number; files?: number; dirs?: number; symlinks?: number; numFailed?: number } };
}

export async function runBackup(ctx: RunContext): Promise<void> {
  const { config, output, summary } = ctx;
  const dataDir = config.dataDir ?? '';
  if (dataEntries(dataDir).length === 0) {
    summary.skipped = `${dataDir} is empty, nothing to back up`;
    output.log.info({ dataDir }, 'source is empty (lost+found ignored): nothing to back up');
    return;
  }

  const { settings, outcome } = readSettings(ctx);
  const { reused } = await connect(ctx, config.identity, 'connect-or-create');
  if (!reused) forgetApplied(config);
  await applySettings(ctx, settings, outcome, { policy: true });

  const policy = pathPolicyCommand(config);
  if (policy) {
    const digest = digestOf(policy.args);
    if (alreadyApplied(config, 'path-policy', digest)) {
      output.log.info({ target: config.sourcePath }, 'path policy unchanged since the last run, not re-applied');
    } else {
      await runStep(ctx, policy);
      recordApplied(config, 'path-policy', digest);
    }
  }

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
    return new OperationError(`snapshot incomplete: kopia could not read ${fatal} entr${fatal === '1' ? 'y' : 'ies'} of ${dataDir}${example}`, kopiaOutput);
  });
  let manifest: SnapshotManifest;
  try {
    manifest = JSON.parse(result.stdout) as SnapshotManifest;
  } catch {
    throw new OperationError('kopia reported success but printed no snapshot manifest', result.tail.join('\n'));
  }
  const summ = manifest.rootEntry?.summ ?? {};
  summary.snapshot = {
    id: manifest.id ?? 'unknown',
    files: summ.files ?? 0,
    directories: summ.dirs ?? 0,
    bytes: summ.size ?? 0,
    errors: summ.numFailed ?? 0,
    ignoredErrors: summ.numFailed ?? 0,
  };
  output.log.info({ snapshot: summary.snapshot }, 'snapshot created');
  if ((summ.numFailed ?? 0) > 0) {
    summary.warnings.push(`kopia could not read ${summ.numFailed} entries; they are missing from snapshot ${manifest.id}`);
  }
  // The root counts as one directory: anything less than one more entry means nothing was read.
  if ((summ.files ?? 0) === 0 && (summ.dirs ?? 0) <= 1 && (summ.symlinks ?? 0) === 0) {
    throw new OperationError(`snapshot ${manifest.id} holds no files although ${dataDir} is not empty`, result.tail.join('\n'));
  }

  if (config.backup.afterSnapshot && actionsEnabled) {
    const hook = await runHook(ctx, 'KOPIA_AFTER_SNAPSHOT', config.backup.afterSnapshot, dataDir, timeoutMs);
    if (!hook.ok) summary.warnings.push(`${hook.reason} (the snapshot was taken)`);
  }
}
