import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MoverConfig } from '../config/parse.js';

/**
 * What this cache dir last applied to the repository, per setting: a digest to skip a kopia call
 * that would change nothing, the targets it managed (so a target no source sets any more can be
 * returned to kopia's defaults) and each field's value (so the log can say what changed). Holds no
 * secrets: values under `actions` are kept as digests, like everything else that could hold a script.
 */
export interface AppliedRecord {
  digest: string;
  /** Policy targets (`(global)`, `user@host:path`) or throttle directions this record covers. */
  targets: string[];
  /** `target field.path` -> the value as JSON (a digest for action commands). */
  fields: Record<string, string>;
  /**
   * What each input applied, by input (`global policy file`, `KOPIA_MANUAL_CONFIG`, ...):
   * `field.path` -> JSON. An input that cannot be read next time is replaced by these values.
   */
  sources?: Record<string, Record<string, string>>;
}

interface State {
  applied: Record<string, AppliedRecord>;
}

function statePath(config: MoverConfig): string {
  return join(config.cacheDir, 'kopia-mover-state.json');
}

function load(config: MoverConfig): State {
  try {
    const parsed = JSON.parse(readFileSync(statePath(config), 'utf8')) as State;
    return parsed && typeof parsed.applied === 'object' && parsed.applied !== null ? parsed : { applied: {} };
  } catch {
    return { applied: {} };
  }
}

/** The key names the repository and identity too: the same cache may later serve another. */
function keyFor(config: MoverConfig, name: string): string {
  return `${config.storage?.description ?? 'configured repository'}|${config.identity.username}@${config.identity.hostname}|${name}`;
}

export function appliedRecord(config: MoverConfig, name: string): AppliedRecord | undefined {
  const record = load(config).applied[keyFor(config, name)];
  // Records of earlier versions held only a digest: they name no targets, so nothing is reset on their word.
  if (typeof record === 'string') return { digest: record, targets: [], fields: {} };
  return record;
}

export function recordApplied(config: MoverConfig, name: string, record: AppliedRecord): void {
  const state = load(config);
  state.applied[keyFor(config, name)] = record;
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

/** What changed between two records' fields, in words for the log. */
export function describeChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  const changes: string[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was = before[key];
    const now = after[key];
    if (was === now) continue;
    if (was === undefined) changes.push(`${key} set to ${now}`);
    else if (now === undefined) changes.push(`${key} no longer set (was ${was}): back to the inherited or default value`);
    else changes.push(`${key} changed from ${was} to ${now}`);
  }
  return changes.sort();
}
