import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProgressLine, progressCounts } from '../../src/kopia/progress-line.js';
import { Output } from '../../src/report/output.js';
import { describeFinal, describeProgress, formatBytes, progressReport, type ProgressCadence } from '../../src/report/progress.js';

// Real kopia 0.22.3 progress lines of one backup, in the order kopia printed them.
const BACKUP = [
  ' | 1 hashing, 0 hashed (2.6 KB), 0 cached (0 B), uploaded 0 B, estimating...',
  ' / 1 hashing, 3424 hashed (9 MB), 0 cached (0 B), uploaded 186 B, estimating...',
  ' - 1 hashing, 7236 hashed (19 MB), 0 cached (0 B), uploaded 186 B, estimating...',
  ' \\ 1 hashing, 10448 hashed (27.4 MB), 0 cached (0 B), uploaded 21.2 MB, estimating...',
  ' | 0 hashing, 14170 hashed (37.1 MB), 0 cached (0 B), uploaded 21.2 MB, estimated 52.4 MB (70.8%) 0s left',
  ' / 0 hashing, 15834 hashed (41.5 MB), 0 cached (0 B), uploaded 42.5 MB, estimated 52.4 MB (79.2%) 0s left',
  ' - 1 hashing, 19299 hashed (50.6 MB), 0 cached (0 B), uploaded 42.5 MB, estimated 52.4 MB (96.5%) 0s left',
];

type Record = { msg: string; progress?: string; percent?: number };

/** Runs `feed` against a log-only output (a file, never a terminal) and returns what it logged. */
function logged(feed: (output: Output) => void, secrets: string[] = []): Record[] {
  const dir = mkdtempSync(join(tmpdir(), 'km-progress-report-'));
  const file = join(dir, 'log.jsonl');
  const fd = openSync(file, 'w');
  feed(new Output('json', secrets, fd));
  closeSync(fd);
  const text = readFileSync(file, 'utf8');
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l) as Record);
}

function run(cadence: ProgressCadence, lines: string[]): Record[] {
  return logged((output) => {
    const report = progressReport(output, cadence);
    for (const line of lines) report.update(line);
    report.end();
  });
}

describe('progress in the log (no terminal)', () => {
  it('is never drawn in place: a file is not interactive, even in the pretty format', () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-progress-pretty-'));
    const fd = openSync(join(dir, 'out'), 'w');
    expect(new Output('pretty', [], fd).interactive).toBe(false);
    expect(new Output('json', [], fd).interactive).toBe(false);
    closeSync(fd);
  });

  it("logs kopia's line and, once kopia has an estimate, the percentage as a field and in the message", () => {
    const records = run({ intervalMs: 0 }, BACKUP);
    expect(records.map((r) => r.progress)).toEqual(BACKUP.map((l) => l.trim()));
    expect(records[1]?.percent).toBeUndefined();
    expect(records[1]?.msg).toMatch(/^backup: 3,424 files, 9 MB, .*estimating the total$/);
    expect(records[4]?.percent).toBe(70.8);
    expect(records[4]?.msg).toMatch(/^backup 70\.8%: 14,170 files, 37\.1\/52\.4 MB, .*0s left$/);
  });

  it('holds updates back to one per interval, and prints the newest held one at the end', () => {
    const records = run({ intervalMs: 60_000 }, BACKUP);
    expect(records.map((r) => r.progress)).toEqual([BACKUP[0]!.trim(), BACKUP[6]!.trim()]);
  });

  it('with a file count, logs when that many more files are done, whatever the time', () => {
    const records = run({ intervalMs: 0, everyFiles: 5000 }, BACKUP);
    // 3,424 is not yet 5,000 past 0; 7,236 is; 10,448 is not 5,000 past 7,236; 14,170 is; then the end.
    expect(records.map((r) => r.progress)).toEqual([BACKUP[2], BACKUP[4], BACKUP[6]].map((l) => l!.trim()));
  });

  it("keeps the time interval for progress lines that are not a backup's or a restore's", () => {
    const records = run({ intervalMs: 0, everyFiles: 5000 }, ['  Verified 10 contents, 0 errors, estimating...', '  Verified 20 contents, 0 errors, estimating...']);
    expect(records.map((r) => [r.msg, r.progress])).toEqual([
      ['progress', 'Verified 10 contents, 0 errors, estimating...'],
      ['progress', 'Verified 20 contents, 0 errors, estimating...'],
    ]);
  });

  it("leaves kopia's last line to the log as kopia's words (takeFinal is the display's)", () => {
    const taken = logged((output) => {
      expect(progressReport(output, { intervalMs: 0 }).takeFinal(BACKUP[6]!)).toBe(false);
    });
    expect(taken).toEqual([]);
  });

  it('redacts a secret in a progress line that reaches the log', () => {
    const secretRecords = logged((output) => {
      const report = progressReport(output, { intervalMs: 0 });
      report.update('copying s3cr3t-value-here 10%');
      report.end();
    }, ['s3cr3t-value-here']);
    expect(JSON.stringify(secretRecords)).not.toContain('s3cr3t-value-here');
    expect(secretRecords[0]?.progress).toContain('copying');
  });
});

describe('a display redrawn in place, through Output', () => {
  it('is cleared before any other line and drawn again below it; once closed, lines print plain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-live-'));
    const file = join(dir, 'out');
    const fd = openSync(file, 'w');
    const output = new Output('pretty', [], fd);
    let frame = 0;
    const stream = output.openLive(() => stream.write(`frame ${++frame}`));
    stream.write('frame 0');
    output.line('a log line');
    stream.close();
    output.line('after');
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe('frame 0\r\x1b[2Ka log line\nframe 1\r\x1b[2Kafter\n');
  });
});

describe('progress wording', () => {
  const counts = (line: string) => progressCounts(parseProgressLine(line)!);

  it('sizes read like kopia: base 10, one decimal below 100', () => {
    expect([0, 999, 1000, 2600, 12_600_000, 652_400, 1_200_000_000].map(formatBytes)).toEqual(['0 B', '999 B', '1 KB', '2.6 KB', '12.6 MB', '652 KB', '1.2 GB']);
  });

  it('a restore names entries done of those queued, bytes, rate and time left', () => {
    const c = counts('Processed 6966 (18 MB) of 20100 (52.4 MB) 8.6 MB/s (34.3%) remaining 1m5s.');
    expect(describeProgress(c, 2)).toBe('restore 34.3%: 6,966/20,100 entries, 18/52.4 MB, 9 MB/s, 1m5s left');
    expect(describeFinal(c, 125)).toBe('restore: 6,966/20,100 entries, 18/52.4 MB (34.3%), 144 KB/s, in 2m5s');
  });

  it('gives no rate over less than a second, and mixed units in full', () => {
    const c = counts(' | 1 hashing, 0 hashed (650 KB), 0 cached (0 B), uploaded 0 B, estimated 1.2 GB (0.1%) 3h0m0s left');
    expect(describeProgress(c, 0.5)).toBe('backup 0.1%: 0 files, 650 KB/1.2 GB, 3h0m left');
  });
});
