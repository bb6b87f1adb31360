// The verify's pure parts: kopia 0.22.3's words as the real binary printed them against a
// filesystem repository with an altered and a deleted pack blob, its --json result, the summary
// line, and the values KOPIA_VERIFY_PERCENT takes.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';
import { classifyKopiaOutput } from '../../src/kopia/failures.js';
import { parseSnapshotVerify } from '../../src/kopia/models/snapshot-verify.js';
import { KopiaOutputError } from '../../src/kopia/models/parse.js';
import { summaryLines, type RunSummary } from '../../src/report/summary.js';

const ALTERED =
  'error processing app@ns1:/data@2026-12-02 15:04:37 UTC/a.bin: error reading object 1bc90f850a12cf4a33bc6b39c0bbb9af: unable to open object 1bc90f850a12cf4a33bc6b39c0bbb9af: unexpected content error: invalid checksum at p0392afdc30e5dea6be78b8b701529c60-se6e9bfb9c86a782c147 offset 32 length 300028/300028: decrypt: unable to decrypt content: cipher: message authentication failed';
const DELETED =
  'error processing app@ns1:/data@2026-12-02 15:04:37 UTC/b.txt: object 326b3a2c8c492a1d244ecda922f22a0f is backed by missing blob p0392afdc30e5dea6be78b8b701529c60-se6e9bfb9c86a782c147';
// The same read, cut off from the storage: a verify that could not reach it proves nothing about the data.
const UNREACHABLE =
  'error processing app@ns1:/data@2026-12-02 15:04:37 UTC/a.bin: error reading object 1bc90f850a12cf4a33bc6b39c0bbb9af: unable to open object 1bc90f850a12cf4a33bc6b39c0bbb9af: unexpected content error: error getting cached content from blob "p0392afdc30e5dea6be78b8b701529c60-se6e9bfb9c86a782c147": failed to get blob with ID p0392afdc30e5dea6be78b8b701529c60-se6e9bfb9c86a782c147: dial tcp 127.0.0.1:9000: connect: connection refused';

describe("the verify's words", () => {
  it('an altered or a deleted pack blob found by the verify is VerifyFailed, not retryable', () => {
    for (const line of [ALTERED, DELETED]) {
      const verdict = classifyKopiaOutput(['Listing blobs...', line, 'encountered 1 errors'], 1);
      expect(verdict, line).toMatchObject({ class: 'VerifyFailed', retryable: false, opening: false });
    }
  });

  it('a verify that cannot reach the storage stays retryable', () => {
    expect(classifyKopiaOutput([UNREACHABLE], 1)).toMatchObject({ class: 'RepositoryUnavailable', retryable: true });
  });

  it('the same damage met by a restore keeps its own class', () => {
    const restore = 'error restoring: restore error: copy file: error creating file: unable to open snapshot file for /t/out/d/big: unable to open object: 4f4383: unexpected content error: invalid checksum at pe0f103c-s2d40 offset 66 length 300028/300028: decrypt: unable to decrypt content: cipher: message authentication failed';
    expect(classifyKopiaOutput([restore], 1).class).toBe('RepositoryCorrupt');
  });
});

describe('kopia snapshot verify --json', () => {
  it('reads what was read back and the errors, as kopia printed them', () => {
    const clean = '{"stats":{"processedObjectCount":3,"processedBytes":300006,"readFileCount":2,"readBytes":300006,"expectedTotalObjectCount":3,"expectedTotalFileCount":2,"expectedTotalBytes":300006},"errorCount":0}';
    expect(parseSnapshotVerify(clean)).toEqual({ stats: { readFileCount: 2, readBytes: 300006 }, errorCount: 0 });
    const damaged = `{"stats":{"processedObjectCount":3,"processedBytes":300006,"readFileCount":1,"readBytes":6,"expectedTotalObjectCount":3,"expectedTotalFileCount":2,"expectedTotalBytes":300006},"errorCount":1,"errorStrings":["error reading object 1bc9: unable to open object 1bc9"]}`;
    expect(parseSnapshotVerify(damaged)).toMatchObject({ stats: { readFileCount: 1, readBytes: 6 }, errorCount: 1 });
  });

  it('a result without its counts is refused naming the field', () => {
    expect(() => parseSnapshotVerify('{"stats":{"readFileCount":2},"errorCount":0}')).toThrow(KopiaOutputError);
    expect(() => parseSnapshotVerify('{"stats":{"readFileCount":2},"errorCount":0}')).toThrow(/kopia snapshot verify --json: stats\.readBytes/);
  });
});

describe('the summary line', () => {
  const base: RunSummary = { operation: 'backup', result: 'SUCCESS', exitCode: 0, warnings: [], notes: [], durationSeconds: 1, kopiaProcesses: 3 };
  it('one snapshot after a backup, every snapshot after maintenance; none without a verify', () => {
    expect(summaryLines({ ...base, verified: { scope: 'snapshot', files: 12, bytes: 3456, errors: 0 } })).toContain('SNAPSHOT_VERIFIED: 12 files, 3456 bytes, 0 errors');
    const maintenance: RunSummary = { ...base, operation: 'maintenance', maintenance: { status: 'SUCCESS' }, verified: { scope: 'repository', files: 40, bytes: 9, errors: 2 } };
    expect(summaryLines(maintenance)).toContain('SNAPSHOTS_VERIFIED: 40 files, 9 bytes, 2 errors');
    expect(summaryLines(base).some((l) => l.includes('VERIFIED'))).toBe(false);
  });
});

describe('KOPIA_VERIFY_PERCENT and KOPIA_MAINTENANCE_VERIFY_PERCENT', () => {
  const system = { username: 'u', hostname: 'h', homeDir: '/home/u', stdoutIsTTY: false };
  const backup = (value: string) => {
    const c = parseConfig({ DIRECTION: 'source', DATA_DIR: '/data', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r', KOPIA_VERIFY_PERCENT: value }, { system, readMounts: false });
    return c.operation === 'backup' ? c.backup.verifyPercent : undefined;
  };

  it('take 0 to 100 with a decimal fraction; unset is 0', () => {
    expect(['0', '100', '2.5', ' 7 ', '.5', '0.000001', '100.0'].map(backup)).toEqual([0, 100, 2.5, 7, 0.5, 0.000001, 100]);
    const c = parseConfig({ DIRECTION: 'maintenance', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r' }, { system, readMounts: false });
    expect(c.operation === 'maintenance' && c.maintenance.verifyPercent).toBe(0);
  });

  it('refuse anything else, naming the variable', () => {
    for (const value of ['101', '100.1', '-1', '1e2', 'inf', 'NaN', '50%', '0x10', '5.', 'ten']) {
      let error: unknown;
      try {
        backup(value);
      } catch (e) {
        error = e;
      }
      expect(error, value).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.source), value).toEqual(['KOPIA_VERIFY_PERCENT']);
    }
  });
});
