import { readRegularFile } from '../files.js';

const ENV_FILE_LIMIT = 1_048_576;
import { ConfigError } from '../errors.js';
import { errorFinding } from '../findings.js';

/**
 * Reads KEY=VALUE lines (optionally `export KEY=...`, quoted values, # comments),
 * as written for a Secret or ConfigMap, so `validate` can check them on a laptop.
 */
export function readEnvFile(path: string): Record<string, string> {
  const read = readRegularFile(path, ENV_FILE_LIMIT);
  if ('problem' in read) {
    const why = read.problem.kind === 'too-large' ? `is larger than ${ENV_FILE_LIMIT} bytes` : read.problem.reason;
    throw new ConfigError(errorFinding(path, `cannot be read: ${why}`));
  }
  const text = read.data.toString('utf8');
  const env: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new ConfigError(errorFinding(`${path}:${index + 1}`, 'expected KEY=VALUE'));
    let value = match[2] ?? '';
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) value = value.slice(1, -1);
    env[match[1]!] = value;
  });
  return env;
}
