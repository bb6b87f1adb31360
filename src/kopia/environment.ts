import type { Secret } from '../secret.js';
import type { EnvMap } from '../env.js';
import { SECRET_VARIABLES } from '../env.js';
import { jsonTooDeep } from '../policy/json-input.js';

/**
 * Variables kopia's child may inherit from our own environment. Everything else is
 * left out on purpose: kopia reads many KOPIA_* variables as flag defaults, and
 * VolSync's KOPIA_CONFIG_PATH (the policy mount) would become kopia's --config-file.
 * The proxy variables are the controller's copy of a cluster-wide proxy: without them
 * kopia cannot reach object storage on such a cluster.
 */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'TZ', 'LANG', 'LC_ALL', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'USER'];
export const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];

/** What kopia is given: the repository password and the storage backend's variables. */
export interface KopiaCredentials {
  password: Secret;
  storage?: { env: Record<string, Secret | string> };
}

/** The kopia child's environment: the only place secrets leave the program. */
export function kopiaEnvironment(config: KopiaCredentials, parent: EnvMap): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...INHERITED, ...PROXY_VARIABLES]) {
    const value = parent[name];
    if (value !== undefined && value !== '') env[name] = value;
  }
  env['KOPIA_PASSWORD'] = config.password.reveal();
  env['KOPIA_CHECK_FOR_UPDATES'] = 'false';
  env['KOPIA_PERSIST_CREDENTIALS_ON_CONNECT'] = 'false';
  env['KOPIA_USE_KEYRING'] = 'false';
  for (const [name, value] of Object.entries(config.storage?.env ?? {})) {
    env[name] = typeof value === 'string' ? value : value.reveal();
  }
  return env;
}

/** Keys of kopia's storage config (and of the JSON configs) whose values are credentials. */
export const SECRET_KEY = /secret|password|passphrase|token|credential|sas|storageKey|^key$|keyData|accessKey|privateKey/i;

/** Every string under a secret-looking key of a JSON value, at any depth. */
function secretFields(value: unknown, out: string[], underSecret = false): void {
  if (typeof value === 'string') {
    if (underSecret) out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) secretFields(v, out, underSecret);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) secretFields(v, out, underSecret || SECRET_KEY.test(k));
  }
}

/** The user and password parts of a URL-shaped value, which must never be printed. */
function urlCredentials(value: string): string[] {
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(value.trim())?.[1];
  if (userinfo === undefined) return [];
  return [userinfo, ...userinfo.split(':')];
}

const URL_VARIABLES = ['KOPIA_REPOSITORY', 'WEBDAV_URL', 'KOPIA_S3_ENDPOINT', 'AWS_S3_ENDPOINT', 'KOPIA_MOVER_METRICS_PUSHGATEWAY', ...PROXY_VARIABLES];
const JSON_VARIABLES = ['KOPIA_STRUCTURED_REPOSITORY_CONFIG', 'KOPIA_MANUAL_CONFIG'];

/**
 * Secret values known from the environment alone, so that even a run whose configuration is
 * invalid cannot print them: the secret variables, credentials written into URLs, and the secret
 * fields of the JSON configs.
 */
export function environmentSecrets(env: EnvMap): string[] {
  const values: string[] = [];
  for (const name of SECRET_VARIABLES) {
    const v = env[name];
    if (v !== undefined && v.trim() !== '') values.push(v);
  }
  for (const name of URL_VARIABLES) values.push(...urlCredentials(env[name] ?? ''));
  for (const name of JSON_VARIABLES) {
    const text = env[name];
    // Too deep to walk: parsing refuses it (exit 2) before anything could print it.
    if (text === undefined || text.length > 1_048_576 || jsonTooDeep(text)) continue;
    try {
      secretFields(JSON.parse(text), values);
    } catch {
      // Invalid JSON is reported by parsing; its text as a whole is still redacted above.
    }
  }
  return values;
}

/** Secret values to scrub from anything printed, longest first so overlaps redact whole. */
export function secretValues(config: KopiaCredentials, parent: EnvMap): string[] {
  const values = new Set<string>([config.password.reveal(), ...environmentSecrets(parent)]);
  for (const value of Object.values(config.storage?.env ?? {})) {
    if (typeof value !== 'string') values.add(value.reveal());
  }
  return [...values].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
}
