import { Secret } from '../config/secret.js';
import { ConfigError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { globalImportDocument } from '../policy/kopia-policy.js';
import { loadPolicySettings, type PolicySettings } from '../policy/mounted.js';
import type { PolicyOutcome } from '../report/summary.js';
import { runKopia, type RunContext } from './context.js';
import { alreadyApplied, digestOf, recordApplied } from './state.js';

export interface PathPolicy {
  /** `user@host:path` */
  target: string;
  policy?: Record<string, unknown>;
}

/**
 * The global policy and the snapshot path's policy in one `policy import`:
 * each target is replaced whole by what the sources say, so a run is
 * repeatable and no kopia call is spent per setting.
 */
export function policyImportCommand(settings: PolicySettings, path?: PathPolicy): KopiaCommand | undefined {
  const document: Record<string, unknown> = settings.globalPolicy ? globalImportDocument(settings.globalPolicy) : {};
  if (path?.policy) document[path.target] = path.policy;
  const targets = Object.keys(document);
  if (targets.length === 0) return undefined;
  const described = [settings.globalPolicy && `the global policy from ${settings.globalSources.join(', ')}`, path?.policy && `the policy of ${path.target}`];
  return {
    args: ['policy', 'import'],
    purpose: `apply ${described.filter(Boolean).join(' and ')}`,
    // Policies may hold action scripts, so the file is private like any secret.
    secretFiles: [{ flag: '--from-file', content: new Secret(JSON.stringify(document)), purpose: `policies for ${targets.join(', ')}` }],
  };
}

export function throttleCommand(settings: PolicySettings): KopiaCommand | undefined {
  const repo = settings.repository;
  if (!repo || (repo.uploadBytesPerSecond === undefined && repo.downloadBytesPerSecond === undefined)) return undefined;
  const args = ['repository', 'throttle', 'set'];
  if (repo.uploadBytesPerSecond !== undefined) args.push(`--upload-bytes-per-second=${repo.uploadBytesPerSecond}`);
  if (repo.downloadBytesPerSecond !== undefined) args.push(`--download-bytes-per-second=${repo.downloadBytesPerSecond}`);
  return { args, purpose: `set repository throttle from ${repo.source}` };
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

interface SettingsStep {
  name: string;
  command: KopiaCommand;
  /** What the step would set, to skip it when this cache already applied exactly that. */
  digest: string;
}

export function settingsSteps(settings: PolicySettings, path?: PathPolicy): SettingsStep[] {
  const steps: SettingsStep[] = [];
  for (const [name, command] of [['policies', policyImportCommand(settings, path)], ['throttle', throttleCommand(settings)]] as const) {
    if (!command) continue;
    steps.push({ name, command, digest: digestOf([...command.args, ...(command.secretFiles ?? []).map((f) => f.content.reveal())]) });
  }
  return steps;
}

/**
 * Applies the policies and the throttle, each in one kopia call and only when
 * different from what this cache last applied. A failure is counted and
 * reported, never fatal: the docs promise the backup goes on.
 */
export async function applySettings(ctx: RunContext, settings: PolicySettings, outcome: PolicyOutcome, path?: PathPolicy): Promise<void> {
  for (const { name, command, digest } of settingsSteps(settings, path)) {
    if (alreadyApplied(ctx.config, name, digest)) {
      ctx.output.log.info(`${name} unchanged since the last run, not re-applied`);
      outcome.applied++;
      continue;
    }
    const result = await runKopia(ctx, command);
    if (result.exitCode === 0) {
      outcome.applied++;
      recordApplied(ctx.config, name, digest);
    } else {
      outcome.failed++;
      const reason = result.tail.filter((l) => /error|invalid|unknown/i.test(l)).slice(-2).join(' ') || `kopia exit code ${result.exitCode}`;
      outcome.failures.push(`${command.purpose}: ${reason}`);
    }
  }
  if (outcome.applied + outcome.failed > 0) {
    const log = outcome.failed > 0 ? ctx.output.log.warn.bind(ctx.output.log) : ctx.output.log.info.bind(ctx.output.log);
    log({ failures: outcome.failures }, `policy: ${outcome.applied} applied, ${outcome.failed} failed`);
  }
}
