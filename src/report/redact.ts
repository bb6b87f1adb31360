/** Words a query string carries as values that are never secret, and that appear in every URL. */
const PUBLIC_VALUES = new Set(['http', 'https', 'https,http', 'http,https']);
/** A shorter value is not redacted: it would scrub ordinary words and numbers from every line. */
export const MIN_LENGTH = 4;

function tryDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Percent-encodes every byte of `text` except the unreserved characters and `keep`. */
function percentEncode(text: string, keep: string, hex: 'upper' | 'lower'): string {
  let out = '';
  for (const byte of Buffer.from(text)) {
    const ch = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(ch) || (byte < 0x80 && keep.includes(ch))) out += ch;
    else {
      const code = byte.toString(16).padStart(2, '0');
      out += `%${hex === 'upper' ? code.toUpperCase() : code}`;
    }
  }
  return out;
}

/**
 * The encodings Go applies where kopia prints a URL: url.QueryEscape leaves only the unreserved
 * characters (space becomes "+"); url.PathEscape also leaves `$&+:=@`. Both encode `!*'()`, which
 * JavaScript's encodeURIComponent leaves as they are. Go writes upper-case hex; other encoders do not.
 */
function goForms(value: string): string[] {
  return (['upper', 'lower'] as const).flatMap((hex) => [
    percentEncode(value, '', hex).replace(/%20/g, '+'),
    percentEncode(value, '', hex),
    percentEncode(value, '$&+:=@', hex),
  ]);
}

/**
 * Every form in which a secret may reach a line of output: as given, JSON-escaped, URL-encoded
 * (JavaScript's and Go's ways, in either hex case) or decoded, and base64. A value shaped like a
 * query string (an Azure SAS token) is also split into its parameter values, since kopia and Go
 * reorder and re-encode the parameters when they print a URL.
 */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>();
  for (const value of plainForms(secret)) {
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
    forms.add(encodeURIComponent(value));
    for (const form of goForms(value)) forms.add(form);
    const bytes = Buffer.from(value);
    forms.add(bytes.toString('base64'));
    forms.add(bytes.toString('base64url'));
  }
  return [...forms];
}

/** The secret as given, trimmed, URL-decoded, and each parameter value of a query-string secret: the texts that encodings are applied to. */
function plainForms(secret: string): string[] {
  const values = new Set<string>();
  const add = (value: string | undefined) => {
    if (value === undefined || value.length < MIN_LENGTH) return;
    values.add(value);
    const decoded = tryDecode(value);
    if (decoded !== undefined && decoded.length >= MIN_LENGTH) values.add(decoded);
  };
  add(secret);
  const trimmed = secret.trim();
  add(trimmed);
  const query = trimmed.replace(/^\?/, '');
  if (/^[^=&\s]+=[^&\s]*(&[^=&\s]+=[^&\s]*)+$/.test(query)) {
    for (const pair of query.split('&')) {
      const value = pair.slice(pair.indexOf('=') + 1);
      if (PUBLIC_VALUES.has(value.toLowerCase())) continue;
      add(value);
      add(tryDecode(value));
    }
  }
  return [...values];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** A hex digit as a pattern that takes either case. */
function eitherCase(digit: string): string {
  return /[a-f]/i.test(digit) ? `[${digit.toLowerCase()}${digit.toUpperCase()}]` : digit;
}

/**
 * A pattern for `value` with any of its characters percent-encoded, in either hex case, and a
 * space also as "+": whichever encoder printed it, and however much of it, it matches.
 */
function anyPercentEncoding(value: string): string {
  let pattern = '';
  for (const ch of value) {
    const encoded = [...Buffer.from(ch)].map((byte) => `%${[...byte.toString(16).padStart(2, '0')].map(eitherCase).join('')}`).join('');
    // Encoded first: "%25" is taken whole, never as "%" and a leftover "25".
    const alternatives = [encoded, escapeRegExp(ch), ...(ch === ' ' ? ['\\+'] : [])];
    pattern += `(?:${alternatives.join('|')})`;
  }
  return pattern;
}

/**
 * Secrets longer than this (a PEM key, a whole JSON config) are matched by their whole forms only:
 * a pattern that lets each of their characters be encoded on its own would pass the size that
 * JavaScript allows a regular expression, and a partly encoded copy of such a value is not printed.
 */
const PATTERN_MAX_LENGTH = 512;

/** One pattern for every form of every secret, longest first so that overlapping secrets redact whole. */
function secretPattern(secrets: readonly string[]): RegExp | undefined {
  const alternatives = new Set<string>();
  for (const secret of secrets.filter((s) => s.length <= PATTERN_MAX_LENGTH)) {
    for (const value of plainForms(secret)) alternatives.add(anyPercentEncoding(value));
    for (const form of secretForms(secret)) alternatives.add(escapeRegExp(form));
  }
  if (alternatives.size === 0) return undefined;
  return new RegExp([...alternatives].sort((a, b) => b.length - a.length).join('|'), 'g');
}

/** The whole forms of the long secrets, longest first. */
function longSecretForms(secrets: readonly string[]): string[] {
  const forms = new Set(secrets.filter((s) => s.length > PATTERN_MAX_LENGTH).flatMap(secretForms));
  return [...forms].sort((a, b) => b.length - a.length);
}

/** Whether any form of any of the secrets is in the text. */
export function containsSecret(text: string, secrets: readonly string[]): boolean {
  const pattern = secretPattern(secrets);
  if (pattern !== undefined && new RegExp(pattern.source).test(text)) return true;
  return longSecretForms(secrets).some((form) => text.includes(form));
}

/** Replaces every known secret, in each of its forms, in a string. */
export class Redactor {
  private readonly pattern: RegExp | undefined;
  private readonly longForms: string[];
  constructor(secrets: readonly string[]) {
    this.pattern = secretPattern(secrets);
    this.longForms = longSecretForms(secrets);
  }

  get empty(): boolean {
    return this.pattern === undefined && this.longForms.length === 0;
  }

  redact(text: string): string {
    let out = this.pattern === undefined ? text : text.replace(this.pattern, '[redacted]');
    for (const form of this.longForms) {
      if (out.includes(form)) out = out.split(form).join('[redacted]');
    }
    return out;
  }

  /** Redacts the string values of a parsed JSON record, leaving its keys and structure intact. */
  redactValues(value: unknown): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (Array.isArray(value)) return value.map((v) => this.redactValues(v));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactValues(v)]));
    }
    return value;
  }
}
