// Which values a policy input gives when it cannot be read, whole or one field: what it applied last.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
  it.each(['-1', '5.5', '1e309', '"20"', 'true'])('keepLatest %s keeps 20; the other fields apply; the finding names the field', (bad) => {
    const settings = load({ 'global-policy.json': `{"retention": {"keepLatest": ${bad}, "keepDaily": 3}}` }, LAST);
    expect(settings.globalPolicy).toEqual({ retention: { keepLatest: 20, keepDaily: 3 } });
    expect(settings.findings.find((f) => f.field === 'retention.keepLatest')?.source).toMatch(/global-policy\.json$/);
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
