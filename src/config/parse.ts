import { existsSync } from 'node:fs';
import { regularFileProblem } from '../files.js';
import { unknownVariableWarnings } from './unknown-variables.js';
import { posix } from 'node:path';
import * as z from 'zod';
import { resolveStorage } from '../backends/index.js';
import { ConfigError } from '../errors.js';
import { readAdditionalArgs, splitAdditionalArgs, type AdditionalArgs } from './additional-args.js';
import { EnvSource, type EnvMap } from '../env.js';
import { parseGoDurationMs } from '../text.js';
import { Secret } from '../secret.js';
import type { Identity, Operation } from './types.js';
import { errorFinding, errorsOf, warningFinding, type Finding, type Found } from '../findings.js';
import type { StorageTarget } from '../backends/types.js';
import { parseJsonText, readJsonFileSync } from '../policy/json-input.js';
import { parseManualConfig, type ManualConfig } from '../policy/manual-config.js';
import { legacyConfigTarget, parseStructuredConfig, type StructuredConfig } from '../policy/structured-config.js';
import {
  absolutePath,
  booleanFlag,
  compressor,
  duration,
  httpUrl,
  identityPart,
  logLevel,
  percentage,
  rfc3339,
  singleLine,
  wholeNumber,
} from './validators.js';

const DIRECTIONS: Record<string, Operation> = {
  source: 'backup',
  destination: 'restore',
  maintenance: 'maintenance',
};

/** The operation DIRECTION names, when it names one: reported even when the rest of the config is invalid. */
export function directionOperation(env: EnvMap): Operation | undefined {
  const direction = env['DIRECTION']?.trim();
  return direction !== undefined && Object.hasOwn(DIRECTIONS, direction) ? DIRECTIONS[direction] : undefined;
}

/**
 * A maximum snapshot age in milliseconds: a Go duration (`26h`, `90m`, `1h30m`) led by whole days if
 * wanted (`7d`, `1d12h`), as a backup schedule is thought of; undefined when the text is not one or
 * is no time at all.
 */
export function maxAgeMs(text: string): number | undefined {
  const match = /^(?:(\d+)d)?(.*)$/.exec(text.trim());
  const days = match?.[1];
  const rest = match?.[2] ?? '';
  if (days === undefined && rest === '') return undefined;
  const more = rest === '' ? 0 : parseGoDurationMs(rest);
  if (more === undefined) return undefined;
  const total = Number(days ?? 0) * 86_400_000 + more;
  return total > 0 && Number.isSafeInteger(total) ? total : undefined;
}

/** Facts about the machine that supply defaults; passed in so parsing stays pure. */
export interface SystemFacts {
  username: string;
  hostname: string;
  homeDir: string;
  stdoutIsTTY: boolean;
  /** The system's temp dir when TMPDIR is not set. */
  tmpDir?: string;
}

export interface ParseOptions {
  /** The operation chosen by a subcommand; otherwise DIRECTION decides. */
  operation?: Operation;
  system: SystemFacts;
  /**
   * Read the mounted files that decide the connection (the legacy repository config) and check
   * the CA file is a regular file; default true, and a run and `plan` both do. Off only for tests
   * of parsing that must not depend on the machine's /credentials.
   */
  readMounts?: boolean;
  /** How a person gave the inputs on the command line; absent for the container contract. */
  inputs?: InputNames;
  /** `plan` and `--dry-run` run nothing, so they need no password. */
  passwordOptional?: boolean;
}

/**
 * The words a person used for each input. A value typed as a flag (or read from a file a flag
 * names) is reported under that flag, never under the variable the program reads it through.
 */
export interface InputNames {
  /** Variable → the flag (and file) its value was given by on this command line. */
  given?: Readonly<Record<string, string>>;
  /** Variable → the flag this command offers for it, suggested when a required value is missing. */
  offered?: Readonly<Record<string, string>>;
}

/** The name to report a problem with `variable` under: the flag it was typed as, else the variable. */
export function inputName(inputs: InputNames | undefined, variable: string): string {
  return inputs?.given?.[variable] ?? variable;
}

/** "is required", with the flag that would give it on this command. */
function required(inputs: InputNames | undefined, variable: string, what = ''): Finding {
  const flag = inputs?.offered?.[variable];
  return errorFinding(variable, `is required${what}${flag ? `: give ${flag} or set ${variable}` : ''}`);
}

const MAX_INT = 2_147_483_647;

/**
 * A snapshot as `kopia-mover snapshots` (or kopia) names it: its ID, or its root object ID. Letters
 * and digits only, so it can never be read as a flag nor reach past kopia's argument.
 */
const snapshotId = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9]{1,128}$/, 'must be a snapshot ID as `kopia-mover snapshots` lists it: letters and digits, e.g. 2e7c1b3bde6ee6a2ec8dbb3cdb2a7f1a');

/**
 * The schema of every value variable. Each key is the variable name, so a zod
 * issue's path is the name an operator has to fix.
 */
const valueSchema = z.object({
  DATA_DIR: absolutePath().optional(),
  KOPIA_CACHE_DIR: absolutePath().optional(),
  KOPIA_PASSWORD: z.string().max(4096, 'must be at most 4096 characters').optional(),
  KOPIA_OVERRIDE_USERNAME: identityPart('username').optional(),
  KOPIA_OVERRIDE_HOSTNAME: identityPart('hostname').optional(),
  KOPIA_OVERRIDE_MAINTENANCE_USERNAME: z.string().trim().optional(),
  KOPIA_SOURCE_PATH_OVERRIDE: absolutePath().optional(),
  KOPIA_COMPRESSION: compressor.optional(),
  KOPIA_PARALLELISM: wholeNumber(1, 1024).optional(),
  KOPIA_RETAIN_HOURLY: wholeNumber(0, MAX_INT).optional(),
  KOPIA_RETAIN_DAILY: wholeNumber(0, MAX_INT).optional(),
  KOPIA_RETAIN_WEEKLY: wholeNumber(0, MAX_INT).optional(),
  KOPIA_RETAIN_MONTHLY: wholeNumber(0, MAX_INT).optional(),
  KOPIA_RETAIN_YEARLY: wholeNumber(0, MAX_INT).optional(),
  KOPIA_RETAIN_LATEST: wholeNumber(0, MAX_INT).optional(),
  KOPIA_BEFORE_SNAPSHOT: z.string().max(65536, 'must be at most 65536 characters').optional(),
  KOPIA_AFTER_SNAPSHOT: z.string().max(65536, 'must be at most 65536 characters').optional(),
  KOPIA_ACTION_TIMEOUT_SECONDS: wholeNumber(1, 86400).optional(),
  KOPIA_RESTORE_AS_OF: rfc3339.optional(),
  KOPIA_SHALLOW: wholeNumber(0, MAX_INT).optional(),
  KOPIA_PREVIOUS: wholeNumber(0, MAX_INT).optional(),
  KOPIA_ENABLE_FILE_DELETION: booleanFlag.optional(),
  KOPIA_DISCOVER_SNAPSHOTS: booleanFlag.optional(),
  KOPIA_RESTORE_SNAPSHOT_ID: snapshotId.optional(),
  KOPIA_RESTORE_ANY_SOURCE: booleanFlag.optional(),
  KOPIA_CONFIG_PATH: absolutePath().optional(),
  KOPIA_GLOBAL_POLICY_FILE: singleLine(4096).optional(),
  KOPIA_REPOSITORY_CONFIG_FILE: singleLine(4096).optional(),
  CUSTOM_CA: absolutePath().optional(),
  KOPIA_CUSTOM_CA: absolutePath().optional(),
  KOPIA_METADATA_CACHE_SIZE_LIMIT_MB: wholeNumber(0, 16_777_216).optional(),
  KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB: wholeNumber(0, 16_777_216).optional(),
  KOPIA_SKIP_CACHE_CONFIG: booleanFlag.optional(),
  KOPIA_CACHE_CAPACITY_BYTES: wholeNumber(1, Number.MAX_SAFE_INTEGER).optional(),
  KOPIA_FORCE_CACHE_REBUILD: booleanFlag.optional(),
  KOPIA_LOG_LEVEL: logLevel.optional(),
  KOPIA_FILE_LOG_LEVEL: logLevel.optional(),
  KOPIA_LOG_DIR_MAX_FILES: wholeNumber(0, 100_000).optional(),
  KOPIA_LOG_DIR_MAX_AGE: duration.optional(),
  KOPIA_CONTENT_LOG_DIR_MAX_FILES: wholeNumber(0, 100_000).optional(),
  KOPIA_CONTENT_LOG_DIR_MAX_AGE: duration.optional(),
  KOPIA_MOVER_LOG_FORMAT: z.enum(['json', 'pretty'], 'must be "json" or "pretty"').optional(),
  KOPIA_MOVER_TERMINATION_LOG: absolutePath().optional(),
  KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS: wholeNumber(0, 3600).optional(),
  KOPIA_MOVER_SIGNAL_GRACE_SECONDS: wholeNumber(0, 3600).optional(),
  KOPIA_MOVER_STALL_SECONDS: wholeNumber(0, 86_400).optional(),
  KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG: absolutePath().optional(),
  DEBUG_MOVER: z.string().optional(),
  PRIVILEGED_MOVER: booleanFlag.optional(),
  KOPIA_MOVER_CREATE_JITTER_SECONDS: wholeNumber(0, 600).optional(),
  KOPIA_MOVER_CREATE_SETTLE_SECONDS: wholeNumber(0, 600).optional(),
  KOPIA_MOVER_METRICS_PUSHGATEWAY: httpUrl().optional(),
  KOPIA_VERIFY_PERCENT: percentage.optional(),
  KOPIA_MAINTENANCE_VERIFY_PERCENT: percentage.optional(),
  // `status`: the age the newest snapshot of an identity may reach before the report says it is stale.
  KOPIA_MOVER_MAX_AGE: z
    .string()
    .trim()
    .refine((v) => maxAgeMs(v) !== undefined, 'must be a duration such as 26h, 90m, 7d or 1d12h')
    .optional(),
});

type Values = z.infer<typeof valueSchema>;

/** The names of the value variables, for telling a misspelled variable from a known one. */
export function configVariableNames(): string[] {
  return Object.keys(valueSchema.shape);
}

/** Each variable is parsed on its own, so one bad value neither hides nor invents other problems. */
function readValues(env: EnvSource): Found<Values> {
  const values: Record<string, unknown> = {};
  const findings: Finding[] = [];
  for (const [key, schema] of Object.entries(valueSchema.shape)) {
    const parsed = (schema as z.ZodType).safeParse(env.get(key));
    if (parsed.success) values[key] = parsed.data;
    else findings.push(errorFinding(key, parsed.error.issues[0]?.message ?? 'is invalid'));
  }
  return { value: values as Values, findings };
}

function maintenanceIdentity(raw: string | undefined): Found<Identity> {
  const value = raw ?? 'maintenance';
  const [user, host, ...rest] = value.split('@');
  const identity = { username: user ?? '', hostname: host ?? 'volsync' };
  const source = 'KOPIA_OVERRIDE_MAINTENANCE_USERNAME';
  if (rest.length > 0) return { value: identity, findings: [errorFinding(source, 'must be "user" or "user@host"')] };
  const findings: Finding[] = [];
  for (const [part, schema] of [
    [identity.username, identityPart('username')],
    [identity.hostname, identityPart('hostname')],
  ] as const) {
    const result = schema.safeParse(part);
    if (!result.success) findings.push(errorFinding(source, result.error.issues[0]?.message ?? 'is invalid'));
  }
  return { value: identity, findings };
}

/** kopia accepts lower-case host names best; a machine's name can carry a domain and capitals. */
function defaultHostname(system: SystemFacts): string {
  const cleaned = system.hostname.toLowerCase().split('.')[0]?.replace(/[^a-z0-9_-]/g, '-') ?? '';
  return cleaned.length > 0 ? cleaned : 'localhost';
}

function defaultUsername(system: SystemFacts): string {
  const cleaned = system.username.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[-.]+/, '');
  return cleaned.length > 0 ? cleaned : 'user';
}

function defaultCacheDir(env: EnvSource, system: SystemFacts): string {
  const xdg = env.get('XDG_CACHE_HOME');
  const base = xdg && xdg.startsWith('/') ? xdg : posix.join(system.homeDir, '.cache');
  return posix.join(base, 'kopia-mover');
}

/** The findings a ConfigError carries, or one naming `source` for any other failure to read. */
function readFailure(error: unknown, source: string, message: string): Finding[] {
  if (error instanceof ConfigError) return error.issues.map((i) => errorFinding(i.source, i.message));
  return [errorFinding(source, message)];
}

/** JSON from an env value, size-checked; a problem is a finding naming the variable. */
function jsonValue(text: string, source: string): Found<unknown> {
  try {
    return { value: parseJsonText(text, source), findings: [] };
  } catch (error) {
    return { value: undefined, findings: readFailure(error, source, 'could not be read as JSON') };
  }
}

function jsonFile(path: string): Found<unknown> {
  try {
    return { value: readJsonFileSync(path), findings: [] };
  } catch (error) {
    return { value: undefined, findings: readFailure(error, path, 'could not be read') };
  }
}

/** A JSON input read, then parsed by `parse`; a value that is not readable JSON is reported once, its shape not judged again. */
function jsonInput<T>(read: Found<unknown>, parse: (json: unknown) => Found<T | undefined>): Found<T | undefined> {
  if (read.value === undefined) return { value: undefined, findings: read.findings };
  const parsed = parse(read.value);
  return { value: parsed.value, findings: [...read.findings, ...parsed.findings] };
}

/** The operation a subcommand chose, else the one DIRECTION names. */
function operationOf(env: EnvSource, options: ParseOptions): Found<Operation | undefined> {
  if (options.operation !== undefined) return { value: options.operation, findings: [] };
  const direction = env.get('DIRECTION');
  if (direction === undefined) return { value: undefined, findings: [errorFinding('DIRECTION', 'is required: source, destination or maintenance')] };
  const operation = DIRECTIONS[direction.trim()];
  if (operation === undefined) return { value: undefined, findings: [errorFinding('DIRECTION', 'must be source, destination or maintenance')] };
  return { value: operation, findings: [] };
}

/** The inputs an operation cannot run without. */
function missingInputs(env: EnvSource, operation: Operation | undefined, options: ParseOptions): Finding[] {
  const missing: Finding[] = [];
  if (env.get('KOPIA_PASSWORD') === undefined && !options.passwordOptional) missing.push(required(options.inputs, 'KOPIA_PASSWORD'));
  if (operation !== 'maintenance' && operation !== undefined && env.get('DATA_DIR') === undefined) {
    missing.push(required(options.inputs, 'DATA_DIR', ` for ${operation}`));
  }
  return missing;
}

/** The CA file: the KopiaMaintenance CronJob names it KOPIA_CUSTOM_CA, movers name it CUSTOM_CA. */
function customCaOf(values: Values, readMounts: boolean): Found<string | undefined> {
  const source = values.CUSTOM_CA !== undefined ? 'CUSTOM_CA' : 'KOPIA_CUSTOM_CA';
  const customCa = values.CUSTOM_CA ?? values.KOPIA_CUSTOM_CA;
  const findings: Finding[] = [];
  if (values.CUSTOM_CA !== undefined && values.KOPIA_CUSTOM_CA !== undefined && values.CUSTOM_CA !== values.KOPIA_CUSTOM_CA) {
    findings.push(errorFinding('KOPIA_CUSTOM_CA', `names ${values.KOPIA_CUSTOM_CA} while CUSTOM_CA names ${values.CUSTOM_CA}; set one, or both to the same file`));
  }
  const problem = customCa !== undefined && readMounts ? regularFileProblem(customCa) : undefined;
  if (problem !== undefined) findings.push(errorFinding(source, `CA file ${customCa}: ${problem}`));
  return { value: customCa, findings };
}

/** Where the repository is and how it is made: every source of the connection, and KOPIA_MANUAL_CONFIG. */
interface Connection {
  /** The contract's order: structured config, then the legacy mounted config, then KOPIA_REPOSITORY. */
  candidates: StorageTarget[];
  structured?: StructuredConfig;
  manual?: ManualConfig;
}

/**
 * Reads every source of the connection. Errors come in the order the sources are read; the
 * warnings of what each gives but is not applied follow, KOPIA_MANUAL_CONFIG's first.
 */
function readConnection(env: EnvSource, values: Values, options: ParseOptions): Found<Connection> {
  const readMounts = options.readMounts !== false;
  const ca = customCaOf(values, readMounts);
  const reported: { source: string; message: string }[] = [];
  const direct = resolveStorage(env, reported, ca.value);
  const legacyPath = values.KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG ?? '/credentials/repository.config';
  const structuredText = env.get('KOPIA_STRUCTURED_REPOSITORY_CONFIG');
  const structured = structuredText === undefined ? undefined : jsonInput(jsonValue(structuredText, 'KOPIA_STRUCTURED_REPOSITORY_CONFIG'), parseStructuredConfig);
  const legacy = readMounts && existsSync(legacyPath) ? jsonInput(jsonFile(legacyPath), (json) => legacyConfigTarget(legacyPath, json)) : undefined;
  const manualText = env.get('KOPIA_MANUAL_CONFIG');
  const manual = manualText === undefined ? undefined : jsonInput(jsonValue(manualText, 'KOPIA_MANUAL_CONFIG'), parseManualConfig);
  const candidates = [structured?.value?.storage, legacy?.value, direct].filter((t): t is StorageTarget => t !== undefined);
  const read = [...ca.findings, ...reported.map((r) => errorFinding(r.source, r.message)), ...(structured?.findings ?? []), ...(legacy?.findings ?? []), ...(manual?.findings ?? [])];
  if (candidates.length === 0 && structuredText === undefined && reported.length === 0) {
    const { source, message } = required(options.inputs, 'KOPIA_REPOSITORY', ' (e.g. filesystem:///repository or s3://bucket/prefix)');
    read.push(errorFinding(source, `${message}, unless KOPIA_STRUCTURED_REPOSITORY_CONFIG or ${legacyPath} provides the connection`));
  }
  const findings = [
    ...errorsOf(read),
    ...(manual?.findings ?? []).filter((f) => f.severity === 'warning'),
    ...(structured?.findings ?? []).filter((f) => f.severity === 'warning'),
    ...candidates.flatMap((c) => c.warnings.map((w) => warningFinding(c.backend, w))),
  ];
  return { value: { candidates, structured: structured?.value, manual: manual?.value }, findings };
}

/**
 * Turns the environment into one validated config, typed by what it builds: a union keyed by the
 * operation. Throws a ConfigError listing every problem found, each naming its variable (or the
 * flag it was typed as); what is found but does not stop the run is in `configWarnings`.
 */
export function parseConfig(envMap: EnvMap, options: ParseOptions) {
  const env = new EnvSource(envMap);
  const operation = operationOf(env, options);
  const values = readValues(env);
  const connection = readConnection(env, values.value, options);
  const additional = readAdditionalArgs(splitAdditionalArgs(env.get('KOPIA_ADDITIONAL_ARGS')), operation.value);
  const maintenance = maintenanceIdentity(values.value.KOPIA_OVERRIDE_MAINTENANCE_USERNAME);
  const findings = [
    ...operation.findings,
    ...values.findings,
    ...missingInputs(env, operation.value, options),
    ...connection.findings,
    ...additional.findings,
    ...maintenance.findings,
    ...(operation.value === 'restore' ? snapshotChoiceFindings(values.value) : []),
  ];
  const errors = errorsOf(findings);
  // The one place a problem gets the name it is reported under: the flag when the value was typed.
  if (errors.length > 0 || operation.value === undefined) throw new ConfigError(errors.map((e) => ({ ...e, source: inputName(options.inputs, e.source) })));
  const warnings = [
    ...findings.filter((f) => f.severity === 'warning'),
    ...unknownVariableWarnings(envMap, configVariableNames()),
  ];
  const common = commonConfig(env, values.value, options, {
    connection: connection.value,
    additional: additional.value,
    maintenanceIdentity: maintenance.value,
    warnings,
  });
  return operationConfig(common, operation.value, values.value, additional.value);
}

/** What parseConfig read besides the values, for the config every operation shares. */
interface ReadInputs {
  connection: Connection;
  additional: AdditionalArgs;
  maintenanceIdentity: Identity;
  warnings: Finding[];
}

/** The settings every operation shares. */
function commonConfig(env: EnvSource, values: Values, options: ParseOptions, read: ReadInputs) {
  const { candidates, structured, manual } = read.connection;
  return {
    /**
     * Started with a subcommand, as a person types it: settings not given stay as the last run
     * applied them. Without one (the container contract) the environment is the whole desired state.
     */
    localRun: options.operation !== undefined,
    /** How the person named the inputs given on the command line, for later problems about them. */
    inputs: options.inputs ?? {},
    cacheDir: values.KOPIA_CACHE_DIR ?? defaultCacheDir(env, options.system),
    /** The program's default cache under HOME (XDG), used when KOPIA_CACHE_DIR is not set. */
    homeCacheDir: defaultCacheDir(env, options.system),
    /** Where this run keeps its temp files (TMPDIR). */
    tmpDir: env.get('TMPDIR') ?? options.system.tmpDir ?? '/tmp',
    password: new Secret(env.get('KOPIA_PASSWORD') ?? ''),
    /** The repository to use first (structured config, legacy mounted config, or KOPIA_REPOSITORY). */
    storage: candidates[0],
    /** Further sources, tried in order when connecting with the first fails. */
    storageFallbacks: candidates.slice(1),
    /**
     * kopia would store storage secrets in its config that it cannot read from its environment:
     * its config then stays in the run's private folder, never on the cache volume.
     */
    privateConnection: candidates.some((c) => (c.secretConfigKeys?.length ?? 0) > 0 && !c.secretsFromEnvironment),
    identity: {
      username: values.KOPIA_OVERRIDE_USERNAME ?? defaultUsername(options.system),
      hostname: values.KOPIA_OVERRIDE_HOSTNAME ?? defaultHostname(options.system),
    },
    maintenanceIdentity: read.maintenanceIdentity,
    parallelism: values.KOPIA_PARALLELISM,
    /** KOPIA_ADDITIONAL_ARGS that go to `snapshot create` / `snapshot restore`. */
    additionalArgs: read.additional.passThrough,
    /** The docs' --upload-speed / --download-speed from KOPIA_ADDITIONAL_ARGS, as the repository throttle. */
    throttleArgs: read.additional.throttle,
    files: {
      configPath: values.KOPIA_CONFIG_PATH,
      globalPolicyFile: values.KOPIA_GLOBAL_POLICY_FILE,
      repositoryConfigFile: values.KOPIA_REPOSITORY_CONFIG_FILE,
    },
    /** KOPIA_MANUAL_CONFIG, split into create-time flags, policy and cache. */
    manual,
    /** The `policies` section of KOPIA_STRUCTURED_REPOSITORY_CONFIG, in kopia's spelling. */
    structuredPolicy: structured?.policy,
    /** What the environment says that is not used, with the reason: logged and in the summary. */
    configWarnings: read.warnings,
    cache: {
      metadataLimitMb: values.KOPIA_METADATA_CACHE_SIZE_LIMIT_MB,
      contentLimitMb: values.KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB,
      skip: values.KOPIA_SKIP_CACHE_CONFIG ?? false,
      capacityBytes: values.KOPIA_CACHE_CAPACITY_BYTES,
      /** Soft cache sizes from a structured or manual config. */
      contentSoftMb: structured?.contentCacheMb ?? manual?.contentCacheMb,
      metadataSoftMb: structured?.metadataCacheMb,
      forceRebuild: values.KOPIA_FORCE_CACHE_REBUILD ?? false,
    },
    ...runtimeConfig(values, read.additional),
  };
}

/** How the run logs, reports and paces itself. */
function runtimeConfig(values: Values, additional: AdditionalArgs) {
  return {
    kopiaLogging: {
      level: values.KOPIA_LOG_LEVEL,
      fileLevel: values.KOPIA_FILE_LOG_LEVEL,
      maxFiles: values.KOPIA_LOG_DIR_MAX_FILES ?? 3,
      maxAge: values.KOPIA_LOG_DIR_MAX_AGE ?? '4h',
      contentMaxFiles: values.KOPIA_CONTENT_LOG_DIR_MAX_FILES ?? 3,
      contentMaxAge: values.KOPIA_CONTENT_LOG_DIR_MAX_AGE ?? '4h',
    },
    output: {
      terminationLog: values.KOPIA_MOVER_TERMINATION_LOG ?? '/dev/termination-log',
      progressIntervalMs: additional.progressIntervalMs ?? (values.KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS ?? 10) * 1000,
      progressEveryFiles: additional.progressEveryFiles,
      // Kubernetes kills 30 s after SIGTERM; kopia gets most of that to checkpoint.
      signalGraceMs: (values.KOPIA_MOVER_SIGNAL_GRACE_SECONDS ?? 20) * 1000,
      // Long enough for a slow link that still moves (kopia reports progress about every 300 ms)
      // and for a quiet maintenance step; short against a Job's backoff. 0: never.
      stallMs: (values.KOPIA_MOVER_STALL_SECONDS ?? 300) * 1000,
    },
    debugMover: values.DEBUG_MOVER === '1' || values.DEBUG_MOVER?.toLowerCase() === 'true',
    /** PRIVILEGED_MOVER=1: the controller runs the mover as root with CHOWN/FOWNER, so owners can be restored. */
    privilegedMover: values.PRIVILEGED_MOVER ?? false,
    /**
     * First creation of a repository that other movers may be creating at the same moment, on
     * storage without a creation lock (every backend but filesystem; docs/creation-race.md). The
     * pause spreads the movers' second look over about twice what a create takes when 8 run at once
     * on 2 CPUs (a median of 0.7-1 s, `npm run bench -- --first-backup`), so most find the first creator's
     * repository. The settle time must outlast any other creator's check-to-write window: at most
     * 2.1 s measured with 8 creators on a loaded machine (docs/performance.md), so 3 s.
     */
    creation: {
      jitterMs: (values.KOPIA_MOVER_CREATE_JITTER_SECONDS ?? 2) * 1000,
      settleMs: (values.KOPIA_MOVER_CREATE_SETTLE_SECONDS ?? 3) * 1000,
    },
  };
}

/** The config of one operation: the common settings and what only that operation reads. */
function operationConfig(common: ReturnType<typeof commonConfig>, operation: Operation, values: Values, additional: AdditionalArgs) {
  if (operation === 'maintenance') {
    /** KOPIA_MAINTENANCE_VERIFY_PERCENT: the share of every snapshot's files read back after maintenance (0: none). */
    return { ...common, operation, maintenance: { verifyPercent: values.KOPIA_MAINTENANCE_VERIFY_PERCENT ?? 0 } };
  }
  const dataDir = values.DATA_DIR;
  // Required for backup and restore: reported by missingInputs when missing.
  if (dataDir === undefined) throw new ConfigError(errorFinding('DATA_DIR', `is required for ${operation}`));
  if (operation === 'restore') {
    return {
      ...common,
      operation,
      dataDir,
      /** The path snapshots are looked up by. */
      sourcePath: restoreSourcePath(dataDir, values.KOPIA_SOURCE_PATH_OVERRIDE),
      restore: {
        asOf: values.KOPIA_RESTORE_AS_OF,
        shallow: values.KOPIA_SHALLOW,
        previous: values.KOPIA_PREVIOUS ?? 0,
        enableFileDeletion: values.KOPIA_ENABLE_FILE_DELETION ?? false,
        discoverSnapshots: values.KOPIA_DISCOVER_SNAPSHOTS ?? false,
        /** KOPIA_RESTORE_SNAPSHOT_ID: this snapshot, instead of one selected by time. */
        snapshotId: values.KOPIA_RESTORE_SNAPSHOT_ID,
        /** KOPIA_RESTORE_ANY_SOURCE: the named snapshot may belong to another user@host:path. */
        anySource: values.KOPIA_RESTORE_ANY_SOURCE ?? false,
      },
    };
  }
  return {
    ...common,
    operation,
    dataDir,
    /** The path snapshots are recorded under. */
    sourcePath: values.KOPIA_SOURCE_PATH_OVERRIDE ?? dataDir,
    backup: {
      compression: values.KOPIA_COMPRESSION,
      retention: {
        hourly: values.KOPIA_RETAIN_HOURLY,
        daily: values.KOPIA_RETAIN_DAILY,
        weekly: values.KOPIA_RETAIN_WEEKLY,
        monthly: values.KOPIA_RETAIN_MONTHLY,
        yearly: values.KOPIA_RETAIN_YEARLY,
        latest: values.KOPIA_RETAIN_LATEST,
      },
      beforeSnapshot: values.KOPIA_BEFORE_SNAPSHOT,
      afterSnapshot: values.KOPIA_AFTER_SNAPSHOT,
      actionTimeoutMs: (values.KOPIA_ACTION_TIMEOUT_SECONDS ?? 300) * 1000,
      /** KOPIA_VERIFY_PERCENT: the share of the new snapshot's files read back after the backup (0: none). */
      verifyPercent: values.KOPIA_VERIFY_PERCENT ?? 0,
    },
    /** KOPIA_ADDITIONAL_ARGS that are kopia policy settings: policy JSON sections for the snapshot path. */
    pathPolicyArgs: additional.pathPolicy,
  };
}

/**
 * The path a restore looks its snapshots up by: KOPIA_SOURCE_PATH_OVERRIDE, else /data for the
 * pod's /restore/data (its backup ran with DATA_DIR=/data), else DATA_DIR.
 */
export function restoreSourcePath(dataDir: string, override: string | undefined): string {
  return override ?? (dataDir === '/restore/data' ? '/data' : dataDir);
}

/**
 * The path `snapshots` lists the identity's snapshots of, resolved as a restore resolves it;
 * undefined when neither KOPIA_SOURCE_PATH_OVERRIDE nor DATA_DIR is given (every path is listed).
 * Read after parseConfig has validated both.
 */
export function listingSourcePath(envMap: EnvMap): string | undefined {
  const env = new EnvSource(envMap);
  const dataDir = env.get('DATA_DIR');
  return env.get('KOPIA_SOURCE_PATH_OVERRIDE') ?? (dataDir === undefined ? undefined : restoreSourcePath(dataDir, undefined));
}

/** A named snapshot is restored as it is: rules that select one by time cannot apply, and --any-source needs a name. */
function snapshotChoiceFindings(values: Values): Finding[] {
  const chosen = '--snapshot (KOPIA_RESTORE_SNAPSHOT_ID)';
  if (values.KOPIA_RESTORE_SNAPSHOT_ID === undefined) {
    if (values.KOPIA_RESTORE_ANY_SOURCE !== true) return [];
    return [errorFinding('KOPIA_RESTORE_ANY_SOURCE', `--any-source (KOPIA_RESTORE_ANY_SOURCE) applies only to a snapshot named with ${chosen}`)];
  }
  const selectors = [
    ['KOPIA_PREVIOUS', '--previous'],
    ['KOPIA_RESTORE_AS_OF', '--as-of'],
    ['KOPIA_SHALLOW', '--shallow'],
  ] as const;
  return selectors
    .filter(([name]) => values[name] !== undefined)
    .map(([name, flag]) =>
      errorFinding(
        'KOPIA_RESTORE_SNAPSHOT_ID',
        `${chosen} cannot be combined with ${flag} (${name}): one names the snapshot, the other selects one by time; give one of them`,
      ),
    );
}

/** Everything the program needs, validated once at the edge; nothing below config/ reads process.env. */
export type MoverConfig = ReturnType<typeof parseConfig>;
export type BackupConfig = Extract<MoverConfig, { operation: 'backup' }>;
export type RestoreConfig = Extract<MoverConfig, { operation: 'restore' }>;
export type MaintenanceConfig = Extract<MoverConfig, { operation: 'maintenance' }>;

/**
 * The Pushgateway a run pushes its result to, read on its own before the rest of the configuration:
 * a run whose other inputs are wrong still reports. Undefined when not set or not a valid URL (the
 * configuration then refuses it, exit 2, naming the variable).
 */
export function metricsPushgateway(envMap: EnvMap): string | undefined {
  const parsed = valueSchema.shape.KOPIA_MOVER_METRICS_PUSHGATEWAY.safeParse(new EnvSource(envMap).get('KOPIA_MOVER_METRICS_PUSHGATEWAY'));
  return parsed.success ? parsed.data : undefined;
}

/** Whose run this is, as the metrics group it: the snapshot owner and path, or maintenance's owner. */
export interface ReportedIdentity {
  username: string;
  hostname: string;
  /** The snapshot path; empty for maintenance, which owns the repository rather than a path. */
  sourcePath: string;
}

/**
 * The identity a run reports under, as the configuration would resolve it, from each value that
 * is valid and the defaults otherwise: a run refused for another input still reports under the
 * identity it would have used.
 */
export function reportedIdentity(envMap: EnvMap, operation: Operation | undefined, system: SystemFacts): ReportedIdentity {
  const env = new EnvSource(envMap);
  const valid = <K extends keyof Values>(key: K): Values[K] | undefined => {
    const parsed = (valueSchema.shape[key] as z.ZodType<Values[K]>).safeParse(env.get(key));
    return parsed.success ? parsed.data : undefined;
  };
  if (operation === 'maintenance') {
    const { username, hostname } = maintenanceIdentity(valid('KOPIA_OVERRIDE_MAINTENANCE_USERNAME')).value;
    return { username, hostname, sourcePath: '' };
  }
  const dataDir = valid('DATA_DIR');
  const override = valid('KOPIA_SOURCE_PATH_OVERRIDE');
  const sourcePath = operation === 'restore' && dataDir !== undefined ? restoreSourcePath(dataDir, override) : (override ?? dataDir ?? '');
  return {
    username: valid('KOPIA_OVERRIDE_USERNAME') ?? defaultUsername(system),
    hostname: valid('KOPIA_OVERRIDE_HOSTNAME') ?? defaultHostname(system),
    sourcePath,
  };
}
