import { createHash } from 'node:crypto';

/**
 * Policy documents as flat fields: how the state file records what each input applied, and how a
 * recorded part is turned back into a fragment when its input cannot be read. Pure functions, so
 * policy/ can use them without reaching up into operations/.
 */

export function digestOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
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
