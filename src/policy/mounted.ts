import { isPlainObject } from '../values.js';
import { existsSync } from 'node:fs';
import { closest } from '../text.js';
import { isAbsolute, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { errorFinding, type Finding, type Found } from '../findings.js';
import { regularFileProblem } from '../files.js';
import { readJsonFileSync } from './json-input.js';
import { kopiaPolicySchema, mapPolicyDocument, POLICY_ALIASES } from './kopia-policy.js';
import { parseRepositoryConfig, type RepositoryConfig } from './repository-config.js';
import { fragmentFields, fragmentOf } from './fields.js';
import * as z from 'zod';

export const DEFAULT_GLOBAL_POLICY_FILE = 'global-policy.json';
export const DEFAULT_REPOSITORY_CONFIG_FILE = 'repository.config';

/** What names the policy inputs: the mounted files, and the JSON configs' policy parts. */
export interface PolicyInputs {
  files: { configPath?: string; globalPolicyFile?: string; repositoryConfigFile?: string };
  manual?: { policy?: Record<string, unknown> };
  structuredPolicy?: Record<string, unknown>;
}

/** The names the record keeps each input's fields under: they stay the same when a path changes. */
export const GLOBAL_POLICY_INPUT = 'global policy file';
export const REPOSITORY_CONFIG_INPUT = 'repository config file';

/** What the inputs applied in the last run that recorded it; see state.ts. */
export interface LastInputs {
  /** Per input, `field.path` -> JSON. */
  sources?: Record<string, Record<string, string>>;
}

/** The policy and repository settings from every source, ready to apply. */
export interface PolicySettings {
  /** The global policy in kopia's spelling, merged from every source; undefined when none gives one. */
  globalPolicy?: Record<string, unknown>;
  /** Where the global policy's parts came from, lowest precedence first. */
  globalSources: string[];
  repository?: RepositoryConfig & { source: string };
  /** What the inputs gave that is wrong or not applied: an error means that input is not applied at all. */
  findings: Finding[];
  /**
   * Why the global policy must be left as kopia holds it: an input could not be read and what it
   * applied last is not known (no record, or it held actions, which the record keeps only as digests).
   */
  globalHeld?: string;
  /** The same for the repository throttle. */
  throttleHeld?: string;
  /** The mounted files this run reads, when it reads them. */
  files: { globalPolicy?: string; repositoryConfig?: string };
  /** What each input stands for in this run, last applied values included: the next record. */
  sourceFields: Record<string, Record<string, string>>;
}

/** The file of an input this run reads: one named explicitly, or the default one when it is there. */
function readInput(config: PolicyInputs, name: string | undefined, fallback: string): string | undefined {
  const file = locate(config, name, fallback);
  return file && (file.required || existsSync(file.path)) ? file.path : undefined;
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

function readMounted(path: string): Found<unknown> {
  const problem = existsSync(path) ? regularFileProblem(path) : undefined;
  if (problem !== undefined) return { value: undefined, findings: [{ ...errorFinding(path, `cannot be used: ${problem}`), blocksRun: true }] };
  try {
    return { value: readJsonFileSync(path), findings: [] };
  } catch (error) {
    return { value: undefined, findings: readErrors(path, error) };
  }
}

/** Where a field's value comes from when its input fails: the last applied value, or nothing known. */
type Kept = { fields: Record<string, string> } | { unknown: string };

/** The recorded fields of `input` at or under `path`; everything, without a path. */
function recorded(last: LastInputs | undefined, input: string, path?: string): Kept {
  const fields = last?.sources?.[input];
  if (fields === undefined) return { unknown: `no record of what ${input === GLOBAL_POLICY_INPUT ? 'the global policy file' : 'the repository config file'} applied last` };
  const under = Object.entries(fields).filter(([key]) => path === undefined || key === path || key.startsWith(`${path}.`));
  return { fields: Object.fromEntries(under) };
}

/** The fields (or sections) of kopia's policy at a dot path ('' for the top), or undefined when it names none. */
function fieldsAt(path: string): Record<string, z.ZodType> | undefined {
  let node: z.ZodType | undefined = kopiaPolicySchema;
  for (const part of path === '' ? [] : path.split('.')) {
    while (node instanceof z.ZodOptional) node = node.unwrap() as z.ZodType;
    const shape: Record<string, z.ZodType> = node instanceof z.ZodObject ? (node.shape as Record<string, z.ZodType>) : {};
    // Own keys only: `toString` or `__proto__` in a document is not a kopia field.
    node = Object.hasOwn(shape, part) ? shape[part] : undefined;
    if (node === undefined) return undefined;
  }
  while (node instanceof z.ZodOptional) node = node.unwrap() as z.ZodType;
  return node instanceof z.ZodObject ? (node.shape as Record<string, z.ZodType>) : {};
}

/** A path as kopia spells it: the docs' alias resolved. */
function kopiaPath(written: string): string {
  return Object.hasOwn(POLICY_ALIASES, written) ? POLICY_ALIASES[written]! : written;
}

/** The kopia field an unknown key was most likely meant to be (`keepLatset` for `keepLatest`), if one is near. */
function meantField(written: string): string | undefined {
  const parts = written.split('.');
  const key = parts.pop()!;
  const parent = parts.join('.');
  const known = fieldsAt(parent);
  if (known === undefined) return undefined;
  const aliases = Object.keys(POLICY_ALIASES).filter((a) => a.slice(0, a.lastIndexOf('.')) === parent);
  const near = closest(key, [...Object.keys(known), ...aliases.map((a) => a.slice(a.lastIndexOf('.') + 1))]);
  return near === undefined ? undefined : kopiaPath(parent ? `${parent}.${near}` : near);
}

/**
 * The kopia fields a mapping warned about and left out: a value kopia would refuse (`-1`, `5.5`,
 * `1e309`, a string), or a key misspelt so that the field it was meant to be is missing, but not a
 * spelling another one overrides. `meant` marks a field found from a misspelling.
 */
function droppedFields(warnings: readonly string[], applied: readonly string[]): { path: string; warning: string; meant?: boolean }[] {
  const out: { path: string; warning: string; meant?: boolean }[] = [];
  for (const warning of warnings) {
    const written = warning.slice(0, Math.max(0, warning.indexOf(': ')));
    if (!written) continue;
    const unknown = warning.endsWith(': unknown field, not applied');
    const path = unknown ? meantField(written) : kopiaPath(written);
    if (path === undefined || fieldsAt(path) === undefined) continue;
    if (applied.some((a) => a === path || a.startsWith(`${path}.`))) continue;
    out.push({ path, warning, ...(unknown ? { meant: true } : {}) });
  }
  return out;
}

/**
 * Warnings of a mapping about values kopia cannot take, for an input given in the environment:
 * such an input stops the run (the environment is checked before anything is touched), so that a
 * field it set keeps its last applied value rather than falling back to kopia's default.
 */
export function unusableValues(mapping: { warnings: readonly string[]; applied: readonly string[] }): string[] {
  return droppedFields(mapping.warnings, mapping.applied)
    .filter((d) => !d.meant)
    .map((d) => `${d.warning.replace(/, not applied$/, '')}: nothing is applied until it is fixed, so the last applied value stays`);
}

/** The errors of an input that could not be read or mapped. */
function readErrors(source: string, error: unknown): Finding[] {
  const issues = error instanceof ConfigError ? error.issues : [{ source, message: String(error) }];
  return issues.map((issue) => errorFinding(issue.source, issue.message));
}

/** One input's part of the settings: what it gives, the findings about it, and why it must be held as kopia has it, if it must. */
interface InputPart<T> extends Found<T | undefined> {
  held?: string;
}

/**
 * The global policy file's part: what it maps to, with every field it cannot give now taken
 * from what it applied last; `held` when that is not known.
 */
function globalFilePart(path: string, last: LastInputs | undefined): InputPart<Record<string, unknown>> {
  const doc = readMounted(path);
  let mapped;
  try {
    mapped = doc.value === undefined ? undefined : mapPolicyDocument(doc.value, path);
  } catch (error) {
    doc.findings.push(...readErrors(path, error));
  }
  if (mapped === undefined) {
    const kept = recorded(last, GLOBAL_POLICY_INPUT);
    const value = 'fields' in kept ? fragmentOf(kept.fields) : undefined;
    const held = value === undefined ? ('unknown' in kept ? kept.unknown : 'the file set policy actions last time') : undefined;
    return { value, findings: doc.findings, ...(held === undefined ? {} : { held }) };
  }
  const dropped = droppedFields(mapped.warnings, mapped.applied);
  const findings = mapped.warnings.map((w): Finding => {
    const drop = dropped.find((d) => d.warning === w);
    const message = drop?.meant ? `${w} (read as a misspelling of ${drop.path})` : w;
    return { source: path, message, severity: 'warning', ...(drop ? { field: drop.path } : {}) };
  });
  let policy = mapped.policy;
  let held: string | undefined;
  for (const { path: field } of dropped) {
    const kept = recorded(last, GLOBAL_POLICY_INPUT, field);
    const fragment = 'fields' in kept ? fragmentOf(kept.fields) : undefined;
    if (fragment === undefined) held ??= 'unknown' in kept ? kept.unknown : `${field} held policy actions last time`;
    else policy = mergePolicies(policy, fragment);
  }
  return { value: policy, findings, ...(held === undefined ? {} : { held }) };
}

/** The repository config file's settings, each unusable one (or all, for an unusable file) as applied last. */
function repositoryPart(path: string, last: LastInputs | undefined): InputPart<RepositoryConfig> {
  let held: string | undefined;
  const fromRecord = (field?: string): Partial<RepositoryConfig> | undefined => {
    const kept = recorded(last, REPOSITORY_CONFIG_INPUT, field);
    if ('fields' in kept) return fragmentOf(kept.fields) as Partial<RepositoryConfig>;
    held ??= kept.unknown;
    return undefined;
  };
  const part = (value: RepositoryConfig | undefined, findings: Finding[]): InputPart<RepositoryConfig> => ({ value, findings, ...(held === undefined ? {} : { held }) });
  const doc = readMounted(path);
  let parsed: Found<RepositoryConfig> | undefined;
  try {
    parsed = doc.value === undefined ? undefined : parseRepositoryConfig(doc.value, path);
  } catch (error) {
    doc.findings.push(...readErrors(path, error));
  }
  if (parsed === undefined) return part(fromRecord(), doc.findings);
  const findings = parsed.findings.map((f) => misspelling(f, doc.value as Record<string, unknown>));
  for (const { field } of findings) {
    if (field !== undefined && Object.hasOwn(REPOSITORY_FIELD_KEYS, field)) Object.assign(parsed.value, fromRecord(REPOSITORY_FIELD_KEYS[field]));
  }
  return part(parsed.value, findings);
}

/**
 * An unknown key of the repository config file that is a field misspelt so that the field is
 * missing (`uplodSpeed`): said so, with the field it was meant to be, which keeps its last value.
 */
function misspelling(finding: Finding, given: Record<string, unknown>): Finding {
  const key = finding.message.endsWith(': unknown field') ? finding.message.slice(0, -': unknown field'.length) : undefined;
  const meant = key === undefined ? undefined : closest(key, Object.keys(REPOSITORY_FIELD_KEYS));
  if (meant === undefined || given[meant] !== undefined) return finding;
  return { ...finding, message: `${finding.message} (read as a misspelling of ${meant})`, field: meant };
}

/** The repository config file's field names, and the names they are kept under. */
const REPOSITORY_FIELD_KEYS: Readonly<Record<string, keyof RepositoryConfig>> = {
  enableActions: 'enableActions',
  actionCommandTimeout: 'actionTimeoutMs',
  uploadSpeed: 'uploadBytesPerSecond',
  downloadSpeed: 'downloadBytesPerSecond',
};

function repositoryFields(repository: RepositoryConfig): Record<string, string> {
  const { enableActions, actionTimeoutMs, uploadBytesPerSecond, downloadBytesPerSecond } = repository;
  return fragmentFields(JSON.parse(JSON.stringify({ enableActions, actionTimeoutMs, uploadBytesPerSecond, downloadBytesPerSecond })) as Record<string, unknown>);
}

/**
 * Reads and checks every policy input. Touches no repository; never throws for a bad file. An
 * input that cannot be read, parsed or validated, whole or one field of it, gives what it applied
 * last (`last`), so that nothing it set drops back to kopia's defaults because of it.
 */
export function loadPolicySettings(config: PolicyInputs, last?: LastInputs): PolicySettings {
  const settings: PolicySettings = { globalSources: [], findings: [], sourceFields: {}, files: {} };
  let global: Record<string, unknown> | undefined;
  const add = (policy: Record<string, unknown> | undefined, source: string) => {
    if (!policy || Object.keys(policy).length === 0) return;
    global = mergePolicies(global ?? {}, policy);
    settings.globalSources.push(source);
  };
  add(config.manual?.policy, 'KOPIA_MANUAL_CONFIG');
  add(config.structuredPolicy, 'KOPIA_STRUCTURED_REPOSITORY_CONFIG');

  settings.files.globalPolicy = readInput(config, config.files.globalPolicyFile, DEFAULT_GLOBAL_POLICY_FILE);
  if (settings.files.globalPolicy !== undefined) {
    const part = globalFilePart(settings.files.globalPolicy, last);
    settings.findings.push(...part.findings);
    settings.globalHeld = part.held;
    add(part.value, settings.files.globalPolicy);
    settings.sourceFields[GLOBAL_POLICY_INPUT] = fragmentFields(part.value ?? {});
  }
  settings.globalPolicy = global;

  settings.files.repositoryConfig = readInput(config, config.files.repositoryConfigFile, DEFAULT_REPOSITORY_CONFIG_FILE);
  const repository = settings.files.repositoryConfig === undefined ? undefined : repositoryPart(settings.files.repositoryConfig, last);
  settings.findings.push(...(repository?.findings ?? []));
  settings.throttleHeld = repository?.held;
  if (repository?.value && settings.files.repositoryConfig !== undefined) {
    settings.repository = { ...repository.value, source: settings.files.repositoryConfig };
    settings.sourceFields[REPOSITORY_CONFIG_INPUT] = repositoryFields(repository.value);
  }
  return settings;
}
