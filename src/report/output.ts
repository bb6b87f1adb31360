import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import pino, { type Logger } from 'pino';
import { escapeControl } from '../text.js';
import { Redactor } from './redact.js';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Back to the line's first column, and erase the line. */
const CLEAR_LINE = '\r\x1b[2K';

/** What a progress library needs of a terminal stream. */
export interface LiveStream {
  readonly isTTY: true;
  readonly columns: number;
  write(text: string): boolean;
  close(): void;
}

const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function prettyLine(record: Record<string, unknown>): string {
  const time = new Date(Number(record['time'])).toISOString().slice(11, 19);
  const level = (LEVEL_NAMES[Number(record['level'])] ?? 'INFO').padEnd(5);
  const extras = Object.entries(record)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level} ${escapeControl(`${String(record['msg'] ?? '')}${extras ? `  ${extras}` : ''}`)}\n`;
}

/**
 * The single sink for everything the program prints on stdout: pino's log records and the plain
 * controller-facing lines share it so their order holds. Log records have every string value
 * redacted (keys and structure stay, so a secret that happens to be "level" cannot break a line).
 * Controller lines come in two kinds: `line` for lines built from the program's own structured
 * values (never redacted: a password "SUCCESS" must not turn the summary into "[redacted]"), and
 * `text` for free text that may quote kopia or the user (redacted). Both escape control
 * characters, so nothing quoted can start a line of its own.
 */
export class Output {
  readonly log: Logger;
  /** A person reads this output on a terminal: progress is redrawn in place, not logged. */
  readonly interactive: boolean;
  private redactor: Redactor;
  private readonly fd: number;
  /** Redraws the display that is redrawn in place, while one is open. */
  private redrawLive?: () => void;
  /** The in-place display is on the screen's last line: a line printed now must clear it first. */
  private liveDrawn = false;

  constructor(format: 'json' | 'pretty', secrets: readonly string[] = [], fd = 1, level: 'info' | 'debug' = 'info') {
    this.fd = fd;
    this.interactive = format === 'pretty' && isatty(fd);
    this.redactor = new Redactor(secrets);
    const stream = {
      write: (line: string) => {
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          this.raw(`${escapeControl(this.redactor.redact(line.trimEnd()))}\n`);
          return;
        }
        const clean = this.redactor.empty ? record : (this.redactor.redactValues(record) as Record<string, unknown>);
        this.raw(format === 'pretty' ? prettyLine(clean) : `${JSON.stringify(clean)}\n`);
      },
    };
    const timestamp = format === 'json' ? pino.stdTimeFunctions.isoTime : pino.stdTimeFunctions.epochTime;
    this.log = pino({ base: undefined, timestamp, level }, stream);
  }

  /** Once config is parsed, the secrets to scrub are known. */
  setSecrets(secrets: readonly string[]): void {
    this.redactor = new Redactor(secrets);
  }

  redact(text: string): string {
    return this.redactor.redact(text);
  }

  /** A controller-facing line built from structured values: printed as given, control characters escaped. */
  line(text: string): void {
    this.raw(`${escapeControl(text)}\n`);
  }

  /** A line of free text (kopia's words, a path, a message): redacted, control characters escaped. */
  text(text: string): void {
    this.line(this.redactor.redact(text));
  }

  /**
   * A terminal stream for a display redrawn in place, on an interactive output. While it is open,
   * any other line first clears the display and `redraw` then draws it again below that line, so
   * log lines scroll above it and the order of everything printed holds.
   */
  openLive(redraw: () => void): LiveStream {
    this.redrawLive = redraw;
    return {
      isTTY: true,
      columns: (this.fd === 1 ? process.stdout.columns : undefined) || 80,
      write: (text: string) => {
        this.liveDrawn = true;
        this.write(text);
        return true;
      },
      close: () => {
        this.redrawLive = undefined;
        this.clearLive();
      },
    };
  }

  private clearLive(): void {
    if (!this.liveDrawn) return;
    this.liveDrawn = false;
    this.write(CLEAR_LINE);
  }

  private raw(text: string): void {
    this.clearLive();
    this.write(text);
    this.redrawLive?.();
  }

  private write(text: string): void {
    const buffer = Buffer.from(text);
    let offset = 0;
    while (offset < buffer.length) {
      try {
        offset += writeSync(this.fd, buffer, offset);
      } catch (error) {
        // A non-blocking stdout pipe can be momentarily full; anything else is lost output we cannot report.
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  }
}
