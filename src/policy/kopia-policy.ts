import * as z from 'zod';
import { ACTION_MODES, COMPRESSORS, normalizeCompressor, SPLITTERS } from '../kopia/vocabulary.js';
import { ConfigError } from '../errors.js';
import { parseGoDurationMs } from '../text.js';

/**
 * kopia's policy JSON as `kopia policy export` prints it and `kopia policy
 * import` reads it (kopia v0.22.3, snapshot/policy). Every object is strict:
 * kopia's import refuses unknown fields, so anything that reaches the output
 * must be spelled exactly as kopia spells it.
 */

export const KOPIA_COMPRESSORS = COMPRESSORS;
export const KOPIA_SPLITTERS = SPLITTERS;
export { ACTION_MODES };

/** volumeShadowCopy.enable is stored as a number; kopia's CLI names the values. */
const OS_SNAPSHOT_MODES = { never: 0, always: 1, 'when-available': 2 } as const;

const bool = z.boolean('must be true or false');
// The size check comes first so that 1e300 is called too large rather than not whole.
const wholeNumber = z
  .number('must be a number')
  .max(Number.MAX_SAFE_INTEGER, 'is too large')
  .int('must be a whole number');
const count = wholeNumber.min(0, 'must not be negative');
const bytes = wholeNumber.min(0, 'must not be negative');
const logDetail = wholeNumber.min(0, 'must be between 0 and 10').max(10, 'must be between 0 and 10');
const stringList = z.array(z.string('must be a list of strings'), 'must be a list of strings');

const compressorName = z.enum(
  KOPIA_COMPRESSORS,
  `must be one of kopia's compressors: ${KOPIA_COMPRESSORS.join(', ')}`,
);

const actionCommand = z.strictObject({
  path: z.string('must be a string').min(1, 'must not be empty').optional(),
  args: stringList.optional(),
  script: z.string('must be a string').min(1, 'must not be empty').optional(),
  timeout: count.optional(),
  mode: z.enum(ACTION_MODES, `must be one of ${ACTION_MODES.join(', ')}`).optional(),
});

const timeOfDay = z.strictObject({
  hour: wholeNumber.min(0, 'hour must be 0-23').max(23, 'hour must be 0-23'),
  min: wholeNumber.min(0, 'minute must be 0-59').max(59, 'minute must be 0-59'),
});

const cronEntry = z.string('must be a list of cron expressions').refine((v) => {
  const expr = v.split('#', 1)[0]?.trim() ?? '';
  if (expr === '') return true; // a comment-only entry is allowed by kopia
  if (expr.startsWith('@')) return /^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(expr);
  const fields = expr.split(/\s+/).length;
  return fields >= 5 && fields <= 7;
}, 'must be cron expressions with 5 to 7 fields');

export const kopiaPolicySchema = z.strictObject({
  retention: z
    .strictObject({
      keepLatest: count.optional(),
      keepHourly: count.optional(),
      keepDaily: count.optional(),
      keepWeekly: count.optional(),
      keepMonthly: count.optional(),
      keepAnnual: count.optional(),
      ignoreIdenticalSnapshots: bool.optional(),
    })
    .optional(),
  files: z
    .strictObject({
      ignore: stringList.optional(),
      noParentIgnore: bool.optional(),
      ignoreDotFiles: stringList.optional(),
      noParentDotFiles: bool.optional(),
      ignoreCacheDirs: bool.optional(),
      maxFileSize: bytes.optional(),
      oneFileSystem: bool.optional(),
    })
    .optional(),
  errorHandling: z
    .strictObject({
      ignoreFileErrors: bool.optional(),
      ignoreDirectoryErrors: bool.optional(),
      ignoreUnknownTypes: bool.optional(),
    })
    .optional(),
  scheduling: z
    .strictObject({
      intervalSeconds: count.optional(),
      timeOfDay: z.array(timeOfDay, 'must be a list of {"hour","min"} or "HH:MM"').optional(),
      noParentTimeOfDay: bool.optional(),
      manual: bool.optional(),
      cron: z.array(cronEntry, 'must be a list of cron expressions').optional(),
      runMissed: bool.optional(),
    })
    .optional(),
  compression: z
    .strictObject({
      compressorName: compressorName.optional(),
      onlyCompress: stringList.optional(),
      noParentOnlyCompress: bool.optional(),
      neverCompress: stringList.optional(),
      noParentNeverCompress: bool.optional(),
      minSize: bytes.optional(),
      maxSize: bytes.optional(),
    })
    .optional(),
  metadataCompression: z.strictObject({ compressorName: compressorName.optional() }).optional(),
  splitter: z
    .strictObject({
      algorithm: z.enum(KOPIA_SPLITTERS, `must be one of kopia's splitters: ${KOPIA_SPLITTERS.join(', ')}`).optional(),
    })
    .optional(),
  actions: z
    .strictObject({
      beforeFolder: actionCommand.optional(),
      afterFolder: actionCommand.optional(),
      beforeSnapshotRoot: actionCommand.optional(),
      afterSnapshotRoot: actionCommand.optional(),
    })
    .optional(),
  osSnapshots: z
    .strictObject({
      volumeShadowCopy: z
        .strictObject({
          enable: wholeNumber.min(0, 'must be never, always or when-available').max(2, 'must be never, always or when-available').optional(),
        })
        .optional(),
    })
    .optional(),
  logging: z
    .strictObject({
      directories: z.strictObject({ snapshotted: logDetail.optional(), ignored: logDetail.optional() }).optional(),
      entries: z
        .strictObject({
          snapshotted: logDetail.optional(),
          ignored: logDetail.optional(),
          cacheHit: logDetail.optional(),
          cacheMiss: logDetail.optional(),
        })
        .optional(),
    })
    .optional(),
  upload: z
    .strictObject({
      maxParallelSnapshots: count.optional(),
      maxParallelFileReads: count.optional(),
      parallelUploadAboveSize: bytes.optional(),
    })
    .optional(),
  noParent: bool.optional(),
});

export type KopiaPolicy = z.infer<typeof kopiaPolicySchema>;

/** The key under which `kopia policy export/import` holds the global policy. */
export const GLOBAL_POLICY_KEY = '(global)';

/** The document `kopia policy import --global --from-file` expects. */
export function globalImportDocument(policy: Record<string, unknown>): Record<string, unknown> {
  return { [GLOBAL_POLICY_KEY]: policy };
}

/**
 * Spellings used by the VolSync docs (or kopia's Go field names) for fields
 * kopia's JSON names differently. Keyed by where the alias appears; the value
 * is the kopia path it stands for. The kopia spelling wins when both are given.
 */
export const POLICY_ALIASES: Readonly<Record<string, string>> = {
  'compression.compressor': 'compression.compressorName',
  'metadataCompression.compressor': 'metadataCompression.compressorName',
  'retention.keepYearly': 'retention.keepAnnual',
  'files.ignoreCacheDirectories': 'files.ignoreCacheDirs',
  'files.noParentIgnoreRules': 'files.noParentIgnore',
  'files.dotIgnoreFiles': 'files.ignoreDotFiles',
  'files.noParentDotIgnoreFiles': 'files.noParentDotFiles',
  'errorHandling.ignoreDirErrors': 'errorHandling.ignoreDirectoryErrors',
  // kopia's upload parallelism is the number of files read at once (what `snapshot create --parallel` sets).
  'scheduling.uploadParallelism': 'upload.maxParallelFileReads',
  'upload.parallelUploads': 'upload.maxParallelFileReads',
};

/** Fields the docs show that kopia has no equivalent for, with the reason given to the user. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  'compression.compressionLevel':
    'kopia has no compression level setting; choose a compressor variant instead (e.g. zstd-better-compression, gzip-best-compression)',
  'scheduling.downloadParallelism':
    'kopia policies have no download parallelism; restores take it from `snapshot restore --parallel`',
  'splitter.minSize': "kopia's splitter policy has only an algorithm; the chunk size is part of its name (e.g. DYNAMIC-4M-BUZHASH)",
  'splitter.maxSize': "kopia's splitter policy has only an algorithm; the chunk size is part of its name (e.g. DYNAMIC-4M-BUZHASH)",
  encryption:
    'encryption is fixed when the repository is created (KOPIA_MANUAL_CONFIG encryption.algorithm); it is not a policy setting',
};

export interface PolicyMapping {
  /** kopia's spelling, ready to wrap as {"(global)": policy} for `kopia policy import`. */
  policy: Record<string, unknown>;
  warnings: string[];
  /** kopia field paths (dot-separated) that the import will set. */
  applied: string[];
}

type AnyObjectSchema = z.ZodObject<z.ZodRawShape>;

interface Candidate {
  target: string;
  from: string;
  value: unknown;
  alias: boolean;
}

/**
 * Maps a global policy document (kopia's own spelling, the VolSync docs'
 * spellings, or kopia's export shape {"(global)": {...}}) to kopia's JSON.
 * Nothing is dropped silently: unknown fields, values kopia would refuse and
 * alias conflicts each become a warning naming the JSON path. Only a document
 * that is not an object at all is an error.
 *
 * Importing replaces the whole global policy: fields not given fall back to
 * kopia's defaults rather than to what was set before.
 */
export function mapPolicyDocument(input: unknown, source: string): PolicyMapping {
  const warnings: string[] = [];
  let doc = input;

  if (!isPlainObject(doc)) {
    throw new ConfigError({ source, message: `policy must be a JSON object, not ${describeType(doc)}` });
  }
  if (Object.hasOwn(doc, GLOBAL_POLICY_KEY)) {
    for (const key of Object.keys(doc)) {
      if (key !== GLOBAL_POLICY_KEY) {
        warnings.push(`${key}: only the global policy "${GLOBAL_POLICY_KEY}" is applied from this file, not applied`);
      }
    }
    doc = doc[GLOBAL_POLICY_KEY];
    if (!isPlainObject(doc)) {
      throw new ConfigError({
        source,
        message: `"${GLOBAL_POLICY_KEY}" must be a JSON object, not ${describeType(doc)}`,
      });
    }
  }

  const candidates: Candidate[] = [];
  collect(doc, kopiaPolicySchema as unknown as AnyObjectSchema, [], candidates, warnings);

  const chosen = new Map<string, unknown>();
  const byTarget = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const list = byTarget.get(c.target) ?? [];
    list.push(c);
    byTarget.set(c.target, list);
  }
  for (const [target, list] of byTarget) {
    const ordered = [...list.filter((c) => !c.alias), ...list.filter((c) => c.alias)];
    const [winner, ...losers] = ordered;
    if (!winner) continue;
    for (const l of losers) {
      const why = winner.from === target ? `${target} is also given` : `${winner.from} also sets ${target}`;
      warnings.push(`${l.from}: ignored because ${why}, not applied`);
    }
    const leaf = leafSchema(target);
    if (!leaf) continue;
    const normalized = normalize(target, winner, warnings);
    if (normalized === DROP) continue;
    const parsed = leaf.safeParse(normalized);
    if (!parsed.success) {
      const message = parsed.error.issues[0]?.message ?? 'invalid value';
      warnings.push(`${winner.from}: ${message}, not applied`);
      continue;
    }
    chosen.set(target, parsed.data);
  }

  const policy = build(kopiaPolicySchema as unknown as AnyObjectSchema, [], chosen);
  checkCombinations(policy, warnings);

  const verified = kopiaPolicySchema.safeParse(policy);
  if (!verified.success) {
    // The pieces were validated one by one, so this means the mapping itself is wrong.
    throw new Error(`policy mapping produced a document kopia would refuse: ${verified.error.message}`);
  }
  return { policy, warnings, applied: leafPaths(policy) };
}

const DROP = Symbol('drop');

function collect(
  input: Record<string, unknown>,
  schema: AnyObjectSchema,
  path: string[],
  out: Candidate[],
  warnings: string[],
): void {
  for (const [key, value] of Object.entries(input)) {
    const here = [...path, key].join('.');
    // null is how kopia's own JSON says "not set"; it has nothing to apply.
    if (value === null) continue;
    const alias = own(POLICY_ALIASES, here);
    const child = Object.hasOwn(schema.shape, key) ? schema.shape[key] : undefined;
    if (child) {
      const inner = unwrap(child);
      if (inner instanceof z.ZodObject) {
        if (!isPlainObject(value)) {
          warnings.push(`${here}: must be an object, not ${describeType(value)}, not applied`);
          continue;
        }
        collect(value, inner as AnyObjectSchema, [...path, key], out, warnings);
      } else {
        out.push({ target: here, from: here, value, alias: false });
      }
    } else if (alias) {
      out.push({ target: alias, from: here, value, alias: true });
    } else if (own(UNSUPPORTED, here)) {
      warnings.push(`${here}: ${own(UNSUPPORTED, here)}, not applied`);
    } else {
      warnings.push(`${here}: unknown field, not applied`);
    }
  }
}

function unwrap(schema: unknown): unknown {
  let s = schema;
  while (s instanceof z.ZodOptional) s = s.unwrap();
  return s;
}

function leafSchema(target: string): z.ZodType | undefined {
  let node: unknown = kopiaPolicySchema;
  for (const part of target.split('.')) {
    const obj = unwrap(node);
    if (!(obj instanceof z.ZodObject)) return undefined;
    const shape = (obj as AnyObjectSchema).shape;
    if (!Object.hasOwn(shape, part)) return undefined;
    node = shape[part];
  }
  const leaf = unwrap(node);
  return leaf instanceof z.ZodType ? leaf : undefined;
}

/** Accepts the other shapes a value may come in and turns them into kopia's. */
function normalize(target: string, c: Candidate, warnings: string[]): unknown {
  const v = c.value;
  const last = target.split('.').pop();

  if (last === 'compressorName' && typeof v === 'string') {
    const normalized = normalizeCompressor(v);
    if (normalized && !normalized.alias) return normalized.name;
    if (normalized) {
      warnings.push(`${c.from}: ${quote(v)} is not a kopia compressor name, using ${quote(normalized.name)}`);
      return normalized.name;
    }
    warnings.push(
      `${c.from}: unknown compressor ${quote(v)} (kopia has ${KOPIA_COMPRESSORS.join(', ')}), not applied`,
    );
    return DROP;
  }

  if (target === 'splitter.algorithm' && typeof v === 'string') {
    const upper = v.trim().toUpperCase();
    if ((KOPIA_SPLITTERS as readonly string[]).includes(upper)) return upper;
    warnings.push(`${c.from}: unknown splitter ${quote(v)} (kopia has ${KOPIA_SPLITTERS.join(', ')}), not applied`);
    return DROP;
  }

  if (target.startsWith('actions.') && last === 'timeout') {
    if (typeof v === 'string') {
      const trimmed = v.trim();
      const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : parseGoDurationMs(trimmed);
      if (ms === undefined) {
        warnings.push(`${c.from}: must be seconds or a duration such as 30s, 5m or 1h30m, not applied`);
        return DROP;
      }
      return wholeSeconds(ms, c.from, warnings);
    }
    return v;
  }

  if (target.startsWith('actions.') && last === 'mode') {
    return typeof v === 'string' ? v.trim().toLowerCase() : v;
  }

  if (target === 'osSnapshots.volumeShadowCopy.enable' && typeof v === 'string') {
    const mode = v.trim().toLowerCase() as keyof typeof OS_SNAPSHOT_MODES;
    if (Object.hasOwn(OS_SNAPSHOT_MODES, mode)) return OS_SNAPSHOT_MODES[mode];
    warnings.push(`${c.from}: must be never, always or when-available, not applied`);
    return DROP;
  }

  if ((target === 'compression.onlyCompress' || target === 'compression.neverCompress') && Array.isArray(v)) {
    // kopia keeps these lists sorted and unique (it binary-searches them); match what it will show.
    if (v.every((x) => typeof x === 'string')) {
      return [...new Set(v as string[])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    }
    return v;
  }

  if (target === 'scheduling.timeOfDay' && Array.isArray(v)) {
    const out: unknown[] = [];
    for (const item of v) {
      if (typeof item === 'string') {
        const m = /^(\d{1,2}):(\d{2})$/.exec(item.trim());
        out.push(m ? { hour: Number(m[1]), min: Number(m[2]) } : item);
      } else {
        out.push(item);
      }
    }
    const parsed = z.array(timeOfDay).safeParse(out);
    // kopia sorts and de-duplicates times when it merges policies; do it here so what is shown is what was sent.
    if (parsed.success) {
      const seen = new Set<string>();
      return parsed.data
        .sort((a, b) => a.hour - b.hour || a.min - b.min)
        .filter((t) => {
          const key = `${t.hour}:${t.min}`;
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        });
    }
    return out;
  }

  return v;
}

function wholeSeconds(ms: number, from: string, warnings: string[]): number {
  const seconds = Math.ceil(ms / 1000);
  if (seconds * 1000 !== ms) warnings.push(`${from}: kopia counts whole seconds, rounded up to ${seconds}s`);
  return seconds;
}

function build(schema: AnyObjectSchema, path: string[], chosen: Map<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(schema.shape)) {
    const here = [...path, key];
    const inner = unwrap(child);
    if (inner instanceof z.ZodObject) {
      const sub = build(inner as AnyObjectSchema, here, chosen);
      if (Object.keys(sub).length > 0) out[key] = sub;
    } else if (chosen.has(here.join('.'))) {
      out[key] = chosen.get(here.join('.'));
    }
  }
  return out;
}

/** Rules kopia enforces across fields, checked here so the import does not fail as a whole. */
function checkCombinations(policy: Record<string, unknown>, warnings: string[]): void {
  const actions = policy['actions'];
  if (isPlainObject(actions)) {
    for (const [name, cmd] of Object.entries(actions)) {
      if (isPlainObject(cmd) && cmd['path'] === undefined && cmd['script'] === undefined) {
        warnings.push(`actions.${name}: needs a "script" or a "path" to run, not applied`);
        delete actions[name];
      }
    }
    if (Object.keys(actions).length === 0) delete policy['actions'];
  }

  const scheduling = policy['scheduling'];
  if (isPlainObject(scheduling) && scheduling['manual'] === true) {
    const others = Object.keys(scheduling).filter((k) => k !== 'manual');
    if (others.length > 0) {
      warnings.push(
        `scheduling.manual: kopia does not allow manual together with ${others.map((k) => `scheduling.${k}`).join(', ')}, not applied`,
      );
      delete scheduling['manual'];
    }
  }
}

function leafPaths(obj: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    const here = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(value)) out.push(...leafPaths(value, here));
    else out.push(here);
  }
  return out;
}

/** Reads a dot path out of a policy object, for callers and tests that compare kopia's view. */
export function valueAtPath(obj: unknown, path: string): unknown {
  let node = obj;
  for (const part of path.split('.')) {
    if (!isPlainObject(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/** Lookup that ignores inherited keys, so a field named "constructor" is just unknown. */
function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

/** Quotes a short enum-like value for a message; long text is cut so file content never floods a log. */
function quote(v: string): string {
  const cut = v.length > 40 ? `${v.slice(0, 40)}…` : v;
  return JSON.stringify(cut);
}
