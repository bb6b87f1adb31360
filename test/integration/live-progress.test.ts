import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARGS_SEPARATOR } from '../support/fixtures.js';
import { runMover, scenario, startMover, waitFor, type Env, type MoverOptions, type MoverResult } from '../support/mover.js';
import { contents, differences } from '../support/trees.js';

/**
 * The program on a pseudo-terminal, as a person runs it: `script` (util-linux) gives it a terminal
 * for stdout and copies everything it draws, escape sequences and all.
 */
const ON_A_TERMINAL: MoverOptions = { wrap: ['bash', '-c', 'exec script -qfec "${*@Q}" /dev/null', 'bash'] };

/** 50,000 files of 1 KiB of random bytes (51.2 MB): kopia hashes them for seconds, updating about three times a second. */
function manyFiles(root: string): void {
  for (let d = 0; d < 100; d++) {
    const dir = join(root, `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 500; f++) writeFileSync(join(dir, `f${f}.bin`), randomBytes(1024));
  }
}

/** 500 files of 100 KiB of random bytes (51.2 MB): few files, so a restore's time is the bytes'. */
function fewFiles(root: string): void {
  mkdirSync(root, { recursive: true });
  for (let f = 0; f < 500; f++) writeFileSync(join(root, `f${f}.bin`), randomBytes(102_400));
}

// kopia throttles downloads with a bucket holding six seconds' worth: 51.2 MB at 4 MB/s takes
// about seven seconds, so the restore runs long enough for kopia's estimate.
const SLOW_DOWNLOAD = { KOPIA_ADDITIONAL_ARGS: ['--download-speed=4MB'].join(ARGS_SEPARATOR) };

/** The live line as drawn each time: the text cli-progress writes between "column 1" and "erase to the end". */
function frames(stdout: string, operation: string): string[] {
  return [...stdout.matchAll(/\x1b\[1G([^\x1b\r\n]*)\x1b\[0K/g)].map((m) => m[1]!).filter((f) => f.startsWith(operation));
}

/** The program's own process under `script`: the first descendant running bin/kopia-mover.js. */
function programPid(scriptPid: number): number {
  const children = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  const queue = children(scriptPid);
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kopia-mover.js')) return pid;
    queue.push(...children(pid));
  }
  throw new Error(`no kopia-mover process under script (${scriptPid})`);
}

function numberBefore(frame: string, word: string): number {
  const m = new RegExp(`([\\d,]+)(?:/[\\d,]+)? ${word}`).exec(frame);
  return m ? Number(m[1]!.replace(/,/g, '')) : Number.NaN;
}

/** Several updates, each count at least the one before, with several different counts. */
function expectGrowing(counts: number[]): void {
  expect(counts.every((c) => Number.isFinite(c))).toBe(true);
  for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
  expect(new Set(counts).size).toBeGreaterThanOrEqual(3);
}

function expectNoLiveDisplay(result: MoverResult): void {
  expect(result.stdout).not.toContain('\r');
  expect(result.stdout).not.toContain('\x1b');
}

/** The progress log records: kopia's line and, once kopia has an estimate, its percentage. */
function progressRecords(result: MoverResult): { time: number; percent?: number; msg: string }[] {
  return result.records
    .filter((r) => typeof r['progress'] === 'string')
    .map((r) => ({ time: Date.parse(String(r['time'])), percent: typeof r['percent'] === 'number' ? r['percent'] : undefined, msg: String(r['msg']) }));
}

function expectIntervalLines(result: MoverResult, operation: string): void {
  const records = progressRecords(result);
  expect(records.length, result.stdout).toBeGreaterThanOrEqual(2);
  expect(records.some((r) => r.percent !== undefined && r.msg.startsWith(`${operation} ${r.percent.toFixed(1)}%: `)), result.stdout).toBe(true);
  // One line per second at most; the last is the update kopia ended on, printed when it ended.
  for (let i = 1; i < records.length - 1; i++) expect(records[i]!.time - records[i - 1]!.time).toBeGreaterThanOrEqual(990);
}

describe('live progress on a terminal, and log lines without one', () => {
  it('a 50 MB backup on a terminal redraws files, bytes, rate and percentage in place, then leaves one final line', async () => {
    const s = scenario('live-backup');
    manyFiles(s.data);
    const env: Env = { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_LOG_FORMAT: undefined };
    const result = await runMover(['backup', '--parallel', '1'], env, ON_A_TERMINAL);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.stdout).toContain('OPERATION_RESULT: SUCCESS');

    const drawn = frames(result.stdout, 'backup');
    expect(drawn.length, result.stdout).toBeGreaterThanOrEqual(3);
    expectGrowing(drawn.map((f) => numberBefore(f, 'files')));
    expect(drawn.every((f) => / files, [\d.]+(?:\/[\d.]+)? [KM]?B/.test(f)), drawn.join('\n')).toBe(true);
    // Once kopia has its estimate: the percentage, a bar, the bytes of the total, the rate and the time left.
    expect(drawn.some((f) => /^backup +\d+\.\d% [\u2588\u2591]{10} [\d,]+ files, [\d.]+\/51\.2 MB, [\d.]+ [KM]B\/s, \S+ left$/.test(f)), drawn.join('\n')).toBe(true);

    // The display is cleared and the final line takes its place; nothing is drawn after it.
    const final = /\x1b\[2K\d\d:\d\d:\d\d INFO {2}backup: 50,000 files, 51\.2\/51\.2 MB \(100\.0%\), [\d.]+ [KM]B\/s, in \d+s\r\n/.exec(result.stdout);
    expect(final, result.stdout).not.toBeNull();
    expect(result.stdout.slice(final!.index + final![0].length)).not.toContain('\x1b[1G');
    // Never both: kopia's own progress text is not logged besides the display.
    expect(result.stdout).not.toContain('hashed (');
    expect(result.stdout).not.toContain('progress=');
  });

  it('a 50 MB restore on a terminal redraws entries, bytes and percentage in place, then leaves one final line', async () => {
    const s = scenario('live-restore');
    fewFiles(s.data);
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(backup.exitCode, backup.stdout).toBe(0);

    const target = join(s.root, 'restored');
    const env: Env = { ...s.env, ...SLOW_DOWNLOAD, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data, KOPIA_MOVER_LOG_FORMAT: undefined };
    const result = await runMover(['restore'], env, ON_A_TERMINAL);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(differences(contents(s.data), contents(target))).toEqual([]);

    const drawn = frames(result.stdout, 'restore');
    expect(drawn.length, result.stdout).toBeGreaterThanOrEqual(3);
    expectGrowing(drawn.map((f) => numberBefore(f, 'entries')));
    expect(drawn.filter((f) => /^restore +\d+\.\d% [\u2588\u2591]{10} [\d,]+\/[\d,]+ entries, [\d.]+\/51\.2 MB, [\d.]+ [KM]B\/s, \S+ left$/.test(f)).length, drawn.join('\n')).toBeGreaterThanOrEqual(2);

    const final = /\x1b\[2K\d\d:\d\d:\d\d INFO {2}restore: 501\/501 entries, 51\.2\/51\.2 MB \(100\.0%\), [\d.]+ [KM]B\/s, in \d+s\r\n/.exec(result.stdout);
    expect(final, result.stdout).not.toBeNull();
    expect(result.stdout.slice(final!.index + final![0].length)).not.toContain('\x1b[1G');
    expect(result.stdout).not.toContain('Processed ');
  });

  it('the same backup and restore without a terminal print no display, but one log line per interval with the percentage', async () => {
    const s = scenario('logged-progress');
    manyFiles(s.data);
    const interval = { KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS: '1' };
    const backup = await runMover(['backup', '--parallel', '1'], { ...s.env, ...interval, DATA_DIR: s.data });
    expect(backup.exitCode, backup.stdout).toBe(0);
    expectNoLiveDisplay(backup);
    expectIntervalLines(backup, 'backup');

    const few = join(s.root, 'few');
    fewFiles(few);
    const second = await runMover(['backup'], { ...s.env, DATA_DIR: few });
    expect(second.exitCode, second.stdout).toBe(0);
    const target = join(s.root, 'restored');
    const restore = await runMover(['restore'], { ...s.env, ...interval, ...SLOW_DOWNLOAD, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: few });
    expect(restore.exitCode, restore.stdout).toBe(0);
    expectNoLiveDisplay(restore);
    expectIntervalLines(restore, 'restore');
    expect(differences(contents(few), contents(target))).toEqual([]);
  });

  it('the pretty format without a terminal is still log lines, not a display', async () => {
    const s = scenario('pretty-pipe');
    fewFiles(s.data);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_LOG_FORMAT: 'pretty', KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS: '0' });
    expect(result.exitCode, result.stdout).toBe(0);
    expectNoLiveDisplay(result);
    expect(result.stdout).toMatch(/INFO {2}backup(?: [\d.]+%)?: [\d,]+ files, .* progress=/);
  });

  it('a backup stopped on a terminal clears its display, leaves the last update as its final line, and ends', async () => {
    const s = scenario('live-stop');
    mkdirSync(s.data);
    for (let i = 0; i < 3; i++) writeFileSync(join(s.data, `part-${i}.bin`), randomBytes(100 * 1024 * 1024));
    const handle = startMover(['backup', '--parallel', '1'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_LOG_FORMAT: undefined, KOPIA_MOVER_SIGNAL_GRACE_SECONDS: '10' }, ON_A_TERMINAL);
    await waitFor(handle, 'the live display', () => (frames(handle.output(), 'backup').length > 0 ? true : undefined));
    process.kill(programPid(handle.pid), 'SIGTERM');
    const result = await handle.result;
    expect(result.exitCode, result.stdout).toBe(143);
    const final = /\x1b\[2K\d\d:\d\d:\d\d INFO {2}backup: [\d,]+ files, [^\r\n]*, in \d+s\r\n/.exec(result.stdout);
    expect(final, result.stdout).not.toBeNull();
    expect(result.stdout.slice(final!.index + final![0].length)).not.toContain('\x1b[1G');
    expect(result.stdout).toContain('EXIT_CODE: 143');
  });
});
