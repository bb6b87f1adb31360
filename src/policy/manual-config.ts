import * as z from 'zod';
import { errorFinding, warningFinding, type Finding, type Found } from '../findings.js';
import { mapPolicyDocument } from './kopia-policy.js';
import { unusableValues } from './mounted.js';

import { ENCRYPTIONS as ENCRYPTION, ERROR_CORRECTIONS as ECC, HASHES } from '../kopia/vocabulary.js';

const upper = (values: readonly [string, ...string[]], what: string) =>
  z.string(`${what} must be a string`).transform((v) => v.trim().toUpperCase()).pipe(z.enum(values, `${what} must be one of ${values.join(', ')}`));

const algorithm = (values: readonly [string, ...string[]], what: string) =>
  z.object({ algorithm: upper(values, what) }, `${what} must be an object with "algorithm"`).loose();

const manualSchema = z
  .object({
    encryption: algorithm(ENCRYPTION, 'encryption.algorithm').optional(),
    splitter: z.object({ algorithm: z.string('splitter.algorithm must be a string').transform((v) => v.trim().toUpperCase()) }).loose().optional(),
    hashing: algorithm(HASHES, 'hashing.algorithm').optional(),
    hash: algorithm(HASHES, 'hash.algorithm').optional(),
    ecc: z
      .object({
        algorithm: upper(ECC, 'ecc.algorithm').optional(),
        overheadPercent: z.number('ecc.overheadPercent must be a number').int().min(0).max(100).optional(),
      })
      .loose()
      .optional(),
    compression: z.record(z.string(), z.unknown(), 'compression must be an object').optional(),
    caching: z
      .object({ maxCacheSize: z.number('caching.maxCacheSize must be bytes').int().min(0).optional() })
      .loose()
      .optional(),
  })
  .loose();

/** What KOPIA_MANUAL_CONFIG asks for, split by when kopia can take it. */
export interface ManualConfig {
  /** Flags for `repository create` only: a repository's format is fixed when it is made. */
  createFlags: string[];
  /** A global policy fragment (kopia spelling) for compression, applied after connect. */
  policy?: Record<string, unknown>;
  /** Content cache soft limit in MB. */
  contentCacheMb?: number;
}

const SOURCE = 'KOPIA_MANUAL_CONFIG';

/**
 * KOPIA_MANUAL_CONFIG, split by when kopia can take it; undefined, with the errors, when it cannot
 * be used. What it gives that is not applied is a warning.
 */
export function parseManualConfig(input: unknown): Found<ManualConfig | undefined> {
  const parsed = manualSchema.safeParse(input);
  if (!parsed.success) return { value: undefined, findings: parsed.error.issues.map((issue) => errorFinding(SOURCE, issue.message)) };
  const m = parsed.data;
  const result: ManualConfig = { createFlags: [] };
  const findings: Finding[] = [];
  if (m.encryption) result.createFlags.push(`--encryption=${m.encryption.algorithm}`);
  if (m.splitter) result.createFlags.push(`--object-splitter=${m.splitter.algorithm}`);
  const hash = m.hashing ?? m.hash;
  if (hash) result.createFlags.push(`--block-hash=${hash.algorithm}`);
  if (m.ecc?.algorithm) result.createFlags.push(`--ecc=${m.ecc.algorithm}`);
  if (m.ecc?.overheadPercent !== undefined) result.createFlags.push(`--ecc-overhead-percent=${m.ecc.overheadPercent}`);
  if (m.compression) {
    // `repository create` has no compression flags: compression is a global policy.
    const mapped = mapPolicyDocument({ compression: m.compression }, SOURCE);
    const unusable = unusableValues(mapped);
    if (unusable.length > 0) return { value: undefined, findings: unusable.map((message) => errorFinding(SOURCE, message)) };
    result.policy = mapped.policy;
    findings.push(...mapped.warnings.map((w) => warningFinding(SOURCE, w)));
  }
  if (m.caching?.maxCacheSize !== undefined) result.contentCacheMb = Math.max(1, Math.round(m.caching.maxCacheSize / 1_000_000));
  const known = new Set(['encryption', 'splitter', 'hashing', 'hash', 'ecc', 'compression', 'caching']);
  for (const key of Object.keys(m)) if (!known.has(key)) findings.push(warningFinding(SOURCE, `${key}: not a create-time setting, not applied`));
  return { value: result, findings };
}
