import * as z from 'zod';
import { hasControlCharacter, parseGoDurationMs } from '../text.js';
import { parseBoolean } from '../values.js';
import { COMPRESSORS, LOG_LEVELS, normalizeCompressor } from '../kopia/vocabulary.js';

/** zod building blocks for environment values, each with a message an operator can act on. */

const KINDS: Record<string, string> = { int: 'a whole number', number: 'a number', object: 'a JSON object', array: 'a list', string: 'text', boolean: 'true or false' };

/** What a size limit counts, for "must be at most N ...". */
function counted(origin: string): string {
  if (origin === 'string') return ' characters';
  if (origin === 'array' || origin === 'set') return ' items';
  return '';
}

/**
 * Plain words for zod's own issues, used wherever a schema gives no message of its own: zod's
 * wording ("Invalid input: expected object, received array", "Too big: expected int to be
 * <=9007199254740991") must never reach an operator.
 */
export function plainIssue(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `must be ${KINDS[issue.expected] ?? `of type ${issue.expected}`}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}${counted(issue.origin)}`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}${counted(issue.origin)}`;
    case 'invalid_value':
      return `must be one of: ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys':
      return `has unknown fields: ${issue.keys.join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}`;
    case 'invalid_union':
      return 'matches none of the accepted forms';
    case 'invalid_format':
      return 'is not in the required format';
    case 'invalid_key':
      return 'has a field name that is not allowed';
    case 'invalid_element':
      return 'holds a value that is not allowed';
    default:
      return 'is not valid';
  }
}

z.config({ customError: plainIssue });

/** A whole number in [min, max], written in decimal digits; any other text names the range. */
export function wholeNumber(min: number, max: number) {
  return z
    .string()
    .trim()
    .transform((v, ctx) => {
      const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
      if (Number.isNaN(n)) ctx.addIssue({ code: 'custom', message: `must be a whole number between ${min} and ${max}` });
      else if (n < min) ctx.addIssue({ code: 'custom', message: `must be at least ${min}` });
      else if (n > max) ctx.addIssue({ code: 'custom', message: `must be at most ${max}` });
      else return n;
      return z.NEVER;
    });
}

/**
 * A share in per cent, 0 to 100, in decimal digits with an optional fraction (`2.5`): the values
 * kopia's float flags take that a person writes. Exponents, `inf` and `nan`, which Go would parse
 * too, are refused as typing mistakes.
 */
export const percentage = z
  .string()
  .trim()
  .transform((v, ctx) => {
    const n = /^(\d{1,3}(\.\d{1,6})?|\.\d{1,6})$/.test(v) ? Number(v) : Number.NaN;
    if (Number.isNaN(n) || n > 100) ctx.addIssue({ code: 'custom', message: 'must be a percentage from 0 to 100 (0 turns the verify off; decimals such as 2.5 are allowed)' });
    else return n;
    return z.NEVER;
  });

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

/**
 * An absolute path without ".." segments. The problem is reported under the input's own name (a
 * variable, or the flag it was typed as), so the message does not repeat it.
 */
export function absolutePath() {
  return z
    .string()
    .refine((v) => !hasControlCharacter(v), 'must not contain control characters or newlines')
    .refine((v) => v.startsWith('/'), 'must be an absolute path (start with /)')
    .refine((v) => !v.split('/').includes('..'), 'must not contain ".." segments')
    .refine((v) => v.length <= 4096, 'must be at most 4096 characters');
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

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * Why a timestamp names no instant that exists, if it does not: JavaScript's Date rolls
 * 2024-02-30 over to March 1st and T24:00 to the next day, so each field is checked against the
 * calendar first. A leap second (:60) is refused too: kopia's times have none.
 */
export function impossibleTime(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12) return `has month ${month}; months are 01 to 12`;
  if (day < 1 || day > daysInMonth) return `has day ${day}, but ${year}-${String(month).padStart(2, '0')} has ${daysInMonth} days`;
  if (hour > 23) return `has hour ${hour}; hours are 00 to 23`;
  if (minute > 59) return `has minute ${minute}; minutes are 00 to 59`;
  if (second > 59) return `has second ${second}; seconds are 00 to 59`;
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return 'has a zone offset beyond ±23:59';
  return undefined;
}

export const rfc3339 = z
  .string()
  .trim()
  .regex(RFC3339, 'must be an RFC 3339 timestamp with a zone, e.g. 2024-01-31T23:00:00Z or 2024-02-01T01:00:00+02:00')
  .superRefine((v, ctx) => {
    const why = impossibleTime(v);
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: `is not a date that exists: it ${why}` });
  })
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

/**
 * An http or https URL with a host, e.g. a Prometheus Pushgateway's address. The message never
 * repeats the value: it may hold credentials (user:password@).
 */
export function httpUrl() {
  return z
    .string()
    .trim()
    .refine((v) => !hasControlCharacter(v), 'must not contain control characters or newlines')
    .refine((v) => {
      try {
        const url = new URL(v);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.search === '' && url.hash === '';
      } catch {
        return false;
      }
    }, 'must be an http:// or https:// URL without a query, e.g. http://pushgateway.monitoring:9091');
}
