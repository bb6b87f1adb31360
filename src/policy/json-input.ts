import { readRegularFile } from '../files.js';
import { ConfigError } from '../errors.js';
import { errorFinding } from '../findings.js';

/** Hard ceiling for every JSON input, files and env values alike. */
export const JSON_INPUT_LIMIT_BYTES = 1_048_576;

/**
 * The deepest nesting of objects and arrays any JSON input may have. Real inputs nest a few levels;
 * a deeper one is refused before it is parsed, since walking it would overflow the stack.
 */
export const MAX_JSON_DEPTH = 64;

/** Numbers in JSON inputs must lie within ±(2^53-1): beyond it JavaScript cannot hold an integer exactly. */
export const MAX_JSON_NUMBER = Number.MAX_SAFE_INTEGER;

/** The deepest nesting of objects and arrays in a JSON text, counted outside strings, in one pass. */
export function jsonNestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // the escaped character cannot end the string
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return deepest;
}

/** Whether a JSON text nests deeper than MAX_JSON_DEPTH (for callers that only skip such a text). */
export function jsonTooDeep(text: string): boolean {
  return jsonNestingDepth(text) > MAX_JSON_DEPTH;
}

/** The path (a.b[2]) of the first number outside ±MAX_JSON_NUMBER, if any; the value is at most MAX_JSON_DEPTH deep. */
export function numberOutOfRange(value: unknown, path = ''): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && Math.abs(value) <= MAX_JSON_NUMBER ? undefined : path || '(the whole value)';
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = numberOutOfRange(item, `${path}[${i}]`);
      if (found !== undefined) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = numberOutOfRange(item, path ? `${path}.${key}` : key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function tooLarge(source: string, size: number): ConfigError {
  return new ConfigError(errorFinding(source, `JSON input is ${size} bytes, larger than the limit of ${JSON_INPUT_LIMIT_BYTES} bytes`));
}

/**
 * Reads a JSON file of at most JSON_INPUT_LIMIT_BYTES: a regular file (never a FIFO or a device),
 * its size checked on the open descriptor before anything is read.
 */
export function readJsonFileSync(path: string): unknown {
  const read = readRegularFile(path, JSON_INPUT_LIMIT_BYTES);
  if ('problem' in read) {
    if (read.problem.kind === 'too-large') throw tooLarge(path, read.problem.size);
    throw new ConfigError(errorFinding(path, `cannot read JSON file: ${read.problem.reason}`));
  }
  return parseDecoded(read.data.toString('utf8'), path);
}

/** Parses a JSON value given as text (an env variable's value); source names the variable. */
export function parseJsonText(text: string, source: string): unknown {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > JSON_INPUT_LIMIT_BYTES) throw tooLarge(source, size);
  return parseDecoded(text, source);
}

function parseDecoded(raw: string, source: string): unknown {
  // Editors on Windows save a BOM; JSON.parse would call it an unexpected token.
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  if (text.trim() === '') {
    throw new ConfigError(errorFinding(source, 'invalid JSON: the input is empty'));
  }
  if (jsonTooDeep(text)) {
    throw new ConfigError(errorFinding(source, `JSON input nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels, the limit`));
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(errorFinding(source, describeJsonError(text, err)));
  }
  const field = numberOutOfRange(value);
  if (field !== undefined) {
    throw new ConfigError(errorFinding(source, `${field}: a number outside the range -${MAX_JSON_NUMBER} to ${MAX_JSON_NUMBER} (2^53-1)`));
  }
  return value;
}

export interface JsonErrorLocation {
  /** 0-based offset in UTF-16 code units. */
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/** Turns an offset into a 1-based line and column; \r\n, \n and \r each end a line. */
export function locate(text: string, offset: number): JsonErrorLocation {
  const end = Math.max(0, Math.min(offset, text.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset: end, line, column: end - lineStart + 1 };
}

/**
 * The offset V8 reports, when its message carries one. Node 20 says
 * "... in JSON at position N" for most errors but names no position for
 * "Unexpected token" (it quotes the text instead, which must never reach a log),
 * newer V8 adds "(line L column C)", and a truncated input has no number at all.
 */
export function offsetFromV8Message(message: string, text: string): number | undefined {
  const lineCol = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lineCol) {
    const wantLine = Number(lineCol[1]);
    const wantCol = Number(lineCol[2]);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < text.length && line < wantLine; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) {
        line++;
        lineStart = i + 1;
      }
    }
    return lineStart + wantCol - 1;
  }
  const pos = /at position (\d+)/.exec(message);
  if (pos) return Number(pos[1]);
  if (/Unexpected end of JSON input/i.test(message)) return text.length;
  return undefined;
}

function describeJsonError(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const scanned = scanJson(text);
  const offset = offsetFromV8Message(message, text) ?? scanned?.offset ?? text.length;
  const where = locate(text, offset);
  let reason = scanned?.reason ?? 'syntax error';
  // The docs show policy JSON with "# ..." notes inside; say why that fails.
  const at = text[where.offset];
  if (at === '#' || (at === '/' && (text[where.offset + 1] === '/' || text[where.offset + 1] === '*'))) {
    reason += '; comments are not allowed in JSON';
  }
  return `invalid JSON at line ${where.line} column ${where.column}: ${reason}`;
}

interface ScanFailure {
  offset: number;
  reason: string;
}

/** Where and why a scan stopped. */
class ScanStop extends Error {
  constructor(
    readonly at: number,
    readonly why: string,
  ) {
    super(why);
  }
}

/**
 * A strict JSON recogniser that reports where and why the text stops being
 * JSON, in words that never quote the input. Only used once JSON.parse has
 * already failed.
 */
export function scanJson(text: string): ScanFailure | undefined {
  const scanner = new JsonScanner(text);
  try {
    scanner.document();
    return undefined;
  } catch (e) {
    if (e instanceof ScanStop) return { offset: e.at, reason: e.why };
    throw e;
  }
}

/** Reads one JSON text from the start, throwing a ScanStop where it stops being JSON. */
class JsonScanner {
  private i = 0;

  constructor(private readonly text: string) {}

  document(): void {
    this.value(0);
    this.ws();
    if (this.i < this.text.length) this.fail('unexpected text after the JSON value');
  }

  private fail(why: string, at = this.i): never {
    throw new ScanStop(at, at >= this.text.length ? 'unexpected end of input' : why);
  }

  private ws(): void {
    while (this.i < this.text.length && ' \t\n\r'.includes(this.text[this.i]!)) this.i++;
  }

  /** Steps over `c` when it comes next (after blanks). */
  private take(c: string): boolean {
    this.ws();
    if (this.text[this.i] !== c) return false;
    this.i++;
    return true;
  }

  private literal(word: string): void {
    for (const c of word) {
      if (this.text[this.i] !== c) this.fail('unknown literal (the literals are true, false and null)');
      this.i++;
    }
  }

  private string(): void {
    const { text } = this;
    this.i++; // opening quote
    for (;;) {
      if (this.i >= text.length) this.fail('unterminated string');
      const c = text.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        return;
      }
      if (c < 0x20) this.fail('control character in string (escape it)');
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      const e = text[this.i + 1];
      if (e === undefined) this.fail('unterminated string', this.i + 1);
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(this.i + 2, this.i + 6))) this.fail('bad \\u escape in string');
        this.i += 6;
      } else if ('"\\/bfnrt'.includes(e!)) {
        this.i += 2;
      } else {
        this.fail('bad escape in string', this.i + 1);
      }
    }
  }

  private number(): void {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.i, this.i + 400));
    if (!m || m[0] === '-' || m[0] === '') this.fail('malformed number');
    this.i += m ? m[0].length : 0;
    const next = this.text[this.i];
    if (next !== undefined && /[0-9.eE+-]/.test(next)) this.fail('malformed number');
  }

  private object(depth: number): void {
    this.i++;
    if (this.take('}')) return;
    for (;;) {
      this.ws();
      if (this.text[this.i] !== '"') this.fail('a property name in double quotes must come here');
      this.string();
      if (!this.take(':')) this.fail("a ':' must follow the property name");
      this.value(depth + 1);
      if (this.take(',')) continue;
      if (this.take('}')) return;
      this.fail("a ',' or '}' must follow the property value");
    }
  }

  private array(depth: number): void {
    this.i++;
    if (this.take(']')) return;
    for (;;) {
      this.value(depth + 1);
      if (this.take(',')) continue;
      if (this.take(']')) return;
      this.fail("a ',' or ']' must follow the array element");
    }
  }

  private value(depth: number): void {
    if (depth > 10_000) this.fail('nesting too deep');
    this.ws();
    const c = this.text[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === 't') return this.literal('true');
    if (c === 'f') return this.literal('false');
    if (c === 'n') return this.literal('null');
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    this.fail('a value must come here (object, array, string, number, true, false or null)');
  }
}
