import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError, OperationError } from '../../src/errors.js';
import type { SnapshotManifest } from '../../src/kopia/models/snapshot.js';
import { inScope, listedSnapshot, snapshotJson, snapshotTable } from '../../src/operations/snapshots.js';
import { sourceSummaries, unrestorableReason } from '../../src/operations/select.js';
import { SYSTEM } from '../support/fixtures.js';
import { readSnapshotList } from '../support/kopia-output.js';

/** An element as kopia 0.22.3 prints it in `snapshot list --json` (recorded, with fields the program drops). */
const RECORDED = {
  id: '2e7c1b3bde6ee6a2ec8dbb3cdb2a7f1a',
  source: { host: 'h', userName: 'a', path: '/tmp/sx/big' },
  description: '',
  startTime: '2026-12-02T10:17:06.112569821Z',
  endTime: '2026-12-02T10:17:06.114357608Z',
  stats: { totalSize: 0, excludedTotalSize: 0, fileCount: 0, cachedFiles: 0, nonCachedFiles: 1, dirCount: 1, excludedFileCount: 0, excludedDirCount: 0, ignoredErrorCount: 0, errorCount: 0 },
  incomplete: 'limit reached',
  rootEntry: { name: 'big', type: 'd', mode: '0755', mtime: '2026-12-02T10:17:05.888387223Z', obj: 'k597d78532efebbdc4b14b7edd9826060', summ: { size: 0, files: 0, symlinks: 0, dirs: 1, maxTime: '2026-12-02T10:17:05.888387223Z', numFailed: 0 } },
  retentionReason: [],
};

describe("kopia's snapshot list, read through its schema", () => {
  it('keeps the fields the program uses and drops the rest', () => {
    const [snapshot] = readSnapshotList(JSON.stringify([RECORDED], null, 1));
    expect(snapshot).toEqual({
      id: RECORDED.id,
      source: RECORDED.source,
      startTime: RECORDED.startTime,
      endTime: RECORDED.endTime,
      incomplete: 'limit reached',
      stats: { totalSize: 0, fileCount: 0, dirCount: 1, errorCount: 0 },
      rootEntry: { obj: RECORDED.rootEntry.obj, summ: { size: 0, files: 0, dirs: 1 } },
    });
  });

  it('an element of the wrong shape is an error naming the command, the element and the field', () => {
    const bad = [RECORDED, { ...RECORDED, source: { ...RECORDED.source, userName: 7 } }];
    expect(() => readSnapshotList(JSON.stringify(bad))).toThrow(OperationError);
    expect(() => readSnapshotList(JSON.stringify(bad))).toThrow(/could not read kopia snapshot list --json: snapshot 2 source\.userName: must be text/);
    expect(() => readSnapshotList(JSON.stringify([{ ...RECORDED, startTime: 'yesterday' }]))).toThrow(/kopia snapshot list --json: snapshot 1 startTime: must be a timestamp/);
  });

  it('a list cut short is an error, not fewer snapshots', () => {
    expect(() => readSnapshotList(JSON.stringify([RECORDED]).slice(0, -1))).toThrow(/could not read kopia snapshot list --json: the list: .*ended before its closing bracket/);
  });
});

describe('what a listing prints', () => {
  const complete: SnapshotManifest = { id: 'c1', source: { host: 'h', userName: 'a', path: '/p' }, startTime: '2026-01-02T03:04:05.9Z', rootEntry: { obj: 'kc1', summ: { size: 3 * 1024 * 1024, files: 12, dirs: 2 } } };
  const unread: SnapshotManifest = { ...complete, id: 'c2', stats: { errorCount: 2 } };

  it('JSON in the documented shape, null where kopia gave nothing', () => {
    expect(listedSnapshot({ id: 'x', source: { host: 'h', userName: 'a', path: '/p' }, startTime: '2026-01-02T03:04:05Z' })).toEqual({
      id: 'x', source: 'a@h:/p', userName: 'a', hostName: 'h', path: '/p', startTime: '2026-01-02T03:04:05Z', endTime: null,
      size: null, files: null, dirs: null, errors: 0, incomplete: null, rootObject: null,
    });
  });

  it('JSON escapes C1 control characters, so the document survives the output escaping', () => {
    const odd = listedSnapshot({ ...complete, source: { ...complete.source, path: '/p\u0085q' } });
    const text = snapshotJson([odd]).join('\n');
    expect(text).toContain('/p\\u0085q');
    expect((JSON.parse(text) as { path: string }[])[0]!.path).toBe('/p\u0085q');
  });

  it('a table row says whether a snapshot is complete, incomplete or missing entries', () => {
    const partial = listedSnapshot({ ...complete, id: 'c3', incomplete: 'checkpoint' });
    const [header, ...rows] = snapshotTable([listedSnapshot(complete), listedSnapshot(unread), partial]);
    expect(header).toMatch(/^SOURCE\s+STARTED \(UTC\)\s+SIZE\s+FILES\s+ID\s+STATE$/);
    expect(rows[0]).toMatch(/^a@h:\/p\s+2026-01-02 03:04:05\s+3\.0 MiB\s+12\s+c1\s+complete$/);
    expect(rows[1]).toMatch(/2 entries unread$/);
    expect(rows[2]).toMatch(/incomplete \(checkpoint\)$/);
  });

  it('the identity scope takes every path unless one is given; --all takes everyone', () => {
    const other = { ...complete, source: { ...complete.source, path: '/q' } };
    expect(inScope({ all: false, userName: 'a', host: 'h' }, other)).toBe(true);
    expect(inScope({ all: false, userName: 'a', host: 'h', path: '/p' }, other)).toBe(false);
    expect(inScope({ all: false, userName: 'b', host: 'h' }, complete)).toBe(false);
    expect(inScope({ all: true, userName: 'b', host: 'h', path: '/x' }, complete)).toBe(true);
  });

  it('sources are summed up with their count and newest snapshot, most recent source first', () => {
    const older = { ...complete, id: 'o', startTime: '2025-01-01T00:00:00Z' };
    const elsewhere = { ...complete, id: 'e', source: { ...complete.source, host: 'g' }, startTime: '2026-05-01T00:00:00Z' };
    const summaries = sourceSummaries([older, complete, elsewhere]);
    expect(summaries.map((s) => [s.source.host, s.count, s.newest.id])).toEqual([['g', 1, 'e'], ['h', 2, 'c1']]);
  });

  it('incomplete and unread snapshots are never chosen by time, and say why', () => {
    expect(unrestorableReason(complete)).toBeUndefined();
    expect(unrestorableReason({ ...complete, incomplete: 'canceled' })).toMatch(/^incomplete \(canceled\)/);
    expect(unrestorableReason(unread)).toBe('missing 2 entries its backup could not read');
  });
});

describe('the restore variables that name a snapshot', () => {
  const base = { DIRECTION: 'destination', DATA_DIR: '/restore/data', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r' };
  const parse = (env: Record<string, string>) => parseConfig({ ...base, ...env }, { system: SYSTEM, readMounts: false });
  const issues = (env: Record<string, string>) => {
    try {
      parse(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.issues;
      throw error;
    }
    return [];
  };

  it('KOPIA_RESTORE_SNAPSHOT_ID and KOPIA_RESTORE_ANY_SOURCE reach the restore config', () => {
    const config = parse({ KOPIA_RESTORE_SNAPSHOT_ID: ' k597d78532efebbdc4b14b7edd9826060 ', KOPIA_RESTORE_ANY_SOURCE: 'true' });
    if (config.operation !== 'restore') throw new Error('expected a restore config');
    expect(config.restore).toMatchObject({ snapshotId: 'k597d78532efebbdc4b14b7edd9826060', anySource: true });
    expect(config.sourcePath).toBe('/data');
  });

  it('an ID that could be read as a flag or path is refused, naming the variable', () => {
    for (const id of ['-rf', '../x', 'a b', 'k1/sub']) {
      expect(issues({ KOPIA_RESTORE_SNAPSHOT_ID: id }).map((i) => i.source)).toEqual(['KOPIA_RESTORE_SNAPSHOT_ID']);
    }
  });

  it('a named snapshot with a rule that selects by time is an issue naming both, one per rule', () => {
    const found = issues({ KOPIA_RESTORE_SNAPSHOT_ID: 'abc', KOPIA_PREVIOUS: '0', KOPIA_SHALLOW: '2' });
    expect(found.map((i) => i.message)).toEqual([
      '--snapshot (KOPIA_RESTORE_SNAPSHOT_ID) cannot be combined with --previous (KOPIA_PREVIOUS): one names the snapshot, the other selects one by time; give one of them',
      '--snapshot (KOPIA_RESTORE_SNAPSHOT_ID) cannot be combined with --shallow (KOPIA_SHALLOW): one names the snapshot, the other selects one by time; give one of them',
    ]);
  });

  it('KOPIA_RESTORE_ANY_SOURCE without a named snapshot is an issue; false is no issue', () => {
    expect(issues({ KOPIA_RESTORE_ANY_SOURCE: 'true' }).map((i) => i.source)).toEqual(['KOPIA_RESTORE_ANY_SOURCE']);
    expect(issues({ KOPIA_RESTORE_ANY_SOURCE: 'false' })).toEqual([]);
  });
});
