import { Secret } from '../secret.js';
import type { MoverConfig } from '../config/parse.js';
import { ConfigError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { GLOBAL_POLICY_KEY } from '../policy/kopia-policy.js';
import { GLOBAL_POLICY_INPUT, mergePolicies, REPOSITORY_CONFIG_INPUT, type PolicySettings } from '../policy/mounted.js';
import type { PolicyOutcome } from '../report/summary.js';
import type { Facts } from '../facts.js';
import { required, type RunState, type Step } from '../plan/step.js';
import { CREATED } from './connect.js';
import { digestOf, flattenFields, fragmentOf } from '../policy/fields.js';
import { describeChanges, recordApplied, type AppliedRecord } from './state.js';
import { problemLines } from '../kopia/failures.js';

export interface PathPolicy {
  /** `user@host:path` */
  target: string;
  policy?: Record<string, unknown>;
}

/** Whether kopia may run the actions of a policy: only a connection made with --enable-actions does. */
export function actionsEnabled(settings: PolicySettings): boolean {
  return settings.repository?.enableActions === true;
}

/** How long kopia lets a policy action run when the action names no timeout of its own. */
export const KOPIA_DEFAULT_ACTION_TIMEOUT_SECONDS = 180;
/** Room beyond an action's timeout for kopia to stop it and report. */
const ACTION_STALL_MARGIN_SECONDS = 60;

function actionTimeouts(policy: Record<string, unknown> | undefined): number[] {
  const actions = policy?.['actions'];
  if (actions === null || typeof actions !== 'object') return [];
  return Object.values(actions as Record<string, unknown>).map((action) => {
    const timeout = action !== null && typeof action === 'object' ? (action as Record<string, unknown>)['timeout'] : undefined;
    return typeof timeout === 'number' && timeout > 0 ? timeout : KOPIA_DEFAULT_ACTION_TIMEOUT_SECONDS;
  });
}

/**
 * The snapshot's stall limit. kopia prints nothing new while a policy action runs, so where kopia
 * may run actions the limit is never shorter than the longest action's timeout (the policies' own,
 * `actionCommandTimeout`, or kopia's default for an action the run cannot see, such as one held
 * in the repository) plus a margin: a slow action is the action's timeout to judge, not a stall.
 */
export function snapshotStallMs(stallMs: number, settings: PolicySettings, path?: PathPolicy): number {
  if (stallMs === 0 || !actionsEnabled(settings)) return stallMs;
  const repositorySeconds = Math.ceil((settings.repository?.actionTimeoutMs ?? 0) / 1000);
  const longest = Math.max(KOPIA_DEFAULT_ACTION_TIMEOUT_SECONDS, repositorySeconds, ...actionTimeouts(settings.globalPolicy), ...actionTimeouts(path?.policy));
  return Math.max(stallMs, (longest + ACTION_STALL_MARGIN_SECONDS) * 1000);
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

/** One settings change: its kopia command and what it records once applied. */
interface SettingsChange {
  name: 'policies' | 'throttle';
  command: KopiaCommand;
  record: AppliedRecord;
  /** In words, what the step changes compared with what this cache applied last. */
  changes: string[];
  /** No earlier record in this cache: everything it sets is new as far as the mover knows. */
  first: boolean;
  /** Nothing changed since this cache applied it: needed again only in a repository created in this run. */
  unchanged: boolean;
  /** Retention the snapshot path loses, as `keepLatest 50 → 10`: said in the summary once applied. */
  lowered?: string[];
  /** Fields a local run keeps from the last run because the command line does not give them. */
  kept?: Record<string, unknown>;
}

/** The retention fields, with the value kopia v0.22.3 gives each when no policy sets it. */
export const KOPIA_DEFAULT_RETENTION: Readonly<Record<string, number>> = {
  keepLatest: 10,
  keepHourly: 48,
  keepDaily: 7,
  keepWeekly: 4,
  keepMonthly: 24,
  keepAnnual: 3,
};

/** What a record's fields keep of each retention field for the path: its own value, else the global one, else kopia's. */
function effectiveRetention(fields: Record<string, string>, target: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, fallback] of Object.entries(KOPIA_DEFAULT_RETENTION)) {
    const json = fields[`${target} retention.${key}`] ?? fields[`${GLOBAL_POLICY_KEY} retention.${key}`];
    const value = json === undefined ? undefined : (JSON.parse(json) as unknown);
    out[key] = typeof value === 'number' ? value : fallback;
  }
  return out;
}

/** The retention fields this change lowers for the path, `keepLatest 50 → 10`, from what this cache applied last. */
function loweredRetention(previous: AppliedRecord | undefined, next: AppliedRecord, target: string): string[] {
  if (previous === undefined) return [];
  const before = effectiveRetention(previous.fields, target);
  const after = effectiveRetention(next.fields, target);
  return Object.keys(KOPIA_DEFAULT_RETENTION)
    .filter((key) => after[key]! < before[key]!)
    .map((key) => `${key} ${before[key]} → ${after[key]}`);
}

/** Fields a person gives on the command line that a local run keeps from the last run when not given. */
const STICKY_FIELDS = /^(retention\.keep(Latest|Hourly|Daily|Weekly|Monthly|Annual)|compression\.compressorName)$/;

/**
 * In a local run, the path's sticky fields the command line does not give, as the last run
 * applied them: a flag left out is not a request to go back to kopia's defaults.
 */
function keptFromLastRun(previous: AppliedRecord | undefined, target: string, policy: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const given = flattenFields({ [target]: policy ?? {} });
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(previous?.fields ?? {})) {
    const field = key.startsWith(`${target} `) ? key.slice(target.length + 1) : undefined;
    if (field !== undefined && STICKY_FIELDS.test(field) && given[key] === undefined) kept[field] = value;
  }
  return Object.keys(kept).length > 0 ? fragmentOf(kept) : undefined;
}

/** The previous record's fields of one target. */
function fieldsOf(record: AppliedRecord | undefined, target: string): Record<string, string> {
  return Object.fromEntries(Object.entries(record?.fields ?? {}).filter(([key]) => key.startsWith(`${target} `)));
}

/**
 * The global policy and the snapshot path's policy in one `policy import`. Each target is replaced
 * whole by what the sources say, and a target this cache set before that no source sets any more
 * is imported empty: removing a setting from the spec returns it to kopia's inherited or default value.
 * A global policy held (an input could not be read and what it applied last is unknown) is not
 * imported at all: kopia keeps it as it is, and the record keeps what it said before.
 */
function policiesChange(config: MoverConfig, settings: PolicySettings, previous: AppliedRecord | undefined, path: PathPolicy): SettingsChange | undefined {
  const held = settings.globalHeld !== undefined;
  const wanted: Record<string, Record<string, unknown>> = {};
  if (settings.globalPolicy && !held) wanted[GLOBAL_POLICY_KEY] = settings.globalPolicy;
  const kept = config.localRun ? keptFromLastRun(previous, path.target, path.policy) : undefined;
  const pathPolicy = kept ? mergePolicies(path.policy ?? {}, kept) : path.policy;
  if (pathPolicy) wanted[path.target] = pathPolicy;
  const fields = { ...flattenFields(wanted), ...(held ? fieldsOf(previous, GLOBAL_POLICY_KEY) : {}) };
  const targets = [...Object.keys(wanted), ...(held && previous?.targets.includes(GLOBAL_POLICY_KEY) ? [GLOBAL_POLICY_KEY] : [])];
  // Holding the global policy is part of what was applied: once the input reads again, it is imported.
  const record: AppliedRecord = { digest: digestOf(held ? { wanted, held } : wanted), targets, fields };
  const unchanged = (previous?.digest ?? digestOf({})) === record.digest;
  const document = { ...wanted };
  if (!unchanged) for (const target of previous?.targets ?? []) if (!(target in document) && !(held && target === GLOBAL_POLICY_KEY)) document[target] = {};
  const imported = Object.keys(document);
  if (imported.length === 0) return undefined;
  const described = imported.map((t) => (t === GLOBAL_POLICY_KEY ? `the global policy${settings.globalPolicy ? ` from ${settings.globalSources.join(', ')}` : ''}` : `the policy of ${t}`));
  return {
    name: 'policies',
    command: {
      args: ['policy', 'import'],
      purpose: `apply ${described.join(' and ')}`,
      // Policies may hold action scripts, so the file is private like any secret.
      secretFiles: [{ flag: '--from-file', content: new Secret(JSON.stringify(document)), purpose: `policies for ${imported.join(', ')}` }],
    },
    record,
    changes: describeChanges(previous?.fields ?? {}, record.fields),
    first: previous === undefined,
    unchanged,
    lowered: loweredRetention(previous, record, path.target),
    kept,
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
function throttleChange(config: MoverConfig, settings: PolicySettings, previous: AppliedRecord | undefined): SettingsChange | undefined {
  // The repository config could not be read and what it set last is unknown: kopia keeps its throttle.
  if (settings.throttleHeld !== undefined) return undefined;
  const wanted = desiredThrottle(config, settings);
  if (previous === undefined && wanted.upload === undefined && wanted.download === undefined) return undefined;
  const upload = wanted.upload === undefined ? 'unlimited' : String(wanted.upload);
  const download = wanted.download === undefined ? 'unlimited' : String(wanted.download);
  const fields = { 'throttle upload': upload, 'throttle download': download };
  const record: AppliedRecord = { digest: digestOf(fields), targets: ['throttle'], fields };
  const unchanged = previous?.digest === record.digest;
  // Unlimited both ways is what a new repository has: nothing to set there.
  if (unchanged && wanted.upload === undefined && wanted.download === undefined) return undefined;
  return {
    name: 'throttle',
    command: {
      args: ['repository', 'throttle', 'set', `--upload-bytes-per-second=${upload}`, `--download-bytes-per-second=${download}`],
      purpose: `set the repository throttle${wanted.source ? ` from ${wanted.source}` : ' back to unlimited'}`,
    },
    record,
    changes: describeChanges(previous?.fields ?? {}, record.fields),
    first: previous === undefined,
    unchanged,
  };
}

/**
 * The steps that apply the settings: the policies (a backup passes the path's policy) and the
 * throttle, each in one kopia call and only when different from what this cache last applied (or
 * the repository is new), with the lines the docs tell users to look for around them. A failure is
 * counted and reported, never fatal: the docs promise the backup goes on.
 */
export function settingsSteps(config: MoverConfig, facts: Facts, path?: PathPolicy): Step[] {
  const settings = facts.settings;
  // A policy input that is not a file at all (a FIFO, a device) is a broken mount: stop before anything runs.
  const blocking = settings.findings.filter((f) => f.blocksRun);
  if (blocking.length > 0) throw new ConfigError(blocking.map(({ source, message }) => ({ source, message })));
  const changes = [
    path ? policiesChange(config, settings, facts.applied.policies, path) : undefined,
    throttleChange(config, settings, facts.applied.throttle),
  ].filter((c): c is SettingsChange => c !== undefined);
  const inputs =
    settings.globalPolicy !== undefined || settings.repository !== undefined || path?.policy !== undefined || settings.findings.some((f) => f.severity === 'error');
  const steps: Step[] = [
    {
      id: 'policy-inputs',
      kind: 'internal',
      describe: 'report what the policy inputs hold that cannot be applied',
      run: (state) => reportSettings(state, settings),
    },
  ];
  if (!inputs && changes.length === 0) return steps;
  steps.push({
    id: 'policy-header',
    kind: 'internal',
    describe: 'print "=== Applying policy configuration ==="',
    run: (state) => state.ctx.output.line('=== Applying policy configuration ==='),
  });
  for (const change of changes) {
    steps.push({
      id: change.name,
      kind: 'kopia',
      command: change.command,
      when: change.unchanged ? CREATED : undefined,
      continueOn: ['failed', 'not-initialized', 'creation-in-flight', 'create-lost'],
      after: (_result, state) => {
        recordApplied(state.ctx.config, change.name, change.record);
        if (change.lowered?.length) state.found.retentionLowered = change.lowered;
        state.ctx.output.log.info({ changes: change.changes, keptFromLastRun: change.kept }, change.first ? `${change.name} applied` : `${change.name} changed`);
      },
    });
  }
  steps.push({
    id: 'policy-summary',
    kind: 'internal',
    describe: 'print "Policy configuration summary: N applied, M failed"',
    run: (state) => {
      const outcome = countSettings(state, changes);
      if (changes.every((c) => (state.results.get(c.name)?.exitCode ?? 0) === 0)) recordInputs(state, settings, facts.applied.inputs, path !== undefined);
      // The controller's line counts what is in effect; what this run sent is in the log and the summary.
      const { output } = state.ctx;
      const unchanged = outcome.unchanged ?? 0;
      output.line(`Policy configuration summary: ${outcome.applied + unchanged} applied, ${outcome.failed} failed`);
      const log = outcome.failed > 0 ? output.log.warn.bind(output.log) : output.log.info.bind(output.log);
      log({ failures: outcome.failures, unchanged }, `policy: ${outcome.applied} applied, ${outcome.failed} failed, ${unchanged} unchanged since the last run`);
    },
  });
  return steps;
}

/** Counts what the settings steps came to into the policy outcome the policy inputs began. */
function countSettings(state: RunState, changes: readonly SettingsChange[]): PolicyOutcome {
  const { output } = state.ctx;
  const outcome = required(state, 'policy');
  for (const change of changes) {
    const result = state.results.get(change.name);
    if (result === undefined) {
      output.log.info(`${change.name} unchanged since the last run, not re-applied`);
      outcome.unchanged = (outcome.unchanged ?? 0) + 1;
    } else if (result.exitCode === 0) {
      outcome.applied++;
    } else {
      outcome.failed++;
      const reason = problemLines(result.tail).join(' ') || `kopia exit code ${result.exitCode}`;
      outcome.failures.push(`${change.command.purpose}: ${reason}`);
    }
  }
  return outcome;
}

/**
 * Records what each input stands for now that it is applied: next time one of them cannot be
 * read, these are the values it keeps. An input whose settings were held keeps its older record.
 */
function recordInputs(state: RunState, settings: PolicySettings, previous: AppliedRecord | undefined, policiesApplied: boolean): void {
  const sources = { ...settings.sourceFields };
  // Only a backup imports the policies: a restore or maintenance leaves the global policy file's record as it was.
  const globalKept = policiesApplied ? settings.globalHeld : 'not imported by this operation';
  for (const [input, held] of [[GLOBAL_POLICY_INPUT, globalKept], [REPOSITORY_CONFIG_INPUT, settings.throttleHeld]] as const) {
    if (held === undefined) continue;
    const before = previous?.sources?.[input];
    if (before === undefined) delete sources[input];
    else sources[input] = before;
  }
  recordApplied(state.ctx.config, 'inputs', { digest: digestOf(sources), targets: [], fields: {}, sources });
}

/** Why the settings an input gives are left as kopia holds them, if they are. */
function heldReason(settings: PolicySettings, source: string): string | undefined {
  return source === settings.files.repositoryConfig ? settings.throttleHeld : settings.globalHeld;
}

/** What the summary says an input that failed keeps. */
function keptWords(settings: PolicySettings, source: string): string {
  return heldReason(settings, source) === undefined ? 'kept the last applied values' : 'kept the last applied values (as kopia holds them)';
}

/** The note for a field dropped or translated on purpose: the file and the field first, then what was done and why. */
export function policyNote(source: string, message: string): string {
  const dropped = /^(.*?): (.*), not applied$/s.exec(message);
  return dropped ? `${source}: ${dropped[1]} not applied: ${dropped[2]}` : `${source}: ${message}`;
}

/**
 * Reports what the policy inputs hold that cannot be applied: an input that failed whole is a
 * POLICY_FAILURE, a field whose value cannot be used a summary WARNING, each naming the file
 * and saying that the last applied value stays.
 */
function reportSettings(state: RunState, settings: PolicySettings): void {
  const { ctx } = state;
  const outcome: PolicyOutcome = { applied: 0, failed: 0, unchanged: 0, failures: [] };
  state.found.policy = outcome;
  for (const finding of settings.findings) {
    if (finding.severity === 'error') {
      outcome.failed++;
      const kept = keptWords(settings, finding.source);
      outcome.failures.push(`${finding.source} not applied, ${kept}: ${finding.message}`);
      ctx.output.log.warn({ file: finding.source, held: heldReason(settings, finding.source) }, `policy input not applied, ${kept}: ${finding.message}`);
    } else if (finding.field !== undefined) {
      const held = heldReason(settings, finding.source);
      const kept = held === undefined ? 'the last applied value stays' : 'left as kopia holds it';
      ctx.summary.warnings.push(`${finding.source}: ${finding.message}; ${kept}`);
      ctx.output.log.warn({ file: finding.source, field: finding.field, held }, `policy field not applied, ${kept}: ${finding.message}`);
    } else {
      // Dropped or translated on purpose (a field kopia lacks, a docs' spelling of a value): a note, not a problem.
      const note = policyNote(finding.source, finding.message);
      ctx.summary.notes.push(note);
      ctx.output.log.info({ file: finding.source }, note);
    }
  }
  ctx.summary.policy = outcome;
}
