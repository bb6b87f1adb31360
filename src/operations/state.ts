import { createHash } from 'node:crypto';
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

export function digestOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
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

/** Every leaf of a policy document as `target field.path` -> JSON; action commands as digests. */
export function flattenFields(document: Record<string, Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (target: string, value: unknown, path: string[]) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
      for (const [k, v] of Object.entries(value)) walk(target, v, [...path, k]);
      return;
    }
    if (path.length === 0) return;
    out[`${target} ${path.join('.')}`] = path[0] === 'actions' ? `sha256:${digestOf(value).slice(0, 16)}` : JSON.stringify(value);
  };
  for (const [target, policy] of Object.entries(document)) walk(target, policy, []);
  return out;
}

/** A policy fragment's leaves as `field.path` -> JSON, as one input's part of a record. */
export function fragmentFields(fragment: Record<string, unknown>): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(flattenFields({ _: fragment }))) fields[key.slice(2)] = value;
  return fields;
}

/**
 * The fragment that recorded fields stand for; undefined when one of them is an action, which
 * the record holds only as a digest and so cannot be given back.
 */
export function fragmentOf(fields: Record<string, string>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [path, json] of Object.entries(fields)) {
    const parts = path.split('.');
    if (parts[0] === 'actions') return undefined;
    let node = out;
    for (const part of parts.slice(0, -1)) {
      const child = node[part];
      node = (node[part] = child !== null && typeof child === 'object' ? child : {}) as Record<string, unknown>;
    }
    node[parts.at(-1)!] = JSON.parse(json) as unknown;
  }
  return out;
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
