import { describe, expect, it } from 'vitest';
import { parseKopiaBytes, parseProgressLine, progressCounts } from '../../src/kopia/progress-line.js';

// Lines kopia 0.22.3 printed on a terminal (script -qfec), each without the carriage return that
// started it, trailing padding kept where kopia wrote it.
const SNAPSHOT_ESTIMATING = ' / 1 hashing, 3424 hashed (9 MB), 0 cached (0 B), uploaded 186 B, estimating...';
const SNAPSHOT_FIRST = ' | 1 hashing, 0 hashed (2.6 KB), 0 cached (0 B), uploaded 0 B, estimating...';
const SNAPSHOT_ESTIMATED = ' | 0 hashing, 14170 hashed (37.1 MB), 0 cached (0 B), uploaded 21.2 MB, estimated 52.4 MB (70.8%) 0s left';
const SNAPSHOT_LAST = ' * 0 hashing, 20000 hashed (52.4 MB), 0 cached (0 B), uploaded 42.5 MB, estimated 52.4 MB (100.0%) 0s left';
const SNAPSHOT_CACHED = ' * 0 hashing, 0 hashed (0 B), 20000 cached (52.4 MB), uploaded 0 B, estimating...';
const SNAPSHOT_IGNORED = ' * 0 hashing, 3001 hashed (15 MB), 0 cached (0 B), uploaded 188 B (1 errors ignored), estimating...  ';
const RESTORE_EARLY = 'Processed 734 (1.7 MB) of 20100 (52.4 MB).';
const RESTORE_ESTIMATED = 'Processed 6966 (18 MB) of 20100 (52.4 MB) 8.6 MB/s (34.3%) remaining 3s.  ';
const RESTORE_LAST = 'Processed 20101 (52.4 MB) of 20100 (52.4 MB) 7.1 MB/s (100.0%) remaining 0s.';
const RESTORE_SKIPPED = 'Processed 1809 (3.4 MB) of 3000 (15 MB), skipped 1126 (5.6 MB).';

describe('parseProgressLine on kopia 0.22.3 snapshot create lines', () => {
  it('reads the counts of a line still estimating, with no estimate', () => {
    expect(parseProgressLine(SNAPSHOT_ESTIMATING)).toEqual({
      kind: 'snapshot',
      hashingFiles: 1,
      hashedFiles: 3424,
      hashedBytes: 9_000_000,
      cachedFiles: 0,
      cachedBytes: 0,
      uploadedBytes: 186,
      fatalErrors: 0,
      ignoredErrors: 0,
      finished: false,
    });
    expect(parseProgressLine(SNAPSHOT_FIRST)).toMatchObject({ hashedFiles: 0, hashedBytes: 2600 });
  });

  it("reads kopia's estimate: total, percentage and time left", () => {
    expect(parseProgressLine(SNAPSHOT_ESTIMATED)).toMatchObject({
      hashedFiles: 14170,
      hashedBytes: 37_100_000,
      uploadedBytes: 21_200_000,
      finished: false,
      estimate: { totalBytes: 52_400_000, percent: 70.8, remainingSeconds: 0 },
    });
  });

  it('knows the last update by its "*" and counts cached files as done', () => {
    expect(parseProgressLine(SNAPSHOT_LAST)).toMatchObject({ finished: true, estimate: { percent: 100 } });
    const cached = parseProgressLine(SNAPSHOT_CACHED);
    expect(cached).toMatchObject({ finished: true, cachedFiles: 20000, cachedBytes: 52_400_000 });
    expect(progressCounts(cached!)).toEqual({ operation: 'backup', items: 20000, bytes: 52_400_000, totalBytes: undefined, estimate: undefined });
  });

  it('reads the ignored errors kopia counts, despite the padding after the line', () => {
    expect(parseProgressLine(SNAPSHOT_IGNORED)).toMatchObject({ hashedFiles: 3001, ignoredErrors: 1, fatalErrors: 0, finished: true });
  });
});

describe('parseProgressLine on kopia 0.22.3 snapshot restore lines', () => {
  it('reads what is done and what is queued before kopia has an estimate', () => {
    expect(parseProgressLine(RESTORE_EARLY)).toEqual({
      kind: 'restore',
      doneEntries: 734,
      restoredBytes: 1_700_000,
      queuedEntries: 20100,
      queuedBytes: 52_400_000,
      skippedEntries: 0,
      skippedBytes: 0,
      ignoredErrors: 0,
    });
  });

  it("reads kopia's rate, percentage and time left", () => {
    expect(parseProgressLine(RESTORE_ESTIMATED)).toMatchObject({
      doneEntries: 6966,
      estimate: { bytesPerSecond: 8_600_000, percent: 34.3, remainingSeconds: 3 },
    });
    expect(progressCounts(parseProgressLine(RESTORE_LAST)!)).toEqual({
      operation: 'restore',
      items: 20101,
      bytes: 52_400_000,
      totalBytes: 52_400_000,
      // kopia's 20,101 of 20,100: the root folder is done, never queued.
      totalItems: 20101,
      estimate: { percent: 100, remainingSeconds: 0 },
    });
  });

  it('reads skipped entries', () => {
    expect(parseProgressLine(RESTORE_SKIPPED)).toMatchObject({ doneEntries: 1809, restoredBytes: 3_400_000, skippedEntries: 1126, skippedBytes: 5_600_000 });
  });

  it('reads a restore with ignored errors and a rate above a minute left (kopia format, line built from it)', () => {
    const line = 'Processed 10 (1 GB) of 20 (2.5 GB), skipped 2 (3 KB), ignored 4 errors 12.5 MB/s (40.0%) remaining 1m30s.';
    expect(parseProgressLine(line)).toMatchObject({
      ignoredErrors: 4,
      skippedEntries: 2,
      skippedBytes: 3000,
      estimate: { bytesPerSecond: 12_500_000, percent: 40, remainingSeconds: 90 },
    });
  });
});

describe('parseProgressLine on anything else', () => {
  it('is undefined for kopia lines that are not progress', () => {
    for (const line of [
      'Snapshotting root@vm:/tmp/kp/data ...',
      'Created snapshot with root k5bbbf959dede94f3e63a7515233f6cb0 and ID e795424a6d9df4d30512f197331b3275 in 1s',
      'Restored 20000 files, 101 directories and 0 symbolic links (52.4 MB).',
      '  Verified 10 contents, 0 errors, estimating...',
      ' | 1 hashing, 0 hashed (2.6 KB), 0 cached (0 B), uploaded 0 B',
      'Processed 734 (1.7 MB) of 20100 (52.4 MB)',
      '',
    ]) {
      expect(parseProgressLine(line), line).toBeUndefined();
    }
  });

  it('refuses a time left that is not a duration rather than guessing', () => {
    expect(parseProgressLine(' | 0 hashing, 1 hashed (1 B), 0 cached (0 B), uploaded 0 B, estimated 2 B (50.0%) soon left')).toBeUndefined();
  });
});

describe('parseKopiaBytes', () => {
  it("reads kopia's base-10 and base-2 sizes", () => {
    expect(parseKopiaBytes('0 B')).toBe(0);
    expect(parseKopiaBytes('186 B')).toBe(186);
    expect(parseKopiaBytes('2.6 KB')).toBe(2600);
    expect(parseKopiaBytes('52.4 MB')).toBe(52_400_000);
    expect(parseKopiaBytes('1.5 GiB')).toBe(1_610_612_736);
    expect(parseKopiaBytes('3 TB')).toBe(3e12);
    expect(parseKopiaBytes('MB')).toBeUndefined();
    expect(parseKopiaBytes('12 parsecs')).toBeUndefined();
  });
});
