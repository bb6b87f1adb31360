// No JavaScript or zod wording reaches an operator: deep JSON, numbers out of range and dates that
// do not exist are configuration errors naming the variable or file, in plain words.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig, type InputNames } from '../../src/config/parse.js';
import { passwordFromFile, shortSecretWarnings } from '../../src/secret-checks.js';
import { impossibleTime } from '../../src/config/validators.js';
import { ConfigError, unexpectedFailure } from '../../src/errors.js';
import { MAX_JSON_DEPTH, parseJsonText, readJsonFileSync } from '../../src/policy/json-input.js';
import { SYSTEM } from '../support/fixtures.js';

const SEED = Number(process.env['FC_SEED'] ?? 17);

/** zod's and the JavaScript engine's own wording: none of it may reach an operator. */
export const ENGINE_WORDS = /\bexpected\b|RangeError|TypeError|SyntaxError|Invalid input|Maximum call stack|^\s+at .+\(|\n\s+at /m;

const BASE = { KOPIA_PASSWORD: 'pw-123456', KOPIA_REPOSITORY: 'filesystem:///repo', DATA_DIR: '/data' };

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig({ ...BASE, ...env }, { operation: 'restore', system: SYSTEM, readMounts: false });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw new Error(`not a ConfigError: ${String(error)}`);
  }
  throw new Error('accepted');
}

/** JSON nested `depth` levels, objects and arrays mixed, with a leaf. */
const nested = (kinds: readonly boolean[], leaf: string) =>
  kinds.reduceRight((inner, isObject) => (isObject ? `{"k":${inner}}` : `[${inner}]`), leaf);

const deepJson = fc
  .tuple(fc.integer({ min: MAX_JSON_DEPTH + 1, max: 20_000 }), fc.boolean(), fc.constantFrom('1', '"x"', 'null', '{}', '[]'))
  .map(([depth, mixed, leaf]) => nested(Array.from({ length: depth }, (_, i) => (mixed ? i % 2 === 0 : true)), leaf));

/** Numbers JSON can write that JavaScript cannot hold exactly: beyond ±(2^53-1), or overflowing to Infinity. */
const hugeNumber = fc.oneof(
  fc.bigInt({ min: 2n ** 53n, max: 10n ** 30n }).map(String),
  fc.bigInt({ min: 2n ** 53n, max: 10n ** 30n }).map((n) => `-${n}`),
  fc.integer({ min: 309, max: 400 }).map((e) => `1e${e}`),
  fc.integer({ min: 16, max: 300 }).map((e) => `9.5e${e}`),
);

/** Timestamps in RFC 3339 form that name no instant: a day past the month's end, hour 24, minute or second 60. */
const impossibleDate = fc.oneof(
  fc.tuple(fc.integer({ min: 1970, max: 2100 }), fc.integer({ min: 1, max: 12 })).map(([y, m]) => {
    const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
    return `${y}-${String(m).padStart(2, '0')}-${days + 1}T00:00:00Z`;
  }),
  fc.constantFrom(
    '2024-02-30T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-01-01T23:60:00Z',
    '2024-01-01T23:59:60Z',
    '2024-13-01T00:00:00Z',
    '2024-00-10T00:00:00Z',
    '2024-01-00T00:00:00Z',
    '2024-01-01T00:00:00+24:00',
  ),
);

const JSON_VARIABLES = ['KOPIA_MANUAL_CONFIG', 'KOPIA_STRUCTURED_REPOSITORY_CONFIG'] as const;

describe('JSON inputs, numbers and dates are refused in plain words', () => {
  it(`nesting deeper than ${MAX_JSON_DEPTH} levels in a JSON variable is one configuration error naming it`, () => {
    fc.assert(
      fc.property(deepJson, fc.constantFrom(...JSON_VARIABLES), (text, variable) => {
        const error = configError({ [variable]: text });
        expect(error.exitCode).toBe(2);
        expect(error.issues).toEqual([{ source: variable, message: `JSON input nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels, the limit`, severity: 'error' }]);
        expect(error.message).not.toMatch(ENGINE_WORDS);
      }),
      { numRuns: 60, seed: SEED },
    );
  });

  it('a number beyond ±(2^53-1) anywhere in a JSON variable names the variable, the field and the range', () => {
    fc.assert(
      fc.property(hugeNumber, fc.constantFrom(...JSON_VARIABLES), (number, variable) => {
        const error = configError({ [variable]: `{"caching":{"maxCacheSize":${number}}}` });
        expect(error.issues).toEqual([
          { source: variable, message: 'caching.maxCacheSize: a number outside the range -9007199254740991 to 9007199254740991 (2^53-1)', severity: 'error' },
        ]);
        expect(error.message).not.toMatch(ENGINE_WORDS);
      }),
      { numRuns: 100, seed: SEED },
    );
  });

  it('a whole-number variable given a number beyond any range names the range, not zod', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 31n, max: 10n ** 40n }), fc.constantFrom('KOPIA_RETAIN_LATEST', 'KOPIA_CACHE_CAPACITY_BYTES', 'KOPIA_PREVIOUS'), (n, variable) => {
        fc.pre(variable !== 'KOPIA_CACHE_CAPACITY_BYTES' || n > BigInt(Number.MAX_SAFE_INTEGER)); // else within its range
        const error = configError({ [variable]: String(n) });
        const issue = error.issues.find((i) => i.source === variable);
        expect(issue?.message).toMatch(/^must be at most \d+$/);
        expect(error.message).not.toMatch(ENGINE_WORDS);
      }),
      { numRuns: 100, seed: SEED },
    );
  });

  it('a date that does not exist in KOPIA_RESTORE_AS_OF is refused, not rolled over', () => {
    fc.assert(
      fc.property(impossibleDate, (date) => {
        const error = configError({ KOPIA_RESTORE_AS_OF: date });
        expect(error.issues).toHaveLength(1);
        expect(error.issues[0]!.source).toBe('KOPIA_RESTORE_AS_OF');
        expect(error.issues[0]!.message).toMatch(/^is not a date that exists: it has /);
        expect(error.message).not.toMatch(ENGINE_WORDS);
      }),
      { numRuns: 100, seed: SEED },
    );
  });

  it('every real instant written in RFC 3339 is accepted, with and without an offset', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1971-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        const text = d.toISOString();
        expect(impossibleTime(text)).toBeUndefined();
        expect(parseConfig({ ...BASE, KOPIA_RESTORE_AS_OF: text }, { operation: 'restore', system: SYSTEM, readMounts: false })).toBeDefined();
      }),
      { numRuns: 100, seed: SEED },
    );
  });

  it('a deep or out-of-range JSON file is a configuration error naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-json-'));
    fc.assert(
      fc.property(fc.oneof(deepJson, hugeNumber.map((n) => `{"retention":{"keepLatest":${n}}}`)), (text) => {
        const file = join(dir, 'global-policy.json');
        writeFileSync(file, text);
        let error: unknown;
        try {
          readJsonFileSync(file);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).issues[0]!.source).toBe(file);
        expect((error as ConfigError).message).not.toMatch(ENGINE_WORDS);
      }),
      { numRuns: 40, seed: SEED },
    );
  });

  it('JSON at the depth limit still parses, and strings holding brackets do not count as nesting', () => {
    expect(parseJsonText(nested(Array.from({ length: MAX_JSON_DEPTH }, () => true), '"[[[[{{{{"'), 'X')).toBeDefined();
    expect(() => parseJsonText(nested(Array.from({ length: MAX_JSON_DEPTH + 1 }, () => false), '1'), 'X')).toThrow(ConfigError);
  });

  it('zod wording never appears for a wrongly shaped JSON value', () => {
    const error = configError({ KOPIA_MANUAL_CONFIG: '[1, 2]' });
    expect(error.message).toBe('KOPIA_MANUAL_CONFIG: must be a JSON object');
  });
});

describe('the last resort for an error the program did not expect', () => {
  it('prints a plain sentence, never the engine message, and classes an OS error by its code', () => {
    const range = unexpectedFailure(new RangeError('Maximum call stack size exceeded'));
    expect(range.reason).not.toMatch(ENGINE_WORDS);
    expect(range.failure.class).toBe('Unknown');
    const busy = unexpectedFailure(Object.assign(new Error("EBUSY: resource busy or locked, rmdir '/data/m'"), { code: 'EBUSY', syscall: 'rmdir', path: '/data/m' }));
    expect(busy.reason).toBe('the mover could not rmdir /data/m: a mount point or busy file is in the way');
    expect(busy.failure).toMatchObject({ class: 'MountBusy', retryable: false });
    const full = unexpectedFailure(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC', syscall: 'write' }));
    expect(full.failure).toMatchObject({ class: 'NoSpace', retryable: false });
  });
});

describe('a problem is named the way its value was given', () => {
  const typed = { given: { KOPIA_RESTORE_AS_OF: '--as-of', DATA_DIR: '--data-dir', KOPIA_PASSWORD: '--password-file /home/u/.kopia-pw' } };

  function issuesOf(env: Record<string, string | undefined>, inputs?: InputNames): ConfigError['issues'] {
    try {
      parseConfig({ ...BASE, ...env }, { operation: 'restore', system: SYSTEM, readMounts: false, inputs });
    } catch (error) {
      if (error instanceof ConfigError) return error.issues;
      throw error;
    }
    throw new Error('accepted');
  }

  it('a value typed as a flag is reported under the flag, the same value from the environment under the variable', () => {
    const flag = issuesOf({ KOPIA_RESTORE_AS_OF: 'yesterday' }, typed);
    expect(flag.map((i) => i.source)).toEqual(['--as-of']);
    expect(JSON.stringify(flag)).not.toContain('KOPIA_RESTORE_AS_OF');
    expect(issuesOf({ KOPIA_RESTORE_AS_OF: 'yesterday' }).map((i) => i.source)).toEqual(['KOPIA_RESTORE_AS_OF']);
  });

  it('a path problem does not repeat the variable behind the flag', () => {
    expect(issuesOf({ DATA_DIR: '/data/../etc' }, typed)).toEqual([{ source: '--data-dir', message: 'must not contain ".." segments', severity: 'error' }]);
  });

  it('a password read from a file is named by the flag and its file', () => {
    const issues = issuesOf({ KOPIA_PASSWORD: 'x'.repeat(4097) }, typed);
    expect(issues).toEqual([{ source: '--password-file /home/u/.kopia-pw', message: 'must be at most 4096 characters', severity: 'error' }]);
  });

  it('a missing required value names the flag this command offers for it, and the variable', () => {
    const offered = { offered: { KOPIA_PASSWORD: '--password-file', DATA_DIR: '--data-dir', KOPIA_REPOSITORY: '--repository' } };
    const issues = issuesOf({ KOPIA_PASSWORD: undefined, DATA_DIR: undefined, KOPIA_REPOSITORY: undefined }, offered);
    expect(issues.find((i) => i.source === 'KOPIA_PASSWORD')?.message).toBe('is required: give --password-file or set KOPIA_PASSWORD');
    expect(issues.find((i) => i.source === 'DATA_DIR')?.message).toBe('is required for restore: give --data-dir or set DATA_DIR');
    expect(issues.find((i) => i.source === 'KOPIA_REPOSITORY')?.message).toMatch(/^is required \(e\.g\. .*\): give --repository or set KOPIA_REPOSITORY, unless /);
  });

  it('a plan needs no password; a run does', () => {
    const env = { ...BASE, KOPIA_PASSWORD: undefined };
    expect(parseConfig(env, { operation: 'backup', system: SYSTEM, readMounts: false, passwordOptional: true }).operation).toBe('backup');
    expect(() => parseConfig(env, { operation: 'backup', system: SYSTEM, readMounts: false })).toThrow('KOPIA_PASSWORD: is required');
  });
});

describe('a password file that holds no password', () => {
  for (const [what, bytes, says] of [
    ['empty', '', 'it is empty'],
    ['only a line ending', '\n', 'it is empty'],
    ['only blanks', '  \t\r\n', 'it holds only blanks'],
  ] as const) {
    it(`${what}: refused naming the file, not "is required"`, () => {
      expect(() => passwordFromFile('--password-file', '/home/u/.kopia-pw', Buffer.from(bytes))).toThrow(`--password-file: /home/u/.kopia-pw cannot be used: ${says}`);
    });
  }

  it('a password with blanks around it is kept exactly, without its one line ending', () => {
    expect(passwordFromFile('--password-file', '/p', Buffer.from(' a long password \n'))).toBe(' a long password ');
  });
});

describe('a too-short password is named the way it was given', () => {
  it('from --password-file: the warning names the flag and its file, never the variable', () => {
    const inputs = { given: { KOPIA_PASSWORD: '--password-file /home/u/.kopia-pw' } };
    const env = { ...BASE, KOPIA_PASSWORD: 'abc' };
    const fromFile = parseConfig(env, { operation: 'restore', system: SYSTEM, readMounts: false, inputs });
    expect(shortSecretWarnings(fromFile, env).map((w) => w.source)).toEqual(['--password-file /home/u/.kopia-pw']);
    const fromVariable = parseConfig(env, { operation: 'restore', system: SYSTEM, readMounts: false });
    expect(shortSecretWarnings(fromVariable, env).map((w) => w.source)).toEqual(['KOPIA_PASSWORD']);
  });
});
