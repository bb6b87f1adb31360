import type { EnvMap } from '../env.js';
import { configVariableNames, parseConfig, type InputNames, type SystemFacts } from '../config/parse.js';
import { unknownVariableWarnings } from '../config/unknown-variables.js';
import { pathPolicy, pathTarget } from './backup.js';
import { preflightProblems } from './preflight.js';
import { loadFacts } from '../facts.js';
import { shortSecretWarnings } from '../secret-checks.js';
import { settingsWarnings } from './settings.js';
import type { Operation } from '../config/types.js';
import { ConfigError, ExitCode } from '../errors.js';
import { loadPolicySettings } from '../policy/mounted.js';
import { errorFinding, errorsOf, warningFinding, type Finding } from '../findings.js';
import type { Output } from '../report/output.js';

/**
 * Checks the environment, every mounted file and the run's preflight (the deletion guard, the
 * repository volume, the writable cache and TMPDIR, DATA_DIR) without touching a repository or
 * writing anything, and prints every finding, not just the first. Exit 0 when nothing is wrong.
 */
export function validate(env: EnvMap, operation: Operation | undefined, system: SystemFacts, output: Output, inputs?: InputNames): number {
  const findings: Finding[] = [];
  let config;
  try {
    config = parseConfig(env, { operation, system, inputs });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const issue of error.issues) findings.push(errorFinding(issue.source, issue.message));
  }
  // The run's own preflight, on the same facts the run reads: what it refuses, validate reports.
  const facts = config === undefined ? undefined : loadFacts(config);
  const preflight = config === undefined || facts === undefined ? [] : preflightProblems(config, facts);
  for (const p of preflight) findings.push(errorFinding(p.source, p.message));
  // The policy files are checked even when the environment has errors, so one run shows everything.
  const settings = facts?.settings ?? loadPolicySettings(
    config ?? {
      files: {
        configPath: env['KOPIA_CONFIG_PATH'] || undefined,
        globalPolicyFile: env['KOPIA_GLOBAL_POLICY_FILE'] || undefined,
        repositoryConfigFile: env['KOPIA_REPOSITORY_CONFIG_FILE'] || undefined,
      },
    },
  );
  findings.push(...(config?.configWarnings ?? []));
  findings.push(...(config ? shortSecretWarnings(config, env) : []));
  if (config === undefined) {
    findings.push(...unknownVariableWarnings(env, configVariableNames()));
  } else if (config.operation === 'backup') {
    const path = { target: pathTarget(config), policy: pathPolicy(config, settings.globalPolicy) };
    for (const message of settingsWarnings(config, settings, path)) findings.push(warningFinding('policy', message));
  }
  // A policy file that blocks the run is in the preflight's list already.
  findings.push(...settings.findings.filter((f) => !(f.blocksRun && facts !== undefined)));

  const errors = errorsOf(findings);
  const warnings = findings.filter((f) => f.severity === 'warning');
  for (const f of errors) output.text(`ERROR   ${f.source}: ${f.message}`);
  for (const f of warnings) output.text(`WARNING ${f.source}: ${f.message}`);
  if (settings.globalPolicy) output.line(`global policy from ${settings.globalSources.join(', ')}: ${Object.keys(settings.globalPolicy).join(', ')}`);
  output.line(`validate: ${errors.length} error(s), ${warnings.length} warning(s)`);
  return errors.length > 0 ? ExitCode.Config : ExitCode.Success;
}
