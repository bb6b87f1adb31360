import { isPlainObject } from '../values.js';
import type { StorageTarget } from '../backends/types.js';
import { Secret } from '../secret.js';
import { ConfigError } from '../errors.js';
import { errorFinding, warningFinding, type Found } from '../findings.js';
import { mapPolicyDocument } from './kopia-policy.js';
import { unusableValues } from './mounted.js';
import { connectionToken } from '../backends/shared.js';
import { SECRET_KEY } from '../kopia/environment.js';


/**
 * A target that connects with kopia's own repository config JSON. The settings
 * that identify the repository (everything but credentials) decide reuse.
 */
function fromConfigTarget(
  storage: { type: string; config: Record<string, unknown> },
  description: string,
  file: { token: Secret } | { path: string },
): StorageTarget {
  const identifying = Object.entries(storage.config).filter(([k]) => !SECRET_KEY.test(k));
  const secretKeys = Object.keys(storage.config).filter((k) => SECRET_KEY.test(k));
  return {
    backend: storage.type,
    args: 'path' in file ? ['from-config', `--file=${file.path}`] : ['from-config'],
    env: {},
    // A token, not --file: kopia's `repository create from-config` reads only tokens.
    secretFiles: 'token' in file ? [{ flag: '--token-file', content: file.token, purpose: `${storage.type} connection settings` }] : [],
    secretConfigKeys: secretKeys,
    localPath: storage.type === 'filesystem' && typeof storage.config['path'] === 'string' ? storage.config['path'] : undefined,
    description,
    matchesStorage: (saved) =>
      saved.type === storage.type && identifying.every(([k, v]) => JSON.stringify(saved.config?.[k]) === JSON.stringify(v)),
    warnings: [],
  };
}

export interface StructuredConfig {
  storage: StorageTarget;
  policy?: Record<string, unknown>;
  contentCacheMb?: number;
  metadataCacheMb?: number;
}

const SOURCE = 'KOPIA_STRUCTURED_REPOSITORY_CONFIG';

/**
 * KOPIA_STRUCTURED_REPOSITORY_CONFIG: kopia's repository config JSON, plus `policies` and
 * `caching`; undefined, with the errors, when it cannot be used. What it gives that is not applied
 * is a warning.
 */
export function parseStructuredConfig(input: unknown): Found<StructuredConfig | undefined> {
  if (!isPlainObject(input) || !isPlainObject(input['storage']) || typeof input['storage']['type'] !== 'string' || !isPlainObject(input['storage']['config'])) {
    return refused(['must be a JSON object with "storage": {"type": ..., "config": {...}}']);
  }
  const storage = input['storage'] as { type: string; config: Record<string, unknown> };
  const token = new Secret(connectionToken(storage.type, storage.config));
  const result: StructuredConfig = { storage: fromConfigTarget(storage, `${storage.type} repository from ${SOURCE}`, { token }) };
  const notApplied: string[] = [];
  if (input['policies'] !== undefined) {
    const policies = structuredPolicies(input['policies']);
    if ('refusals' in policies) return refused(policies.refusals);
    result.policy = policies.policy;
    notApplied.push(...policies.warnings);
  }
  const caching = input['caching'];
  if (isPlainObject(caching)) {
    const mb = (v: unknown) => (typeof v === 'number' && v >= 0 ? Math.max(1, Math.round(v / 1_000_000)) : undefined);
    result.contentCacheMb = mb(caching['maxCacheSize']);
    result.metadataCacheMb = mb(caching['maxMetadataCacheSize'] ?? caching['metadataCacheSize']);
    if (caching['cacheDirectory'] !== undefined) notApplied.push('caching.cacheDirectory: the cache lives in KOPIA_CACHE_DIR, not applied');
  }
  for (const key of Object.keys(input)) {
    if (!['storage', 'policies', 'caching'].includes(key)) notApplied.push(`${key}: not applied`);
  }
  return { value: result, findings: notApplied.map((w) => warningFinding(SOURCE, w)) };
}

function refused(messages: readonly string[]): Found<undefined> {
  return { value: undefined, findings: messages.map((message) => errorFinding(SOURCE, message)) };
}

/**
 * The `policies` part in kopia's spelling, with its warnings. A policy that cannot be used stops
 * the run: applying the rest would drop what it set before.
 */
function structuredPolicies(input: unknown): { policy: Record<string, unknown>; warnings: string[] } | { refusals: string[] } {
  try {
    const mapped = mapPolicyDocument(input, `${SOURCE} policies`);
    const unusable = unusableValues(mapped);
    if (unusable.length > 0) return { refusals: unusable.map((message) => `policies.${message}`) };
    return { policy: mapped.policy, warnings: mapped.warnings.map((w) => `policies.${w}`) };
  } catch (error) {
    const messages = error instanceof ConfigError ? error.issues.map((i) => i.message) : [(error as Error).message];
    return { refusals: messages.map((message) => `policies: ${message}`) };
  }
}

/** The legacy mounted /credentials/repository.config, used with `from-config --file` as it is. */
export function legacyConfigTarget(path: string, input: unknown): Found<StorageTarget | undefined> {
  if (!isPlainObject(input) || !isPlainObject(input['storage']) || typeof input['storage']['type'] !== 'string') {
    return { value: undefined, findings: [errorFinding(path, 'is not a kopia repository config: it needs "storage": {"type": ..., "config": {...}}')] };
  }
  const storage = input['storage'] as { type: string; config?: Record<string, unknown> };
  return { value: fromConfigTarget({ type: storage.type, config: storage.config ?? {} }, `${storage.type} repository from ${path}`, { path }), findings: [] };
}
