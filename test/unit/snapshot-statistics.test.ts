import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { excludedAny, planBackup } from '../../src/operations/backup.js';
import { parseCreatedSnapshot } from '../../src/kopia/models/snapshot-create.js';
import { comparedFigures, countDiffLine, previousSnapshot, snapshotFigures, snapshotRecord, uploadFacts } from '../../src/operations/snapshot-statistics.js';
import { emptyFacts } from '../support/facts.js';
import { SYSTEM } from '../support/fixtures.js';

describe('what the snapshot reports about exclusions', () => {
  it('asks kopia for the statistics, which carry the excluded counts', () => {
    const config = parseConfig(
      { DIRECTION: 'source', DATA_DIR: '/data', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r' },
      { system: SYSTEM, readMounts: false },
    );
    if (config.operation !== 'backup') throw new Error('expected a backup config');
    const snapshot = planBackup(config, emptyFacts()).steps.find((s) => s.id === 'snapshot');
    expect(snapshot?.kind === 'kopia' ? snapshot.command.args.slice(0, 5) : []).toEqual(['snapshot', 'create', '/data', '--json', '--json-verbose']);
  });

  it('counts the source only when kopia left files or directories out', () => {
    expect(excludedAny({})).toBe(false);
    expect(excludedAny({ stats: { excludedFileCount: 0, excludedDirCount: 0 } })).toBe(false);
    expect(excludedAny({ stats: { excludedFileCount: 2, excludedDirCount: 0 } })).toBe(true);
    expect(excludedAny({ stats: { excludedFileCount: 0, excludedDirCount: 1 } })).toBe(true);
  });
});

/** A manifest as kopia v0.22.3 prints it for `snapshot create --json --json-verbose` (a repeat backup). */
function kopiaManifest(stats?: Record<string, number>): Record<string, unknown> {
  return {
    id: '16f1011f6b4c639071afde6db2b3b0b5',
    source: { host: 'ns1', userName: 'app', path: '/data' },
    description: '',
    startTime: '2026-12-02T10:15:52.276245452Z',
    endTime: '2026-12-02T10:15:52.283065313Z',
    ...(stats ? { stats } : {}),
    rootEntry: {
      name: 'data',
      type: 'd',
      mode: '0755',
      mtime: '2026-12-02T10:15:51.858295785Z',
      obj: 'k5efc67007e4ba582ee7ddf27aa77970d',
      summ: { size: 383000, files: 20, symlinks: 0, dirs: 1, maxTime: '2026-12-02T10:15:51.858295785Z', numFailed: 0 },
    },
  };
}

const repeatStats = {
  totalSize: 383000,
  excludedTotalSize: 0,
  fileCount: 1,
  cachedFiles: 19,
  nonCachedFiles: 1,
  dirCount: 1,
  excludedFileCount: 0,
  excludedDirCount: 0,
  ignoredErrorCount: 0,
  errorCount: 0,
};

describe('new, changed and unchanged files', () => {
  const manifest = (stats: Record<string, number>) => parseCreatedSnapshot(JSON.stringify(kopiaManifest(stats)), '');

  it('a first snapshot of the source (kopia had no previous one): every file kopia read is new', () => {
    const first = manifest({ ...repeatStats, cachedFiles: 0, nonCachedFiles: 20 });
    expect(snapshotFigures(first, { uploadedBytes: 412313, previousSnapshots: 0 })).toEqual({ newFiles: 20, changedFiles: 0, unchangedFiles: 0, uploadedBytes: 412313 });
  });

  it('nothing read again: every file unchanged, whatever kopia compared with', () => {
    expect(snapshotFigures(manifest({ ...repeatStats, cachedFiles: 20, nonCachedFiles: 0 }), undefined)).toEqual({
      newFiles: 0,
      changedFiles: 0,
      unchangedFiles: 20,
      uploadedBytes: undefined,
    });
  });

  it('as many files read again as the source gained since the previous snapshot: all of them new, none changed', () => {
    // 19 files before, 20 now, 1 read again: it is the new one (had one changed, another would have gone).
    expect(snapshotFigures(manifest(repeatStats), { uploadedBytes: 9100, previousSnapshots: 1 }, 19)).toEqual({
      newFiles: 1,
      changedFiles: 0,
      unchangedFiles: 19,
      uploadedBytes: 9100,
    });
    // 20 before and 20 now: the file read again changed, or one was added and another removed.
    expect(snapshotFigures(manifest(repeatStats), { uploadedBytes: 9100, previousSnapshots: 1 }, 20)).toMatchObject({ newOrChangedFiles: 1 });
  });

  it('files read again after a previous snapshot: new or changed until a diff tells them apart', () => {
    expect(snapshotFigures(manifest(repeatStats), { uploadedBytes: 9100, previousSnapshots: 1 })).toEqual({ newOrChangedFiles: 1, unchangedFiles: 19, uploadedBytes: 9100 });
    const changes = { added: 0, changed: 0 };
    // kopia diff's own lines for one added and one changed file, and entries that are neither.
    for (const line of [
      '. modification times differ: 2026-12-02 10:15:51.858295785 +0000 UTC 2026-12-02 10:16:39.512721202 +0000 UTC',
      'added file ./g1 (4 bytes)',
      './f4 sizes differ: 10000 7000',
      './f4 modification times differ: 2026-12-02 10:15:51.802901194 +0000 UTC 2026-12-02 10:16:39.512721202 +0000 UTC',
      'changed ./f4 at 2026-12-02 10:16:39.512721202 +0000 UTC (size 10000 -> 7000)',
      'added directory ./photos',
      'removed file ./old.txt (12 bytes)',
    ]) {
      countDiffLine(line, changes);
    }
    expect(changes).toEqual({ added: 1, changed: 1 });
    expect(comparedFigures(20, changes)).toEqual({ newFiles: 1, changedFiles: 1, unchangedFiles: 18, newOrChangedFiles: undefined });
  });
});

describe("the bytes a snapshot stored, from kopia's debug log", () => {
  const logLines = [
    '2026-12-02T10:15:52.276227Z DEBUG uploader uploading\t{"source":"app@ns1:/data","previousManifests":1,"parallel":2}',
    '2026-12-02T10:15:52.278972Z DEBUG kopia/repo [STORAGE] PutBlob\t{"blobID":"s5cb3d71b","length":186,"error":null,"duration":"1.86365ms"}',
    '2026-12-02T10:15:52.283037Z DEBUG uploader snapshotted directory\t{"path":".","dur":"6.732251ms","size":200000,"files":20,"dirs":1,"errors":0}',
    '2026-12-02T10:15:52.291803Z DEBUG kopia/repo [STORAGE] PutBlob\t{"blobID":"p41ea03b5","length":8394,"error":null,"duration":"7.112368ms"}',
    '2026-12-02T10:15:52.291900Z DEBUG kopia/repo [STORAGE] PutBlob\t{"blobID":"p41ea03b6","length":5000,"error":"connection reset","duration":"7.112368ms"}',
    '2026-12-02T10:15:52.292716Z DEBUG kopia/repo [STORAGE] PutBlob\t{"blobID":"qd08711654","length":4339,"error":null,"duration":"528.939µs"}',
    '2026-12-02T10:15:52.293115Z DEBUG kopia/repo [STORAGE] PutBlob\t{"blobID":"xn0_fad4b99","length":923,"error":null,"duration":"167.55µs"}',
    '2026-12-02T10:15:52.299327Z DEBUG maintenance due for full maintenance cycle',
    '2026-12-02T10:15:52.299774Z DEBUG kopia/repo [STORAGE] PutBlob\t{"blobID":"kopia.maintenance","length":152,"error":null,"duration":"154.551µs"}',
  ];

  function logDir(lines: string[]): string {
    const dir = mkdtempSync(join(tmpdir(), 'km-upload-log-'));
    mkdirSync(join(dir, 'cli-logs'));
    writeFileSync(join(dir, 'cli-logs', 'kopia-20261202-101552-12606-snapshot-create.0.log'), `${lines.join('\n')}\n`);
    writeFileSync(join(dir, 'cli-logs', 'kopia-20261202-101550-12443-repository-connect.0.log'), logLines[1]!);
    return dir;
  }

  it("adds up the blobs written before kopia's own maintenance, leaving out failed writes and other commands", () => {
    expect(uploadFacts(logDir(logLines))).toEqual({ uploadedBytes: 186 + 8394 + 4339 + 923, previousSnapshots: 1 });
  });

  it('knows nothing when the log has no debug lines (a file log level above debug)', () => {
    expect(uploadFacts(logDir(['2026-12-02T10:15:52.277134Z INFO kopia/cli Snapshotting app@ns1:/data ...']))).toBeUndefined();
    expect(uploadFacts(join(tmpdir(), 'km-no-such-log-dir'))).toBeUndefined();
  });
});

describe('the record of the last snapshot this cache took', () => {
  it('round-trips the root and the file count, and refuses a root that is not an object ID', () => {
    const manifest = parseCreatedSnapshot(JSON.stringify(kopiaManifest(repeatStats)), '');
    expect(previousSnapshot(snapshotRecord(manifest))).toEqual({ root: 'k5efc67007e4ba582ee7ddf27aa77970d', files: 20 });
    expect(previousSnapshot(undefined)).toBeUndefined();
    // Records of other settings (or a damaged state file) are not taken for a snapshot, nor passed to kopia as a flag.
    expect(previousSnapshot({ digest: '--config-file=/x', targets: [], fields: { files: '20' } })).toBeUndefined();
    expect(previousSnapshot({ digest: 'k5efc67007e4ba582ee7ddf27aa77970d', targets: [], fields: {} })).toBeUndefined();
  });

  it('a plan after a backup diffs with that snapshot only when needed; a cache without one plans no diff', () => {
    const config = parseConfig(
      { DIRECTION: 'source', DATA_DIR: '/data', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r' },
      { system: SYSTEM, readMounts: false },
    );
    if (config.operation !== 'backup') throw new Error('expected a backup config');
    const compare = (facts: ReturnType<typeof emptyFacts>) => planBackup(config, facts).steps.find((s) => s.id === 'compare');
    expect(compare(emptyFacts())).toBeUndefined();
    const record = { digest: 'k5efc67007e4ba582ee7ddf27aa77970d', targets: [], fields: { files: '20' } };
    const step = compare(emptyFacts({ applied: { snapshot: record } }));
    expect(step?.kind === 'kopia' ? step.command.args.slice(0, 2) : []).toEqual(['diff', 'k5efc67007e4ba582ee7ddf27aa77970d']);
    expect(step?.when).toMatchObject({ on: 'flag' });
  });
});
