import { Secret } from '../config/secret.js';
import type { MoverConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { GLOBAL_POLICY_KEY } from '../policy/kopia-policy.js';
import { loadPolicySettings, type PolicySettings } from '../policy/mounted.js';
import type { PolicyOutcome } from '../report/summary.js';
import { runKopia, type RunContext } from './context.js';
import { appliedRecord, describeChanges, digestOf, flattenFields, recordApplied, type AppliedRecord } from './state.js';

export interface PathPolicy {
  /** `user@host:path` */
  target: string;
  policy?: Record<string, unknown>;
}

/** Reads the policy inputs and reports what cannot be applied; the run goes on regardless. */
export function readSettings(ctx: RunContext): { settings: PolicySettings; outcome: PolicyOutcome } {
  const settings = loadPolicySettings(ctx.config);
  const blocking = settings.findings.filter((f) => f.blocksRun);
  if (blocking.length > 0) throw new ConfigError(blocking.map(({ source, message }) => ({ source, message })));
  const outcome: PolicyOutcome = { applied: 0, failed: 0, failures: [] };
  for (const finding of settings.findings) {
    if (finding.severity === 'error') {
      outcome.failed++;
      outcome.failures.push(`${finding.source}: ${finding.message}`);
      ctx.output.log.warn({ file: finding.source }, `policy input not applied: ${finding.message}`);
    } else {
      ctx.output.log.info({ file: finding.source }, `policy field not applied: ${finding.message}`);
    }
  }
  ctx.summary.policy = outcome;
  return { settings, outcome };
}

/** Whether kopia may run the actions of a policy: only a connection made with --enable-actions does. */
export function actionsEnabled(settings: PolicySettings): boolean {
  return settings.repository?.enableActions === true;
}

function hasActions(policy: Record<string, unknown> | undefined): boolean {
  const actions = policy?.['actions'];
  return actions !== null && typeof actions === 'object' && Object.keys(actions).length > 0;
}

/**
 * Things the settings say that would surprise the user at run time: policy actions that kopia
 * will not run, and fields set both inline (the environment, for the snapshot path) and in the
 * global policy file, where the inline value wins for the path.
 */
export function settingsWarnings(config: MoverConfig, settings: PolicySettings, path?: PathPolicy): string[] {
  const warnings: string[] = [];
  if ((hasActions(settings.globalPolicy) || hasActions(path?.policy)) && !actionsEnabled(settings)) {
    const where = settings.repository ? `enableActions is not true in ${settings.repository.source}` : 'no repository config sets enableActions: true';
    warnings.push(`the policy has actions, and kopia will not run them: ${where}`);
  }
  if (path?.policy && settings.globalPolicy) {
    const inline = flattenFields({ [path.target]: path.policy });
    const global = flattenFields({ [GLOBAL_POLICY_KEY]: settings.globalPolicy });
    for (const [key, value] of Object.entries(inline)) {
      const field = key.slice(path.target.length + 1);
      const fromFile = global[`${GLOBAL_POLICY_KEY} ${field}`];
      if (fromFile === undefined || fromFile === value || field === 'files.ignore' || field === 'files.ignoreDotFiles') continue;
      warnings.push(
        `${field} is set inline (${inlineSource(field, config)} = ${value}) and in ${settings.globalSources.join(', ')} (${fromFile}): ` +
          `the inline value wins for ${path.target}`,
      );
    }
  }
  return warnings;
}

const INLINE_SOURCES: Readonly<Record<string, string>> = {
  'retention.keepLatest': 'KOPIA_RETAIN_LATEST',
  'retention.keepHourly': 'KOPIA_RETAIN_HOURLY',
  'retention.keepDaily': 'KOPIA_RETAIN_DAILY',
  'retention.keepWeekly': 'KOPIA_RETAIN_WEEKLY',
  'retention.keepMonthly': 'KOPIA_RETAIN_MONTHLY',
  'retention.keepAnnual': 'KOPIA_RETAIN_YEARLY',
  'compression.compressorName': 'KOPIA_COMPRESSION',
};

function inlineSource(field: string, _config: MoverConfig): string {
  return INLINE_SOURCES[field] ?? 'KOPIA_ADDITIONAL_ARGS';
}

/** One settings step: its kopia command and what it records once applied. */
export interface SettingsStep {
  name: 'policies' | 'throttle';
  command: KopiaCommand;
  record: AppliedRecord;
  /** In words, what the step changes compared with what this cache applied last. */
  changes: string[];
  /** No earlier record in this cache: everything it sets is new as far as the mover knows. */
  first: boolean;
}

/**
 * The global policy and the snapshot path's policy in one `policy import`. Each target is replaced
 * whole by what the sources say, and a target this cache set before that no source sets any more
 * is imported empty: removing a setting from the spec returns it to kopia's inherited or default value.
 */
function policiesStep(config: MoverConfig, settings: PolicySettings, path: PathPolicy): SettingsStep | undefined {
  const previous = appliedRecord(config, 'policies');
  const wanted: Record<string, Record<string, unknown>> = {};
  if (settings.globalPolicy) wanted[GLOBAL_POLICY_KEY] = settings.globalPolicy;
  if (path.policy) wanted[path.target] = path.policy;
  const record: AppliedRecord = { digest: digestOf(wanted), targets: Object.keys(wanted), fields: flattenFields(wanted) };
  if ((previous?.digest ?? digestOf({})) === record.digest) return undefined;
  const document = { ...wanted };
  for (const target of previous?.targets ?? []) if (!(target in document)) document[target] = {};
  const targets = Object.keys(document);
  const described = targets.map((t) => (t === GLOBAL_POLICY_KEY ? `the global policy${settings.globalPolicy ? ` from ${settings.globalSources.join(', ')}` : ''}` : `the policy of ${t}`));
  return {
    name: 'policies',
    command: {
      args: ['policy', 'import'],
      purpose: `apply ${described.join(' and ')}`,
      // Policies may hold action scripts, so the file is private like any secret.
      secretFiles: [{ flag: '--from-file', content: new Secret(JSON.stringify(document)), purpose: `policies for ${targets.join(', ')}` }],
    },
    record,
    changes: describeChanges(previous?.fields ?? {}, record.fields),
    first: previous === undefined,
  };
}

/** The repository throttle from the repository config, or from KOPIA_ADDITIONAL_ARGS, which wins. */
export function desiredThrottle(config: MoverConfig, settings: PolicySettings): { upload?: number; download?: number; source: string } {
  const repo = settings.repository;
  const args = config.throttleArgs;
  return {
    upload: args.uploadBytesPerSecond ?? repo?.uploadBytesPerSecond,
    download: args.downloadBytesPerSecond ?? repo?.downloadBytesPerSecond,
    source: [repo?.source, args.uploadBytesPerSecond !== undefined || args.downloadBytesPerSecond !== undefined ? 'KOPIA_ADDITIONAL_ARGS' : undefined]
      .filter(Boolean)
      .join(' and '),
  };
}

/** Both directions are set every time: one the spec no longer limits goes back to unlimited. */
function throttleStep(config: MoverConfig, settings: PolicySettings): SettingsStep | undefined {
  const previous = appliedRecord(config, 'throttle');
  const wanted = desiredThrottle(config, settings);
  if (previous === undefined && wanted.upload === undefined && wanted.download === undefined) return undefined;
  const upload = wanted.upload === undefined ? 'unlimited' : String(wanted.upload);
  const download = wanted.download === undefined ? 'unlimited' : String(wanted.download);
  const fields = { 'throttle upload': upload, 'throttle download': download };
  const record: AppliedRecord = { digest: digestOf(fields), targets: ['throttle'], fields };
  if (previous?.digest === record.digest) return undefined;
  return {
    name: 'throttle',
    command: {
      args: ['repository', 'throttle', 'set', `--upload-bytes-per-second=${upload}`, `--download-bytes-per-second=${download}`],
      purpose: `set the repository throttle${wanted.source ? ` from ${wanted.source}` : ' back to unlimited'}`,
    },
    record,
    changes: describeChanges(previous?.fields ?? {}, record.fields),
    first: previous === undefined,
  };
}

/** The steps that would change something; policies only for a backup, which passes the path's policy. */
export function settingsSteps(config: MoverConfig, settings: PolicySettings, path?: PathPolicy): SettingsStep[] {
  const steps = [path ? policiesStep(config, settings, path) : undefined, throttleStep(config, settings)];
  return steps.filter((s): s is SettingsStep => s !== undefined);
}

/**
 * Applies the policies and the throttle, each in one kopia call and only when different from what
 * this cache last applied, and says what changed. A failure is counted and reported, never fatal:
 * the docs promise the backup goes on.
 */
export async function applySettings(ctx: RunContext, settings: PolicySettings, outcome: PolicyOutcome, path?: PathPolicy): Promise<void> {
  const { output } = ctx;
  const steps = settingsSteps(ctx.config, settings, path);
  const inputs = settings.globalPolicy !== undefined || settings.repository !== undefined || path?.policy !== undefined;
  if (inputs || steps.length > 0) output.line('=== Applying policy configuration ===');
  const kinds = [path && (settings.globalPolicy || path.policy) ? 'policies' : undefined, settings.repository || steps.some((s) => s.name === 'throttle') ? 'throttle' : undefined];
  for (const kind of kinds) {
    if (kind === undefined || steps.some((s) => s.name === kind)) continue;
    output.log.info(`${kind} unchanged since the last run, not re-applied`);
    outcome.applied++;
  }
  for (const step of steps) {
    const result = await runKopia(ctx, step.command);
    if (result.exitCode === 0) {
      outcome.applied++;
      recordApplied(ctx.config, step.name, step.record);
      output.log.info({ changes: step.changes }, step.first ? `${step.name} applied` : `${step.name} changed`);
    } else {
      outcome.failed++;
      const reason = result.tail.filter((l) => /error|invalid|unknown/i.test(l)).slice(-2).join(' ') || `kopia exit code ${result.exitCode}`;
      outcome.failures.push(`${step.command.purpose}: ${reason}`);
    }
  }
  if (inputs || steps.length > 0 || outcome.failed > 0) {
    output.line(`Policy configuration summary: ${outcome.applied} applied, ${outcome.failed} failed`);
    const log = outcome.failed > 0 ? output.log.warn.bind(output.log) : output.log.info.bind(output.log);
    log({ failures: outcome.failures }, `policy: ${outcome.applied} applied, ${outcome.failed} failed`);
  }
}
