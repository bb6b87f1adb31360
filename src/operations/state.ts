import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MoverConfig } from '../config/types.js';

/**
 * What this cache dir has already applied to the repository (policy and
 * settings digests), so a repeat run can skip kopia calls that would change
 * nothing. Holds no secrets: only digests of secret-free argv.
 */
interface State {
  applied: Record<string, string>;
}

function statePath(config: MoverConfig): string {
  return join(config.cacheDir, 'kopia-mover-state.json');
}

function load(config: MoverConfig): State {
  try {
    const parsed = JSON.parse(readFileSync(statePath(config), 'utf8')) as State;
    return parsed && typeof parsed.applied === 'object' ? parsed : { applied: {} };
  } catch {
    return { applied: {} };
  }
}

export function digestOf(parts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** The key names the repository and identity too: the same cache may later serve another. */
function keyFor(config: MoverConfig, name: string): string {
  return `${config.storage?.description ?? 'configured repository'}|${config.identity.username}@${config.identity.hostname}|${name}`;
}

export function alreadyApplied(config: MoverConfig, name: string, digest: string): boolean {
  return load(config).applied[keyFor(config, name)] === digest;
}

export function recordApplied(config: MoverConfig, name: string, digest: string): void {
  const state = load(config);
  state.applied[keyFor(config, name)] = digest;
  const path = statePath(config);
  try {
    writeFileSync(`${path}.tmp`, JSON.stringify(state), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  } catch {
    // Losing the record only costs a kopia call next time.
  }
}

/** Forget everything applied (after a new connection, the repository may be a different one). */
export function forgetApplied(config: MoverConfig): void {
  try {
    writeFileSync(statePath(config), JSON.stringify({ applied: {} }), { mode: 0o600 });
  } catch {
    // Nothing recorded means nothing skipped.
  }
}
