import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseRepositoryConfig } from '../../src/policy/repository-config.js';
import { POLICY_FIXTURES } from '../support/fixtures.js';

const SRC = '/kopia-config/repository.config';

/** The settings, with the warnings split as the file gives them: fields not acted on, and fields whose value is unusable. */
function parse(input: unknown) {
  const { value, findings } = parseRepositoryConfig(input, SRC);
  for (const f of findings) expect(f).toMatchObject({ source: SRC, severity: 'warning' });
  const unusable = findings.filter((f) => f.field !== undefined);
  for (const f of unusable) expect(f.message.startsWith(`${f.field}: `)).toBe(true);
  return {
    ...value,
    notApplied: findings.filter((f) => f.field === undefined).map((f) => f.message),
    warnings: unusable.map((f) => f.message),
  };
}

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(join(POLICY_FIXTURES, name), 'utf8'));
}

describe('fields that are applied', () => {
  it('reads the docs’ ConfigMap example', () => {
    expect(parse(fixture('repository-config-configmap-speeds.json'))).toEqual({
      enableActions: true,
      actionTimeoutMs: 300_000,
      uploadBytesPerSecond: 10_485_760,
      downloadBytesPerSecond: 20_971_520,
      notApplied: [],
      warnings: [],
    });
  });

  it.each([
    [300, 300_000],
    [0.5, 500],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['45s', 45_000],
    ['120', 120_000],
  ])('actionCommandTimeout %j is %i ms', (value, ms) => {
    const r = parse({ actionCommandTimeout: value });
    expect(r.actionTimeoutMs).toBe(ms);
    expect(r.warnings).toEqual([]);
  });

  it.each([
    ['five minutes', 'must be seconds or a duration'],
    [true, 'must be seconds or a duration'],
    [0, 'longer than zero'],
    [-30, 'longer than zero'],
    ['0s', 'longer than zero'],
  ])('actionCommandTimeout %j is refused with a warning', (value, message) => {
    const r = parse({ actionCommandTimeout: value, enableActions: true });
    expect(r.actionTimeoutMs).toBeUndefined();
    expect(r.enableActions).toBe(true);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^actionCommandTimeout: /);
    expect(r.warnings[0]).toContain(message);
  });

  it.each([
    ['uploadSpeed', -1, 'must not be negative'],
    ['downloadSpeed', 1.5, 'whole number'],
    ['uploadSpeed', '10MB', 'bytes per second'],
    ['downloadSpeed', 1e300, 'too large'],
  ])('%s = %j is refused with a warning', (key, value, message) => {
    const r = parse({ [key]: value });
    expect(r.uploadBytesPerSecond).toBeUndefined();
    expect(r.downloadBytesPerSecond).toBeUndefined();
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(new RegExp(`^${key}: .*${message}.*, not applied$`));
  });

  it('allows a speed of zero (no limit)', () => {
    expect(parse({ uploadSpeed: 0 }).uploadBytesPerSecond).toBe(0);
  });

  it('wants enableActions as a boolean', () => {
    const r = parse({ enableActions: 'true' });
    expect(r.enableActions).toBeUndefined();
    expect(r.warnings).toEqual(['enableActions: must be true or false, not applied']);
    expect(parse({ enableActions: false }).enableActions).toBe(false);
  });

  it('treats null as not set', () => {
    expect(parse({ enableActions: null, uploadSpeed: null })).toEqual({ notApplied: [], warnings: [] });
  });
});

describe('fields that are not applied', () => {
  it('gives the reason for each field the docs show', () => {
    const r = parse(fixture('repository-config-file-structure-reference.json'));
    expect(r.notApplied.map((n) => n.split(':')[0])).toEqual([
      'encryptionAlgorithm',
      'hashingAlgorithm',
      'ecc',
      'eccOverheadPercent',
    ]);
    for (const n of r.notApplied) expect(n).toContain('KOPIA_MANUAL_CONFIG');

    const ref = parse(fixture('repository-config-format-reference.json'));
    expect(ref.notApplied).toEqual([
      expect.stringMatching(/^storage: .*KOPIA_REPOSITORY/),
      expect.stringMatching(/^caching: .*cache/),
      expect.stringMatching(/^compression: .*global policy file/),
    ]);
    expect(ref.enableActions).toBe(true);

    expect(parse(fixture('repository-config-financial-secret.json')).notApplied).toEqual([
      'auditLog: kopia has no audit log setting',
      'requireTwoFactorAuth: kopia has no two-factor authentication setting',
    ]);
  });

  it('reports unknown fields, including inherited names', () => {
    const r = parse(JSON.parse('{"maxRetries": 3, "constructor": 1, "__proto__": {}}'));
    expect(r.notApplied).toEqual([
      'maxRetries: unknown field',
      'constructor: unknown field',
      '__proto__: unknown field',
    ]);
  });
});

describe('document shape', () => {
  it.each([[[]], [null], ['x'], [1]])('refuses %j naming the source', (input) => {
    let caught: unknown;
    try {
      parse(input);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).issues[0]?.source).toBe(SRC);
    expect((caught as ConfigError).message).toContain('repository config must be a JSON object');
  });

  it('reads every repository config example in the docs without a warning', () => {
    const files = readdirSync(POLICY_FIXTURES).filter((f) => f.startsWith('repository-config-') && f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) {
      const r = parse(fixture(f));
      expect(r.warnings, f).toEqual([]);
      expect(r.enableActions !== undefined || r.uploadBytesPerSecond !== undefined, f).toBe(true);
    }
  });
});
