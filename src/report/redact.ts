/** Words a query string carries as values that are never secret, and that appear in every URL. */
const PUBLIC_VALUES = new Set(['http', 'https', 'https,http', 'http,https']);
const MIN_LENGTH = 4;

function tryDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Every form in which a secret may reach a line of output: as given, JSON-escaped, URL-encoded or
 * decoded, and base64. A value shaped like a query string (an Azure SAS token) is also split into
 * its parameter values, since kopia and Go reorder and re-encode the parameters when they print a URL.
 */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>();
  const add = (value: string | undefined) => {
    if (value === undefined || value.length < MIN_LENGTH) return;
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
    forms.add(encodeURIComponent(value));
    const decoded = tryDecode(value);
    if (decoded !== undefined && decoded.length >= MIN_LENGTH) forms.add(decoded);
    const bytes = Buffer.from(value);
    forms.add(bytes.toString('base64'));
    forms.add(bytes.toString('base64url'));
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
  return [...forms];
}

/** Replaces every known secret, in each of its forms, in a string. */
export class Redactor {
  private readonly needles: string[];
  constructor(secrets: readonly string[]) {
    const all = new Set<string>();
    for (const s of secrets) for (const form of secretForms(s)) all.add(form);
    this.needles = [...all].sort((a, b) => b.length - a.length);
  }

  get empty(): boolean {
    return this.needles.length === 0;
  }

  redact(text: string): string {
    let out = text;
    for (const needle of this.needles) {
      if (out.includes(needle)) out = out.split(needle).join('[redacted]');
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
