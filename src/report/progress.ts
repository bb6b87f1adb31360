import cliProgress from 'cli-progress';
import { parseProgressLine, progressCounts, type ProgressCounts } from '../kopia/progress-line.js';
import type { LiveStream, Output } from './output.js';

/** How often kopia's progress reaches the log when no person watches it. */
export interface ProgressCadence {
  /** At most one log line per interval. */
  intervalMs: number;
  /** Instead, one log line each time this many more files are done (backup) or entries (restore). */
  everyFiles?: number;
}

/** Where the runner hands kopia's progress lines. */
export interface ProgressReport {
  /** A line kopia ended with a carriage return, to be redrawn in place. */
  update(line: string): void;
  /**
   * A line kopia ended with a line break. True when it was kopia's last progress update and was
   * shown as the display's final line: then it is not logged again as kopia's words.
   */
  takeFinal(line: string): boolean;
  /** Prints an update held back by the interval: before any other line of kopia's. */
  flush(): void;
  /** kopia ended: what is held back is printed, an open display is closed with its final line. */
  end(): void;
}

/** Redrawn in place on a terminal a person reads; else one log line per interval. Never both. */
export function progressReport(output: Output, cadence: ProgressCadence): ProgressReport {
  const logged = new LoggedProgress(output, cadence);
  return output.interactive ? new LiveProgress(output, logged) : logged;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];

/** A size in kopia's own base-10 units, so the display reads like kopia's output. */
function scaled(bytes: number): { value: string; unit: string } {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  // One decimal below 100 (12.6 MB), none above (652 KB), none for bytes.
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return { value: String(Number(value.toFixed(digits))), unit: UNITS[unit] ?? 'B' };
}

export function formatBytes(bytes: number): string {
  const { value, unit } = scaled(bytes);
  return `${value} ${unit}`;
}

/** "21.3/51.2 MB", or "652 KB/1.2 GB" when the units differ: short enough for an 80-column line. */
function formatBytesOf(done: number, total: number): string {
  const a = scaled(done);
  const b = scaled(total);
  return a.unit === b.unit ? `${a.value}/${b.value} ${b.unit}` : `${a.value} ${a.unit}/${b.value} ${b.unit}`;
}

function formatSeconds(seconds: number): string {
  // cli-progress pads with this character only when asked: unpadded, 65 s reads 1m5s.
  return cliProgress.Format.TimeFormat(Math.round(seconds), { autopaddingChar: '' }, 1);
}

const count = (n: number) => n.toLocaleString('en-US');

/** The parts of one progress report, shared by the live display, the log and the final line. */
function parts(counts: ProgressCounts, elapsedSeconds: number) {
  const items =
    counts.operation === 'backup' ? `${count(counts.items)} files` : `${count(counts.items)}/${count(counts.totalItems ?? counts.items)} entries`;
  const bytes = counts.totalBytes === undefined ? formatBytes(counts.bytes) : formatBytesOf(counts.bytes, counts.totalBytes);
  // A rate over less than a second says nothing yet.
  const rate = elapsedSeconds >= 1 ? `${formatBytes(counts.bytes / elapsedSeconds)}/s` : undefined;
  const percent = counts.estimate ? `${counts.estimate.percent.toFixed(1)}%` : undefined;
  const left = counts.estimate ? `${formatSeconds(counts.estimate.remainingSeconds)} left` : undefined;
  return { items, bytes, rate, percent, left };
}

/** One log line's message: "backup 70.8%: 14,170 files, 37.1/52.4 MB, 7.4 MB/s, 2s left". */
export function describeProgress(counts: ProgressCounts, elapsedSeconds: number): string {
  const p = parts(counts, elapsedSeconds);
  const head = p.percent ? `${counts.operation} ${p.percent}` : counts.operation;
  const tail = p.left ?? (counts.operation === 'backup' ? 'estimating the total' : undefined);
  return `${head}: ${[p.items, p.bytes, p.rate, tail].filter(Boolean).join(', ')}`;
}

/** The line left on the terminal when kopia ended. */
export function describeFinal(counts: ProgressCounts, elapsedSeconds: number): string {
  const p = parts(counts, elapsedSeconds);
  const percent = p.percent ? ` (${p.percent})` : '';
  return `${counts.operation}: ${p.items}, ${p.bytes}${percent}${p.rate ? `, ${p.rate}` : ''}, in ${formatSeconds(elapsedSeconds)}`;
}

/** Progress as log lines: at most one per interval (or per N files), with the percentage once kopia has it. */
class LoggedProgress implements ProgressReport {
  private pending?: { line: string; counts?: ProgressCounts };
  private lastAt = 0;
  private lastItems = 0;
  private readonly started = Date.now();

  constructor(
    private readonly output: Output,
    private readonly cadence: ProgressCadence,
  ) {}

  update(line: string): void {
    const parsed = parseProgressLine(line);
    this.pending = { line, counts: parsed && progressCounts(parsed) };
    if (this.due(this.pending.counts)) this.flush();
  }

  private due(counts: ProgressCounts | undefined): boolean {
    const every = this.cadence.everyFiles;
    if (every !== undefined && counts) return counts.items >= this.lastItems + every;
    return Date.now() - this.lastAt >= this.cadence.intervalMs;
  }

  takeFinal(): boolean {
    return false;
  }

  flush(): void {
    if (!this.pending) return;
    const { line, counts } = this.pending;
    this.pending = undefined;
    this.lastAt = Date.now();
    if (!counts) {
      this.output.log.info({ progress: line.trim() }, 'progress');
      return;
    }
    this.lastItems = counts.items;
    const percent = counts.estimate ? { percent: counts.estimate.percent } : {};
    this.output.log.info({ progress: line.trim(), ...percent }, describeProgress(counts, (Date.now() - this.started) / 1000));
  }

  end(): void {
    this.flush();
  }
}

const BAR_SIZE = 10;

/**
 * Progress redrawn in place (cli-progress draws it): a bar once kopia has an estimate, files and
 * bytes done, rate and time left. kopia's other in-place lines (not a backup's or a restore's)
 * still go to the log.
 */
class LiveProgress implements ProgressReport {
  private bars?: cliProgress.MultiBar;
  private bar?: cliProgress.SingleBar;
  private stream?: LiveStream;
  private latest?: ProgressCounts;
  private readonly started = Date.now();

  constructor(
    private readonly output: Output,
    private readonly others: LoggedProgress,
  ) {}

  update(line: string): void {
    const parsed = parseProgressLine(line);
    if (!parsed) {
      this.others.update(line);
      return;
    }
    this.latest = progressCounts(parsed);
    this.open().update(Math.round((this.latest.estimate?.percent ?? 0) * 10));
    // Drawn now, not at the next frame: kopia updates about three times a second, each one shown.
    this.bars?.update();
  }

  takeFinal(line: string): boolean {
    const parsed = parseProgressLine(line);
    if (!parsed) return false;
    this.latest = progressCounts(parsed);
    this.close();
    this.output.log.info(describeFinal(this.latest, this.elapsed()));
    return true;
  }

  flush(): void {
    this.others.flush();
  }

  end(): void {
    this.others.end();
    // kopia ended without its last progress line (it failed or was stopped): the last one seen is final.
    if (this.bars && this.latest) {
      this.close();
      this.output.log.info(describeFinal(this.latest, this.elapsed()));
    }
  }

  private elapsed(): number {
    return (Date.now() - this.started) / 1000;
  }

  private open(): cliProgress.SingleBar {
    if (this.bar) return this.bar;
    this.stream = this.output.openLive(() => this.bars?.update());
    // MultiBar, though with one bar: it keeps no saved cursor position, which log lines printed
    // above the bar would make wrong. linewrap trims the line to the terminal's width instead of
    // switching the terminal's wrapping off, which a killed run could not switch back on.
    this.bars = new cliProgress.MultiBar({
      // cli-progress only writes to its stream and reads isTTY and columns.
      stream: this.stream as unknown as NodeJS.WritableStream,
      format: (options, params) => this.frame(options, params.progress),
      fps: 2,
      forceRedraw: true,
      clearOnComplete: true,
      linewrap: true,
      hideCursor: false,
      gracefulExit: false,
      barsize: BAR_SIZE,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
    });
    this.bar = this.bars.create(1000, 0);
    return this.bar;
  }

  private frame(options: cliProgress.Options, progress: number): string {
    if (!this.latest) return '';
    const p = parts(this.latest, this.elapsed());
    const head = p.percent ? `${p.percent.padStart(6)} ${cliProgress.Format.BarFormat(progress, options)}` : ' estimating...';
    const text = `${this.latest.operation}${head} ${[p.items, p.bytes, p.rate, p.left].filter(Boolean).join(', ')}`;
    return this.output.redact(text);
  }

  /** Clears the display: the final line takes its place. */
  private close(): void {
    this.bars?.stop();
    this.stream?.close();
    this.bars = undefined;
    this.bar = undefined;
    this.stream = undefined;
  }
}
