import type { MoverConfig } from '../config/types.js';
import type { EnvMap } from '../config/env-source.js';

/**
 * Variables kopia's child may inherit from our own environment. Everything else is
 * left out on purpose: kopia reads many KOPIA_* variables as flag defaults, and
 * VolSync's KOPIA_CONFIG_PATH (the policy mount) would become kopia's --config-file.
 */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'TZ', 'LANG', 'LC_ALL', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'USER'];

/** The kopia child's environment: the only place secrets leave the program. */
export function kopiaEnvironment(config: MoverConfig, parent: EnvMap): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
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

/** Secret values to scrub from anything printed, longest first so overlaps redact whole. */
export function secretValues(config: MoverConfig, parent: EnvMap): string[] {
  const values = new Set<string>([config.password.reveal()]);
  for (const name of config.secretVariables) {
    const v = parent[name];
    if (v !== undefined && v.trim() !== '') values.add(v);
  }
  for (const value of Object.values(config.storage?.env ?? {})) {
    if (typeof value !== 'string') values.add(value.reveal());
  }
  return [...values].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
}
