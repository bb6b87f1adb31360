import * as z from 'zod';
import { hasControlCharacter, parseGoDurationMs } from '../text.js';
import { parseBoolean } from '../values.js';
import { COMPRESSORS, LOG_LEVELS, normalizeCompressor } from '../kopia/vocabulary.js';

/** zod building blocks for environment values, each with a message an operator can act on. */




export function wholeNumber(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

export const booleanFlag = z.string().transform((v, ctx) => {
  const value = parseBoolean(v);
  if (value !== undefined) return value;
  ctx.addIssue({ code: 'custom', message: 'must be "true" or "false"' });
  return z.NEVER;
});

/** Go-style durations as kopia reads them: 4h, 30m, 1h30m, 90s. */
export const duration = z
  .string()
  .trim()
  .refine((v) => v !== '0' && parseGoDurationMs(v) !== undefined, 'must be a duration such as 30m, 4h or 1h30m');

export function absolutePath(what = 'path') {
  return z
    .string()
    .refine((v) => !hasControlCharacter(v), `${what} must not contain control characters or newlines`)
    .refine((v) => v.startsWith('/'), `${what} must be absolute (start with /)`)
    .refine((v) => !v.split('/').includes('..'), `${what} must not contain ".." segments`)
    .refine((v) => v.length <= 4096, `${what} must be at most 4096 characters`);
}

/** Usernames and hostnames kopia records as `user@host`. */
export function identityPart(what: 'username' | 'hostname') {
  return z
    .string()
    .trim()
    .max(253, `${what} must be at most 253 characters`)
    .refine((v) => !hasControlCharacter(v), `${what} must not contain control characters or newlines`)
    .refine((v) => !v.startsWith('-'), `${what} must not start with "-" (it would be read as a flag)`)
    .refine(
      (v) => /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(v),
      `${what} may contain only letters, digits, ".", "_" and "-"`,
    );
}

export const rfc3339 = z
  .string()
  .trim()
  .regex(
    /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/,
    'must be an RFC 3339 timestamp with a zone, e.g. 2024-01-31T23:00:00Z or 2024-02-01T01:00:00+02:00',
  )
  .transform((v) => new Date(v))
  .refine((d) => !Number.isNaN(d.getTime()), 'is not a valid date');

/** Free text that ends up in kopia argv or a log line: one line, bounded. */
export function singleLine(max: number) {
  return z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !hasControlCharacter(v), 'must not contain control characters or newlines');
}

export const logLevel = z
  .string()
  .trim()
  .toLowerCase()
  .transform((v) => (v === 'warn' ? 'warning' : v))
  .pipe(z.enum(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`));

/** A compressor as kopia or the docs spell it (`s2`), normalised to kopia's name. */
export const compressor = z.string().transform((value, ctx) => {
  const normalized = normalizeCompressor(value);
  if (normalized) return normalized.name;
  ctx.addIssue({ code: 'custom', message: `must be one of kopia's compressors: ${COMPRESSORS.join(', ')} (or s2)` });
  return z.NEVER;
});
