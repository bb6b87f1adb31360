import { isPlainObject } from '../values.js';
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { regularFileProblem } from '../files.js';
import { readJsonFileSync } from './json-input.js';
import { mapPolicyDocument } from './kopia-policy.js';
import { parseRepositoryConfig, type RepositoryConfig } from './repository-config.js';

export const DEFAULT_GLOBAL_POLICY_FILE = 'global-policy.json';
export const DEFAULT_REPOSITORY_CONFIG_FILE = 'repository.config';

/** What names the policy inputs: the mounted files, and the JSON configs' policy parts. */
export interface PolicyInputs {
  files: { configPath?: string; globalPolicyFile?: string; repositoryConfigFile?: string };
  manual?: { policy?: Record<string, unknown> };
  structuredPolicy?: Record<string, unknown>;
}

/** One thing found about a policy input: an error means that input is not applied at all. */
export interface PolicyFinding {
  source: string;
  message: string;
  severity: 'error' | 'warning';
  /**
   * The input is not a file at all (a FIFO, a device, a directory): a broken mount, not a policy
   * with a mistake in it, so the run stops before the repository is touched.
   */
  blocksRun?: boolean;
}

/** The policy and repository settings from every source, ready to apply. */
export interface PolicySettings {
  /** The global policy in kopia's spelling, merged from every source; undefined when none gives one. */
  globalPolicy?: Record<string, unknown>;
  /** Where the global policy's parts came from, lowest precedence first. */
  globalSources: string[];
  repository?: RepositoryConfig & { source: string };
  findings: PolicyFinding[];
}

/**
 * The file a variable names, inside KOPIA_CONFIG_PATH unless absolute. A file
 * named explicitly must exist; the default name is optional.
 */
function locate(config: PolicyInputs, name: string | undefined, fallback: string): { path: string; required: boolean } | undefined {
  if (name && isAbsolute(name)) return { path: name, required: true };
  const dir = config.files.configPath;
  if (!dir) return undefined;
  return { path: join(dir, name ?? fallback), required: name !== undefined };
}


/** Later sources win field by field; lists are replaced, not concatenated. */
export function mergePolicies(base: Record<string, unknown>, top: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(top)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergePolicies(current, value) : value;
  }
  return out;
}

function readMounted(path: string, findings: PolicyFinding[]): unknown {
  const problem = existsSync(path) ? regularFileProblem(path) : undefined;
  if (problem !== undefined) {
    findings.push({ source: path, message: `cannot be used: ${problem}`, severity: 'error', blocksRun: true });
    return undefined;
  }
  try {
    return readJsonFileSync(path);
  } catch (error) {
    const issues = error instanceof ConfigError ? error.issues : [{ source: path, message: String(error) }];
    for (const issue of issues) findings.push({ source: issue.source, message: issue.message, severity: 'error' });
    return undefined;
  }
}

/** Reads and checks every policy input. Touches no repository; never throws for a bad file. */
export function loadPolicySettings(config: PolicyInputs): PolicySettings {
  const findings: PolicyFinding[] = [];
  const settings: PolicySettings = { globalSources: [], findings };
  let global: Record<string, unknown> | undefined;
  const add = (policy: Record<string, unknown> | undefined, source: string) => {
    if (!policy || Object.keys(policy).length === 0) return;
    global = mergePolicies(global ?? {}, policy);
    settings.globalSources.push(source);
  };
  add(config.manual?.policy, 'KOPIA_MANUAL_CONFIG');
  add(config.structuredPolicy, 'KOPIA_STRUCTURED_REPOSITORY_CONFIG');

  const policyFile = locate(config, config.files.globalPolicyFile, DEFAULT_GLOBAL_POLICY_FILE);
  if (policyFile && (policyFile.required || existsSync(policyFile.path))) {
    const doc = readMounted(policyFile.path, findings);
    if (doc !== undefined) {
      try {
        const mapped = mapPolicyDocument(doc, policyFile.path);
        for (const w of mapped.warnings) findings.push({ source: policyFile.path, message: w, severity: 'warning' });
        add(mapped.policy, policyFile.path);
      } catch (error) {
        const issues = error instanceof ConfigError ? error.issues : [{ source: policyFile.path, message: String(error) }];
        for (const issue of issues) findings.push({ source: issue.source, message: issue.message, severity: 'error' });
      }
    }
  }
  settings.globalPolicy = global;

  const repoFile = locate(config, config.files.repositoryConfigFile, DEFAULT_REPOSITORY_CONFIG_FILE);
  if (repoFile && (repoFile.required || existsSync(repoFile.path))) {
    const doc = readMounted(repoFile.path, findings);
    if (doc !== undefined) {
      try {
        const parsed = parseRepositoryConfig(doc, repoFile.path);
        for (const w of parsed.warnings) findings.push({ source: repoFile.path, message: w, severity: 'warning' });
        for (const n of parsed.notApplied) findings.push({ source: repoFile.path, message: n, severity: 'warning' });
        settings.repository = { ...parsed, source: repoFile.path };
      } catch (error) {
        const issues = error instanceof ConfigError ? error.issues : [{ source: repoFile.path, message: String(error) }];
        for (const issue of issues) findings.push({ source: issue.source, message: issue.message, severity: 'error' });
      }
    }
  }
  return settings;
}
