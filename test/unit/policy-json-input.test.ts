import { mkdtemp, rm, writeFile, truncate, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { POLICY_FIXTURES } from '../support/fixtures.js';

// Counts every byte the module under test reads from a file, so the
// size check can be shown to happen before any content is read.
const io = vi.hoisted(() => ({ bytesRead: 0, readFileCalls: 0 }));

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const readSync = ((...args: Parameters<typeof actual.readSync>) => {
    const n = actual.readSync(...args);
    io.bytesRead += n;
    return n;
  }) as typeof actual.readSync;
  const readFileSync = ((...args: Parameters<typeof actual.readFileSync>) => {
    io.readFileCalls++;
    return actual.readFileSync(...args);
  }) as typeof actual.readFileSync;
  return { ...actual, readSync, readFileSync, default: { ...actual, readSync, readFileSync } };
});

const { JSON_INPUT_LIMIT_BYTES, parseJsonText, readJsonFileSync, offsetFromV8Message, locate } =
  await import('../../src/policy/json-input.js');

const SECRET = 'hunter2-s3cr3t-value';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'json-input-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  io.bytesRead = 0;
  io.readFileCalls = 0;
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

async function configErrorAsync(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('limit', () => {
  it('is 1 MiB', () => {
    expect(JSON_INPUT_LIMIT_BYTES).toBe(1_048_576);
  });
});

describe('readJsonFile', () => {
  it('reads and parses a file', async () => {
    const p = join(dir, 'ok.json');
    await writeFile(p, '{"retention": {"keepDaily": 7}}');
    expect(readJsonFileSync(p)).toEqual({ retention: { keepDaily: 7 } });
    // proves the byte counter sees reads, so the zero below means something
    expect(io.bytesRead).toBeGreaterThan(0);
    expect(readJsonFileSync(p)).toEqual({ retention: { keepDaily: 7 } });
  });

  it('accepts a file of exactly the limit', async () => {
    const p = join(dir, 'exact.json');
    await writeFile(p, `"${'a'.repeat(JSON_INPUT_LIMIT_BYTES - 2)}"`);
    const value = await readJsonFileSync(p);
    expect(typeof value === 'string' && value.length).toBe(JSON_INPUT_LIMIT_BYTES - 2);
  });

  it('rejects 1,048,577 bytes naming file, size and limit, without reading the content', async () => {
    const p = join(dir, 'big.json');
    await writeFile(p, `{"k":"${SECRET}${'x'.repeat(1_048_577 - 8 - SECRET.length)}"}`);
    const err = await configErrorAsync(Promise.resolve().then(() => readJsonFileSync(p)));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.source).toBe(p);
    expect(err.message).toContain(p);
    expect(err.message).toContain('1048577 bytes');
    expect(err.message).toContain('1048576 bytes');
    expect(err.message).not.toContain(SECRET);
    expect(io.bytesRead).toBe(0);
    expect(io.readFileCalls).toBe(0);
  });

  it('rejects a huge sparse file quickly, sync and async', async () => {
    // 4 GiB: reading it whole would fail differently (Node refuses > 2 GiB buffers) or take long.
    const p = join(dir, 'sparse.json');
    await writeFile(p, '');
    await truncate(p, 4 * 1024 ** 3);
    const err = await configErrorAsync(Promise.resolve().then(() => readJsonFileSync(p)));
    expect(err.message).toContain(`${4 * 1024 ** 3} bytes`);
    expect(err.message).toContain(`${JSON_INPUT_LIMIT_BYTES} bytes`);
    expect(io.bytesRead).toBe(0);
    const errSync = configError(() => readJsonFileSync(p));
    expect(errSync.message).toContain(`${4 * 1024 ** 3} bytes`);
  });

  it('names a missing file and the reason', async () => {
    const p = join(dir, 'nope.json');
    const err = await configErrorAsync(Promise.resolve().then(() => readJsonFileSync(p)));
    expect(err.issues[0]?.source).toBe(p);
    expect(err.message).toContain('file not found');
    expect(configError(() => readJsonFileSync(p)).message).toContain('file not found');
  });

  it('names a directory as not a file', async () => {
    const p = join(dir, 'adir');
    await mkdir(p);
    const err = await configErrorAsync(Promise.resolve().then(() => readJsonFileSync(p)));
    expect(err.issues[0]?.source).toBe(p);
    expect(err.message).toContain('directory');
  });

  it('reports invalid JSON in a file with line and column and no content', async () => {
    const p = join(dir, 'bad.json');
    await writeFile(p, `{\n  "password": "${SECRET}",\n  "b": }\n`);
    const err = await configErrorAsync(Promise.resolve().then(() => readJsonFileSync(p)));
    expect(err.issues[0]?.source).toBe(p);
    expect(err.message).toContain('line 3 column 8');
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain('password');
  });

  it('locates the errors in the docs’ invalid examples', async () => {
    const comment = await configErrorAsync(Promise.resolve().then(() => readJsonFileSync(join(POLICY_FIXTURES, 'invalid-json-policy-with-comment.json'))));
    expect(comment.message).toContain('line 3 column 29');
    expect(comment.message).toContain('comments are not allowed in JSON');
    expect(comment.message).not.toContain('Faster');

    const placeholder = await configErrorAsync(Promise.resolve().then(() => readJsonFileSync(join(POLICY_FIXTURES, 'invalid-json-doc-example.json'))));
    expect(placeholder.message).toContain('line 1 column 2');
    expect(placeholder.message).not.toContain('invalid json here');
  });

  it('skips a UTF-8 byte order mark', async () => {
    const p = join(dir, 'bom.json');
    await writeFile(p, '\ufeff{"a": 1}');
    expect(readJsonFileSync(p)).toEqual({ a: 1 });
  });
});

describe('parseJsonText', () => {
  it('parses and names the variable on errors', () => {
    expect(parseJsonText('{"a": [1, 2]}', 'KOPIA_MANUAL_CONFIG')).toEqual({ a: [1, 2] });
    const err = configError(() => parseJsonText('{"a": [1, 2}', 'KOPIA_MANUAL_CONFIG'));
    expect(err.issues[0]?.source).toBe('KOPIA_MANUAL_CONFIG');
    expect(err.message).toMatch(/^KOPIA_MANUAL_CONFIG: invalid JSON at line 1 column 12/);
  });

  it('measures the limit in UTF-8 bytes, not characters', () => {
    const text = `"${'é'.repeat(524_288)}"`; // 1,048,578 bytes in 524,290 characters
    const err = configError(() => parseJsonText(text, 'KOPIA_STRUCTURED_REPOSITORY_CONFIG'));
    expect(err.message).toContain('1048578 bytes');
    expect(err.message).toContain('1048576 bytes');
    expect(err.message).not.toContain('é');
  });

  it('rejects 1,048,577 bytes', () => {
    const text = `"${SECRET}${'x'.repeat(1_048_577 - 2 - SECRET.length)}"`;
    expect(Buffer.byteLength(text)).toBe(1_048_577);
    const err = configError(() => parseJsonText(text, 'KOPIA_MANUAL_CONFIG'));
    expect(err.message).toContain('KOPIA_MANUAL_CONFIG');
    expect(err.message).toContain('1048577 bytes');
    expect(err.message).not.toContain(SECRET);
  });

  it.each([
    // [text, line, column] — covers V8's "at position", "Unexpected token" (no position) and end-of-input forms
    ['{"a": 1', 1, 8],
    ['{"a":', 1, 6],
    [`{"k": "${SECRET}" "x": 1}`, 1, 30],
    [`{\r\n  "k": "${SECRET}",\r\n  "x": tru\r\n}`, 3, 11],
    [`[1, 2]\n  {"k": "${SECRET}"}`, 2, 3],
    [`{"k": "${SECRET}\u0001"}`, 1, 28],
    [`{'k': "${SECRET}"}`, 1, 2],
    [`{"k": 01}`, 1, 8],
    [`{"k": "\\q${SECRET}"}`, 1, 9],
    [`{"k": "${SECRET}"`, 1, 29],
  ])('locates the error in %j at line %i column %i without quoting it', (text, line, column) => {
    const err = configError(() => parseJsonText(text, 'VAR'));
    expect(err.message).toContain(`invalid JSON at line ${line} column ${column}`);
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain('"k"');
  });

  it('calls empty input empty', () => {
    expect(configError(() => parseJsonText('  \n', 'VAR')).message).toContain('empty');
  });
});

describe('V8 message positions', () => {
  const text = '{\n  "a": 1,\n  "b" 2\n}';
  it('reads "at position N"', () => {
    expect(offsetFromV8Message("Expected ':' after property name in JSON at position 18", text)).toBe(18);
  });
  it('reads "(line L column C)"', () => {
    const offset = offsetFromV8Message("Expected ':' after property name in JSON at position 18 (line 3 column 7)", text);
    expect(offset).toBe(18);
    expect(locate(text, offset ?? -1)).toMatchObject({ line: 3, column: 7 });
  });
  it('reads the end of input', () => {
    expect(offsetFromV8Message('Unexpected end of JSON input', text)).toBe(text.length);
  });
  it('has no position for Node 20’s "Unexpected token" form', () => {
    expect(offsetFromV8Message(`Unexpected token '}', "${text}" is not valid JSON`, text)).toBeUndefined();
  });
});
