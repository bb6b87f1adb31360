import * as z from 'zod';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../policy/json-input.js';
import { Secret } from '../secret.js';
import { hasControlCharacter } from '../text.js';
import { isPlainObject, parseBoolean } from '../values.js';
import type { BackendDefinition, SecretFile, StorageTarget } from './types.js';

/*
 * The zod pieces a backend's variables are made of. Each one's message says what is expected;
 * the variable's name is the issue's path, so no message repeats it, and none quotes a value
 * that could be a secret.
 */

/** A single-line value: trimmed, without control characters. */
export function line() {
  return z.string().trim().refine((v) => !hasControlCharacter(v), 'must not contain control characters');
}

/** A variable that must be set (blank counts as unset); `what` is what it holds. */
export function required<T extends z.ZodType<unknown, string>>(schema: T, what: string) {
  return z.string({ error: `is required: ${what}` }).pipe(schema);
}

export function absolutePath(message = 'must be an absolute path') {
  return line().refine((v) => v.startsWith('/'), message);
}

export function hasDotDotSegment(path: string): boolean {
  return path.split('/').some((segment) => segment === '..');
}

/** A boolean in the one vocabulary of the environment: true/false, 1/0, yes/no, on/off. */
export function flag() {
  return z.string().transform((v, ctx) => {
    const value = parseBoolean(v);
    if (value !== undefined) return value;
    ctx.addIssue({ code: 'custom', message: 'must be true or false' });
    return z.NEVER;
  });
}

/** A secret exactly as given, held as a Secret from here on. */
export function secret() {
  return z.string().transform((v) => new Secret(v));
}

/** A secret whose surrounding blanks are not part of it. */
export function trimmedSecret() {
  return z
    .string()
    .trim()
    .transform((v) => new Secret(v));
}

const MAX_JSON_BYTES = 1_048_576;

export type GoogleCredentials = { file: SecretFile } | { path: string };

/**
 * Google service account credentials: the JSON content (the documented form) goes into a 0600
 * temp file, since kopia only takes a file path; an absolute path is used as is.
 */
export function googleCredentials(purpose: string) {
  return z
    .string()
    .trim()
    .transform((text, ctx): GoogleCredentials => {
      if (text.startsWith('{')) {
        const size = Buffer.byteLength(text);
        if (size > MAX_JSON_BYTES) {
          ctx.addIssue({ code: 'custom', message: `is ${size} bytes, more than the limit of ${MAX_JSON_BYTES} bytes` });
          return z.NEVER;
        }
        if (jsonTooDeep(text)) {
          ctx.addIssue({ code: 'custom', message: `nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels, the limit` });
          return z.NEVER;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (!isPlainObject(parsed)) {
          // The value is a secret: say what is wrong, never what it holds.
          ctx.addIssue({ code: 'custom', message: 'looks like JSON content but is not a valid JSON object' });
          return z.NEVER;
        }
        return { file: { flag: '--credentials-file', content: new Secret(text), purpose } };
      }
      if (text.startsWith('/') && !hasControlCharacter(text)) return { path: text };
      ctx.addIssue({ code: 'custom', message: 'must be the service account JSON content or an absolute path to that file' });
      return z.NEVER;
    });
}

/**
 * What a rule between variables sees. A variable that failed its own check may hold anything
 * (its issue is reported already), so a rule tests which variables are set, and checks the
 * shape of a value before it reads one.
 */
export type Given<K extends string> = { readonly [N in K]?: unknown };

/** Reports a problem, naming one of the backend's variables. */
export type Report<K extends string> = (variable: K, message: string) => void;

/**
 * A backend's variables as one zod schema. `shape` has one key per variable, each with its own
 * check. `firstSetWins` lists alternate names of one setting: the first that is set is read and
 * the others are not even checked. `rules` are the checks between variables; they run even when
 * a variable failed its own check, so one run names every problem.
 */
export function backendVariables<const S extends z.ZodRawShape>(
  shape: S,
  options: {
    firstSetWins?: readonly (readonly (keyof S & string)[])[];
    rules?: (given: Given<keyof S & string>, report: Report<keyof S & string>) => void;
  } = {},
) {
  const { firstSetWins = [], rules } = options;
  const object = z.object(shape).superRefine(
    (values, ctx) => rules?.(values, (variable, message) => ctx.addIssue({ code: 'custom', path: [variable], message })),
    { when: () => true },
  );
  return z.preprocess((input) => withoutShadowed(input, firstSetWins), object);
}

function withoutShadowed(input: unknown, groups: readonly (readonly string[])[]): unknown {
  if (!isPlainObject(input)) return input;
  const kept: Record<string, unknown> = { ...input };
  for (const group of groups) {
    const first = group.find((name) => kept[name] !== undefined);
    for (const name of group) if (name !== first) kept[name] = undefined;
  }
  return kept;
}

/** The first of alternate names that is set, with its name (for messages). */
export function firstSet<V, K extends keyof V & string>(values: V, names: readonly K[]): { name: K; value: NonNullable<V[K]> } | undefined {
  for (const name of names) {
    const value = values[name];
    if (value !== undefined && value !== null) return { name, value };
  }
  return undefined;
}

/** Declares a backend: the types of its target function follow from its schema, built once, when first used. */
export function defineBackend<Values>(definition: BackendDefinition<Values>): BackendDefinition<Values> {
  let built: z.ZodType<Values> | undefined;
  return { ...definition, variables: () => (built ??= definition.variables()) };
}

type Expected = Record<string, string | number | boolean | undefined>;

/**
 * Whether kopia.config's storage section is this repository. Missing, empty
 * and false count as the same, since kopia omits empty fields.
 */
export function storageMatches(
  storage: Parameters<StorageTarget['matchesStorage']>[0],
  type: string,
  expected: Expected,
): boolean {
  if (storage.type !== type || !storage.config) return false;
  const blank = (v: unknown) => v === undefined || v === null || v === '' || v === false;
  return Object.entries(expected).every(([key, want]) => {
    const have = storage.config?.[key];
    if (blank(want)) return blank(have);
    return have === want;
  });
}

/**
 * kopia's connection token: base64url of {"version":"1","storage":{type,config}}.
 * `repository create from-config` accepts only a token (not --file), and
 * `connect from-config` accepts one too, so one form serves both.
 */
export function connectionToken(type: string, config: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ version: '1', storage: { type, config } })).toString('base64url');
}
