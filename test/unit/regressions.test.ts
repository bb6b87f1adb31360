import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';
import { LineSplitter } from '../../src/kopia/lines.js';
import { snapshotsOf } from '../../src/operations/select.js';
import { terminationMessage, type RunSummary } from '../../src/report/summary.js';
import { SYSTEM } from '../support/fixtures.js';

function issuesOf(env: Record<string, string>): ConfigError['issues'] {
  try {
    parseConfig(env, { system: SYSTEM, offline: true });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
}

describe('regressions', () => {
  it('one invalid value does not invent a missing DATA_DIR', () => {
    const issues = issuesOf({ DIRECTION: 'source', DATA_DIR: '/data', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r', KOPIA_PARALLELISM: 'abc' });
    expect(issues.map((i) => i.source)).toEqual(['KOPIA_PARALLELISM']);
  });

  it('one invalid value does not hide a bad maintenance identity', () => {
    const issues = issuesOf({
      DIRECTION: 'maintenance',
      KOPIA_PASSWORD: 'pw',
      KOPIA_REPOSITORY: 'filesystem:///r',
      KOPIA_PARALLELISM: 'abc',
      KOPIA_OVERRIDE_MAINTENANCE_USERNAME: 'a b',
    });
    expect(issues.map((i) => i.source).sort()).toEqual(['KOPIA_OVERRIDE_MAINTENANCE_USERNAME', 'KOPIA_PARALLELISM']);
  });

  it('an upper-case filesystem scheme is accepted', () => {
    const config = parseConfig({ DIRECTION: 'maintenance', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'FILESYSTEM:///r' }, { system: SYSTEM, offline: true });
    expect(config.storage?.args).toEqual(['filesystem', '--path=/r']);
  });

  it('snapshots whose fractions have different lengths order by the real nanoseconds', () => {
    const older = { id: 'older', source: { host: 'h', userName: 'u', path: '/d' }, startTime: '2024-01-01T00:00:00.1234567Z' };
    const newer = { id: 'newer', source: { host: 'h', userName: 'u', path: '/d' }, startTime: '2024-01-01T00:00:00.12345679Z' };
    expect(snapshotsOf([older, newer], 'u', 'h', '/d').map((s) => s.id)).toEqual(['newer', 'older']);
  });

  it('a CRLF split across chunks ends an ordinary line, not a progress update', () => {
    const seen: [string, boolean][] = [];
    const splitter = new LineSplitter((line, progress) => seen.push([line, progress]));
    splitter.push('abc\r');
    splitter.push('\nxyz\n');
    splitter.end();
    expect(seen).toEqual([
      ['abc', false],
      ['xyz', false],
    ]);
  });

  const base: RunSummary = { operation: 'backup', result: 'FAILURE', exitCode: 1, warnings: [], notes: [], durationSeconds: 1, kopiaProcesses: 2 };

  it('the termination message stays within 4000 bytes for multi-byte text', () => {
    const text = terminationMessage({ ...base, reason: 'é'.repeat(3000), warnings: Array(50).fill('ü'.repeat(500)) });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4000);
    expect(JSON.parse(text)).toMatchObject({ operation: 'backup', exitCode: 1 });
  });

  it('the termination message is valid JSON however long the reason is', () => {
    const text = terminationMessage({ ...base, reason: 'x'.repeat(10_000) });
    const parsed = JSON.parse(text) as { reason: string };
    expect(parsed.reason.endsWith('...')).toBe(true);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4000);
  });
});
