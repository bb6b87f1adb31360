// Which values a policy input gives when it cannot be read, whole or one field: what it applied last.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManualConfig } from '../../src/policy/manual-config.js';
import { parseStructuredConfig } from '../../src/policy/structured-config.js';
import { GLOBAL_POLICY_INPUT, loadPolicySettings, REPOSITORY_CONFIG_INPUT, type LastInputs } from '../../src/policy/mounted.js';

function mount(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-last-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const load = (files: Record<string, string>, last?: LastInputs) => loadPolicySettings({ files: { configPath: mount(files) } }, last);

const LAST: LastInputs = {
  sources: {
    [GLOBAL_POLICY_INPUT]: { 'retention.keepLatest': '20', 'compression.compressorName': '"zstd"' },
    [REPOSITORY_CONFIG_INPUT]: { uploadBytesPerSecond: '1000000', enableActions: 'false' },
  },
};

describe('a global policy file that cannot be read', () => {
  it('gives every field it applied last, and records them again', () => {
    const settings = load({ 'global-policy.json': '{"retention": {"keepLatest": 20,}}' }, LAST);
    expect(settings.globalPolicy).toEqual({ retention: { keepLatest: 20 }, compression: { compressorName: 'zstd' } });
    expect(settings.globalHeld).toBeUndefined();
    expect(settings.sourceFields[GLOBAL_POLICY_INPUT]).toEqual(LAST.sources![GLOBAL_POLICY_INPUT]);
    expect(settings.findings.filter((f) => f.severity === 'error')).toHaveLength(1);
  });

  it('with no record, holds the global policy as kopia has it', () => {
    const settings = load({ 'global-policy.json': '' });
    expect(settings.globalHeld).toMatch(/no record/);
  });

  it('with actions in the record (kept only as digests), holds the global policy', () => {
    const last = { sources: { [GLOBAL_POLICY_INPUT]: { 'actions.beforeSnapshotRoot.script': '"sha256:0123"' } } };
    expect(load({ 'global-policy.json': '[' }, last).globalHeld).toBeDefined();
  });
});

describe('a field of the global policy file whose value cannot be used', () => {
  it.each(['-1', '5.5', '"20"', 'true'])('keepLatest %s keeps 20; the other fields apply; the finding names the field', (bad) => {
    const settings = load({ 'global-policy.json': `{"retention": {"keepLatest": ${bad}, "keepDaily": 3}}` }, LAST);
    expect(settings.globalPolicy).toEqual({ retention: { keepLatest: 20, keepDaily: 3 } });
    expect(settings.findings.find((f) => f.field === 'retention.keepLatest')?.source).toMatch(/global-policy\.json$/);
  });

  it('a number beyond 2^53-1 is refused with the whole file: every field keeps its last value, the finding names file and field', () => {
    const settings = load({ 'global-policy.json': '{"retention": {"keepLatest": 1e309, "keepDaily": 3}}' }, LAST);
    expect(settings.globalPolicy).toEqual(load({ 'global-policy.json': '[' }, LAST).globalPolicy);
    expect(settings.globalPolicy).toMatchObject({ retention: { keepLatest: 20 } });
    const error = settings.findings.find((f) => f.severity === 'error');
    expect(error?.source).toMatch(/global-policy\.json$/);
    expect(error?.message).toMatch(/retention\.keepLatest/);
  });

  it('a section of the wrong type keeps each field it held', () => {
    expect(load({ 'global-policy.json': '{"retention": "keep"}' }, LAST).globalPolicy).toEqual({ retention: { keepLatest: 20 } });
  });

  it('an alias with a bad value keeps the field it stands for', () => {
    const last = { sources: { [GLOBAL_POLICY_INPUT]: { 'retention.keepAnnual': '4' } } };
    expect(load({ 'global-policy.json': '{"retention": {"keepYearly": -2}}' }, last).globalPolicy).toEqual({ retention: { keepAnnual: 4 } });
  });

  it('unknown fields (toString, __proto__) and alias conflicts are not fields to keep', () => {
    const settings = load({ 'global-policy.json': '{"retention": {"toString": 1, "keepYearly": 2, "keepAnnual": 3}, "__proto__": 1}' });
    expect(settings.globalHeld).toBeUndefined();
    expect(settings.findings.some((f) => f.field !== undefined)).toBe(false);
    expect(settings.globalPolicy).toEqual({ retention: { keepAnnual: 3 } });
  });

  it('a field the file did not set last time has nothing to keep', () => {
    const settings = load({ 'global-policy.json': '{"retention": {"keepDaily": -1}}' }, LAST);
    expect(settings.globalPolicy).toBeUndefined();
    expect(settings.globalHeld).toBeUndefined();
  });
});

describe('a repository config file that cannot be read', () => {
  it('gives the throttle and enableActions it applied last', () => {
    const settings = load({ 'repository.config': '{"uploadSpeed": 1000000,}' }, LAST);
    expect(settings.repository).toMatchObject({ uploadBytesPerSecond: 1_000_000, enableActions: false });
    expect(settings.throttleHeld).toBeUndefined();
  });

  it('a bad uploadSpeed keeps the last one; with no record the throttle is held', () => {
    expect(load({ 'repository.config': '{"uploadSpeed": -1}' }, LAST).repository).toMatchObject({ uploadBytesPerSecond: 1_000_000 });
    expect(load({ 'repository.config': '{"uploadSpeed": -1}' }).throttleHeld).toMatch(/no record/);
  });
});

describe('a key misspelt so that a field it set last time is missing', () => {
  it.each([
    ['{"retention": {"keepLat#est": 20}, "compression": {"compressorName": "zstd"}}', { retention: { keepLatest: 20 }, compression: { compressorName: 'zstd' } }],
    ['{"retention": {"keepLatest": 20}, "compre#ssion": {"compressorName": "zstd"}}', { retention: { keepLatest: 20 }, compression: { compressorName: 'zstd' } }],
  ])('%s keeps the field it was meant to be, and the finding says which', (text, policy) => {
    const settings = load({ 'global-policy.json': text }, LAST);
    expect(settings.globalPolicy).toEqual(policy);
    expect(settings.findings.some((f) => f.field !== undefined && f.message.includes('read as a misspelling of'))).toBe(true);
  });

  it('an unknown key near no field is only reported', () => {
    const settings = load({ 'global-policy.json': '{"retention": {"keepLatest": 5, "colour": 1}}' }, LAST);
    expect(settings.globalPolicy).toEqual({ retention: { keepLatest: 5 } });
    expect(settings.findings.some((f) => f.field !== undefined)).toBe(false);
  });
});

describe('policies given in the environment', () => {
  it('a compressor kopia does not have in KOPIA_MANUAL_CONFIG stops the run naming the variable and the field', () => {
    const { value, findings } = parseManualConfig({ compression: { compressor: 'zstd-extreme' } });
    expect(value).toBeUndefined();
    expect(findings).toEqual([
      { source: 'KOPIA_MANUAL_CONFIG', severity: 'error', message: expect.stringMatching(/^compression\.compressor: .*the last applied value stays$/) },
    ]);
  });

  it.each(['-1', '5.5', '1e309', '"20"'])('keepLatest %s in the structured config policies stops the run', (bad) => {
    const input = JSON.parse(`{"storage": {"type": "filesystem", "config": {"path": "/r"}}, "policies": {"retention": {"keepLatest": ${bad}}}}`) as unknown;
    const { value, findings } = parseStructuredConfig(input);
    expect(value).toBeUndefined();
    expect(findings[0]).toMatchObject({ source: 'KOPIA_STRUCTURED_REPOSITORY_CONFIG', severity: 'error', message: expect.stringContaining('policies.retention.keepLatest') });
  });

  it('structured config policies that are not an object stop the run', () => {
    const { value, findings } = parseStructuredConfig({ storage: { type: 'filesystem', config: { path: '/r' } }, policies: 'keep' });
    expect(value).toBeUndefined();
    expect(findings[0]?.message).toMatch(/^policies: policy must be a JSON object/);
  });

  it('unknown fields in the structured config policies are still only warnings', () => {
    const { value, findings } = parseStructuredConfig({ storage: { type: 'filesystem', config: { path: '/r' } }, policies: { retention: { keepLatest: 3, colour: 1 } } });
    expect(findings.map((f) => f.severity)).toEqual(['warning']);
    expect(value?.policy).toEqual({ retention: { keepLatest: 3 } });
  });
});

describe('a repository config key misspelt so that a field is missing', () => {
  it('uplodSpeed keeps the last uploadSpeed and says which field it was read as', () => {
    const settings = load({ 'repository.config': '{"uplodSpeed": 5}' }, LAST);
    expect(settings.repository).toMatchObject({ uploadBytesPerSecond: 1_000_000 });
    expect(settings.findings.find((f) => f.field === 'uploadSpeed')?.message).toContain('read as a misspelling of uploadSpeed');
  });

  it('a misspelling next to the field itself is only reported', () => {
    const settings = load({ 'repository.config': '{"uplodSpeed": 5, "uploadSpeed": 7}' }, LAST);
    expect(settings.repository).toMatchObject({ uploadBytesPerSecond: 7 });
    expect(settings.findings.some((f) => f.field !== undefined)).toBe(false);
  });
});
