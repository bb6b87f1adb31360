import * as z from 'zod';
import { ConfigError } from '../errors.js';
import { parseGoDurationMs } from '../text.js';
import { errorFinding, warningFinding, type Finding, type Found } from '../findings.js';

/**
 * The repository config file VolSync mounts beside the global policy
 * (`repository.config` by default). Only a few of the fields the docs show
 * have a kopia counterpart at run time; the rest are reported, not guessed at.
 */
export interface RepositoryConfig {
  /** Gates the before/after snapshot actions. */
  enableActions?: boolean;
  actionTimeoutMs?: number;
  /** For `kopia repository throttle set --upload-bytes-per-second`. */
  uploadBytesPerSecond?: number;
  /** For `kopia repository throttle set --download-bytes-per-second`. */
  downloadBytesPerSecond?: number;
}

const bytesPerSecond = z
  .number('must be a number of bytes per second')
  .max(Number.MAX_SAFE_INTEGER, 'is too large')
  .int('must be a whole number of bytes per second')
  .min(0, 'must not be negative');

const TIMEOUT_EXPECTED = 'must be seconds or a duration such as 30s, 5m or 1h30m';

/** Seconds as a number (what kopia's flag help says) or a duration string as the docs show ("5m"); gives milliseconds. */
const actionTimeout = z
  .union([z.number(TIMEOUT_EXPECTED), z.string(TIMEOUT_EXPECTED)], TIMEOUT_EXPECTED)
  .transform((value, ctx) => {
    let ms: number | undefined;
    if (typeof value === 'number') {
      ms = Number.isFinite(value) ? value * 1000 : undefined;
    } else {
      const trimmed = value.trim();
      ms = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) * 1000 : parseGoDurationMs(trimmed);
    }
    if (ms === undefined) ctx.addIssue({ code: 'custom', message: TIMEOUT_EXPECTED });
    else if (ms <= 0) ctx.addIssue({ code: 'custom', message: 'must be longer than zero' });
    else if (ms > Number.MAX_SAFE_INTEGER) ctx.addIssue({ code: 'custom', message: 'is too large' });
    else return Math.round(ms);
    return z.NEVER;
  });

/** The fields of the file this program acts on, by their names in the file. */
export const repositoryConfigSchema = z.object({
  enableActions: z.boolean('must be true or false').optional(),
  actionCommandTimeout: actionTimeout.optional(),
  uploadSpeed: bytesPerSecond.optional(),
  downloadSpeed: bytesPerSecond.optional(),
});

const FIELDS = repositoryConfigSchema.shape;

const CREATE_TIME_ONLY =
  'is fixed when the repository is created (set it through KOPIA_MANUAL_CONFIG); it cannot be changed from this file';

/** What the docs show in this file that has no effect here, and why. */
const NOT_APPLIED_REASONS: Readonly<Record<string, string>> = {
  storage: 'the storage backend comes from KOPIA_REPOSITORY and the backend variables, not from this file',
  caching:
    'cache limits come from the cache settings (KOPIA_METADATA_CACHE_SIZE_LIMIT_MB, KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB, KOPIA_CACHE_CAPACITY_BYTES)',
  compression: 'compression is a policy setting; put it in the global policy file',
  encryptionAlgorithm: CREATE_TIME_ONLY,
  hashingAlgorithm: CREATE_TIME_ONLY,
  ecc: CREATE_TIME_ONLY,
  eccOverheadPercent: CREATE_TIME_ONLY,
  auditLog: 'kopia has no audit log setting',
  requireTwoFactorAuth: 'kopia has no two-factor authentication setting',
};

/**
 * The settings of the file, and a warning for each field it gives that is not applied: first the
 * fields this program does not act on ("field: reason"), then those it would act on whose value is
 * unusable ("field: problem, not applied", with the field named in `field`).
 */
export function parseRepositoryConfig(input: unknown, source: string): Found<RepositoryConfig> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    const kind = input === null ? 'null' : Array.isArray(input) ? 'an array' : `a ${typeof input}`;
    throw new ConfigError(errorFinding(source, `repository config must be a JSON object, not ${kind}`));
  }

  const result: RepositoryConfig = {};
  const notApplied: Finding[] = [];
  const unusable: Finding[] = [];
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    // null says "not set", as in the policy file.
    if (value === null) continue;
    if (!Object.hasOwn(FIELDS, key)) {
      const reason = Object.hasOwn(NOT_APPLIED_REASONS, key) ? NOT_APPLIED_REASONS[key] : 'unknown field';
      notApplied.push(warningFinding(source, `${key}: ${reason}`));
      continue;
    }
    const parsed = FIELDS[key as keyof typeof FIELDS].safeParse(value);
    if (!parsed.success) {
      unusable.push({ ...warningFinding(source, `${key}: ${parsed.error.issues[0]?.message ?? 'invalid value'}, not applied`), field: key });
      continue;
    }
    const v = parsed.data;
    if (key === 'enableActions' && typeof v === 'boolean') result.enableActions = v;
    else if (key === 'actionCommandTimeout' && typeof v === 'number') result.actionTimeoutMs = v;
    else if (key === 'uploadSpeed' && typeof v === 'number') result.uploadBytesPerSecond = v;
    else if (key === 'downloadSpeed' && typeof v === 'number') result.downloadBytesPerSecond = v;
  }
  return { value: result, findings: [...notApplied, ...unusable] };
}
