import * as z from 'zod';
import { ACTION_MODES, COMPRESSORS, normalizeCompressor, SPLITTERS } from '../kopia/vocabulary.js';
import { ConfigError } from '../errors.js';
import { parseGoDurationMs } from '../text.js';
import {
  applies,
  describeType,
  field,
  remarksOnly,
  Remark,
  forgivingSchema,
  notApplied,
  section,
  settle,
  type SectionCheck,
} from './forgiving-schema.js';
import { isPlainObject } from '../values.js';
import { errorFinding } from '../findings.js';

/**
 * kopia's policy JSON as `kopia policy export` prints it and `kopia policy
 * import` reads it (kopia v0.22.3, snapshot/policy), declared once below: each
 * field with kopia's spelling of its value and, where a document may say it
 * otherwise, the spellings accepted and how they become kopia's. Every object
 * is strict: kopia's import refuses unknown fields, so anything that reaches
 * the output must be spelled exactly as kopia spells it.
 */

export const KOPIA_COMPRESSORS = COMPRESSORS;
export const KOPIA_SPLITTERS = SPLITTERS;
export { ACTION_MODES };

const bool = z.boolean('must be true or false');
/** For a check after the first: it runs only while the value has no issue, so a value gets one reason, not a list. */
const onlyReason = { when: (payload: z.core.ParsePayload) => payload.issues.length === 0 };
// The size check comes first so that 1e300 is called too large rather than not whole.
const wholeNumber = z
  .number('must be a number')
  .max(Number.MAX_SAFE_INTEGER, 'is too large')
  .int({ error: 'must be a whole number', ...onlyReason });
const count = wholeNumber.min(0, { error: 'must not be negative', ...onlyReason });
const bytes = count;
const between = (low: number, high: number, words: string) =>
  wholeNumber.min(low, { error: words, ...onlyReason }).max(high, { error: words, ...onlyReason });
const logDetail = between(0, 10, 'must be between 0 and 10');
const stringList = z.array(z.string('must be a list of strings'), 'must be a list of strings');
const command = z.string('must be a string').min(1, { error: 'must not be empty', ...onlyReason });

/** Quotes a short enum-like value for a message; long text is cut so file content never floods a log. */
function quote(v: string): string {
  const cut = v.length > 40 ? `${v.slice(0, 40)}…` : v;
  return JSON.stringify(cut);
}

const compressorWords = `must be one of kopia's compressors: ${KOPIA_COMPRESSORS.join(', ')}`;
/** kopia's name, or the docs' (`s2`, other case), said to be translated. */
const compressorName = field(z.enum(KOPIA_COMPRESSORS, compressorWords), () =>
  z.string(compressorWords).transform((name, ctx) => {
    const known = normalizeCompressor(name);
    if (known === undefined) {
      ctx.addIssue({ code: 'custom', message: `unknown compressor ${quote(name)} (kopia has ${KOPIA_COMPRESSORS.join(', ')})` });
      return z.NEVER;
    }
    if (!known.alias) return known.name;
    return new Remark([`${quote(name)} is not a kopia compressor name, using ${quote(known.name)}`], known.name);
  }),
);

const splitterWords = `must be one of kopia's splitters: ${KOPIA_SPLITTERS.join(', ')}`;
/** kopia's name in any case. */
const splitterAlgorithm = field(z.enum(KOPIA_SPLITTERS, splitterWords), () =>
  z.string(splitterWords).transform((name, ctx) => {
    const upper = name.trim().toUpperCase();
    const known = KOPIA_SPLITTERS.find((s) => s === upper);
    if (known === undefined) {
      ctx.addIssue({ code: 'custom', message: `unknown splitter ${quote(name)} (kopia has ${KOPIA_SPLITTERS.join(', ')})` });
      return z.NEVER;
    }
    return known;
  }),
);

const durationWords = 'must be seconds or a duration such as 30s, 5m or 1h30m';
/** Seconds as kopia counts them, or text read as a duration ("300", "5m", "1h30m"); a part of a second is rounded up, and said. */
const actionTimeout = field(count, () => {
  const durationText = z
    .string()
    .transform((text) => {
      const trimmed = text.trim();
      return (/^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : parseGoDurationMs(trimmed)) ?? Number.NaN;
    })
    .pipe(z.number(durationWords).max(Number.MAX_SAFE_INTEGER * 1000, 'is too large'))
    .transform((ms) => {
      const seconds = Math.ceil(ms / 1000);
      return seconds * 1000 === ms ? seconds : new Remark([`kopia counts whole seconds, rounded up to ${seconds}s`], seconds);
    });
  return z.union([count, durationText], {
    // Each reading fails for the other's type: the reason to give is the one for the type given.
    error: (issue) =>
      issue.code === 'invalid_union' ? issue.errors[typeof issue.input === 'string' ? 1 : 0]?.[0]?.message : undefined,
  });
});

const actionModes = z.enum(ACTION_MODES, `must be one of ${ACTION_MODES.join(', ')}`);
/** kopia's name in any case. */
const actionMode = field(actionModes, () => z.preprocess((v) => (typeof v === 'string' ? v.trim().toLowerCase() : v), actionModes));

/** volumeShadowCopy.enable is stored as a number; kopia's CLI names the values. */
const OS_SNAPSHOT_MODES: ReadonlyMap<string, number> = new Map([
  ['never', 0],
  ['always', 1],
  ['when-available', 2],
]);
const osSnapshotWords = 'must be never, always or when-available';
const osSnapshotMode = z.number(osSnapshotWords).int(osSnapshotWords).min(0, osSnapshotWords).max(2, osSnapshotWords);
/** The number, or its name. */
const volumeShadowCopy = field(osSnapshotMode, () =>
  z.preprocess((v) => (typeof v === 'string' ? (OS_SNAPSHOT_MODES.get(v.trim().toLowerCase()) ?? v) : v), osSnapshotMode),
);

/** kopia keeps these lists sorted and unique (it binary-searches them); match what it will show. */
const extensions = field(stringList, () =>
  stringList.transform((list) => [...new Set(list)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))),
);

const timesWords = 'must be a list of {"hour","min"} or "HH:MM"';
const timeOfDay = z.strictObject(
  {
    hour: between(0, 23, 'hour must be 0-23'),
    min: between(0, 59, 'minute must be 0-59'),
  },
  timesWords,
);
/** {"hour","min"} or "HH:MM"; kopia sorts and de-duplicates times when it merges policies, so do it here. */
const timesOfDay = field(z.array(timeOfDay, timesWords), () =>
  z
    .array(
      z.preprocess((v) => {
        const m = typeof v === 'string' ? /^(\d{1,2}):(\d{2})$/.exec(v.trim()) : null;
        return m ? { hour: Number(m[1]), min: Number(m[2]) } : v;
      }, timeOfDay),
      timesWords,
    )
    .transform((times) => {
      const byMinute = new Map(times.map((t) => [t.hour * 60 + t.min, t]));
      return [...byMinute].sort(([a], [b]) => a - b).map(([, time]) => time);
    }),
);

const cronEntry = z.string('must be a list of cron expressions').refine((v) => {
  const expr = v.split('#', 1)[0]?.trim() ?? '';
  if (expr === '') return true; // a comment-only entry is allowed by kopia
  if (expr.startsWith('@')) return /^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(expr);
  const fields = expr.split(/\s+/).length;
  return fields >= 5 && fields <= 7;
}, 'must be cron expressions with 5 to 7 fields');

/** kopia runs an action only if it has something to run: a script or a path. */
const needsSomethingToRun: SectionCheck = (action) => {
  if (!Object.values(action.fields).some(applies)) return action;
  if (typeof action.fields['script'] === 'string' || typeof action.fields['path'] === 'string') return action;
  const dropped = remarksOnly(action);
  return new Remark(['needs a "script" or a "path" to run, not applied'], dropped);
};

const SCHEDULING_FIELDS = ['intervalSeconds', 'timeOfDay', 'noParentTimeOfDay', 'manual', 'cron', 'runMissed'] as const;

/** kopia refuses manual scheduling together with any other scheduling: the other settings are kept. */
const manualAlone: SectionCheck = (scheduling, here) => {
  if (scheduling.fields['manual'] !== true) return scheduling;
  const others = SCHEDULING_FIELDS.filter((key) => key !== 'manual' && applies(scheduling.fields[key]));
  if (others.length > 0) {
    const names = others.map((key) => `${here}.${key}`).join(', ');
    scheduling.fields['manual'] = notApplied(`kopia does not allow manual together with ${names}`);
  }
  return scheduling;
};

const action = section(
  {
    path: field(command),
    args: field(stringList),
    script: field(command),
    timeout: actionTimeout,
    mode: actionMode,
  },
  needsSomethingToRun,
);

const POLICY = section({
  retention: section({
    keepLatest: field(count),
    keepHourly: field(count),
    keepDaily: field(count),
    keepWeekly: field(count),
    keepMonthly: field(count),
    keepAnnual: field(count),
    ignoreIdenticalSnapshots: field(bool),
  }),
  files: section({
    ignore: field(stringList),
    noParentIgnore: field(bool),
    ignoreDotFiles: field(stringList),
    noParentDotFiles: field(bool),
    ignoreCacheDirs: field(bool),
    maxFileSize: field(bytes),
    oneFileSystem: field(bool),
  }),
  errorHandling: section({
    ignoreFileErrors: field(bool),
    ignoreDirectoryErrors: field(bool),
    ignoreUnknownTypes: field(bool),
  }),
  scheduling: section(
    {
      intervalSeconds: field(count),
      timeOfDay: timesOfDay,
      noParentTimeOfDay: field(bool),
      manual: field(bool),
      cron: field(z.array(cronEntry, 'must be a list of cron expressions')),
      runMissed: field(bool),
    } satisfies Record<(typeof SCHEDULING_FIELDS)[number], unknown>,
    manualAlone,
  ),
  compression: section({
    compressorName,
    onlyCompress: extensions,
    noParentOnlyCompress: field(bool),
    neverCompress: extensions,
    noParentNeverCompress: field(bool),
    minSize: field(bytes),
    maxSize: field(bytes),
  }),
  metadataCompression: section({ compressorName }),
  splitter: section({ algorithm: splitterAlgorithm }),
  actions: section({
    beforeFolder: action,
    afterFolder: action,
    beforeSnapshotRoot: action,
    afterSnapshotRoot: action,
  }),
  osSnapshots: section({ volumeShadowCopy: section({ enable: volumeShadowCopy }) }),
  logging: section({
    directories: section({ snapshotted: field(logDetail), ignored: field(logDetail) }),
    entries: section({
      snapshotted: field(logDetail),
      ignored: field(logDetail),
      cacheHit: field(logDetail),
      cacheMiss: field(logDetail),
    }),
  }),
  upload: section({
    maxParallelSnapshots: field(count),
    maxParallelFileReads: field(count),
    parallelUploadAboveSize: field(bytes),
  }),
  noParent: field(bool),
});

export const kopiaPolicySchema = POLICY.kopia;

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
 * is the kopia path it stands for. The kopia spelling wins when both are given,
 * and of two aliases for one field, the one listed first.
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

/**
 * One schema from a policy document, in any of the shapes it comes in, to kopia's JSON and the
 * warnings about it. The export shape {"(global)": {...}, "user@host:/path": {...}} gives its
 * global policy; a bare document is the global policy itself. Built on first use, not at load.
 */
let documentSchema: ReturnType<typeof buildDocumentSchema> | undefined;

function buildDocumentSchema() {
  const globalPolicy = forgivingSchema(
    POLICY,
    { aliases: POLICY_ALIASES, unsupported: UNSUPPORTED },
    (input) => `"${GLOBAL_POLICY_KEY}" must be a JSON object, not ${describeType(input)}`,
  );
  return z
    .preprocess(
      (doc) => {
        if (!isPlainObject(doc)) return doc;
        if (!Object.hasOwn(doc, GLOBAL_POLICY_KEY)) return { global: doc, others: [] };
        const others = Object.keys(doc).filter((key) => key !== GLOBAL_POLICY_KEY);
        return { global: doc[GLOBAL_POLICY_KEY], others };
      },
      z.object(
        { global: globalPolicy, others: z.array(z.string()) },
        { error: (issue) => (issue.code === 'invalid_type' ? `policy must be a JSON object, not ${describeType(issue.input)}` : undefined) },
      ),
    )
    .transform(({ global, others }) => {
      const settled = settle(global, []);
      const warnings = others.map(
        (key) => `${key}: only the global policy "${GLOBAL_POLICY_KEY}" is applied from this file, not applied`,
      );
      return { policy: settled.value ?? {}, warnings: [...warnings, ...settled.warnings] };
    })
    .pipe(z.object({ policy: kopiaPolicySchema, warnings: z.array(z.string()) }));
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
  documentSchema ??= buildDocumentSchema();
  // One parse per run: compiling the schema to code would cost more than it saves.
  const parsed = documentSchema.safeParse(input, { jitless: true });
  if (!parsed.success) {
    const issues = parsed.error.issues;
    if (issues.some((issue) => issue.path[0] === 'policy')) {
      // Every part was checked as it was read, so this means the mapping itself is wrong.
      throw new Error(`policy mapping produced a document kopia would refuse: ${z.prettifyError(parsed.error)}`);
    }
    throw new ConfigError(issues.map((issue) => errorFinding(source, issue.message)));
  }
  const { policy, warnings } = parsed.data;
  return { policy, warnings, applied: leafPaths(policy) };
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
