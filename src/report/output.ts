import { writeSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { Redactor } from './redact.js';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function prettyLine(json: string): string {
  try {
    const record = JSON.parse(json) as Record<string, unknown>;
    const time = new Date(Number(record['time'])).toISOString().slice(11, 19);
    const level = (LEVEL_NAMES[Number(record['level'])] ?? 'INFO').padEnd(5);
    const extras = Object.entries(record)
      .filter(([k]) => !OMIT.has(k))
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${time} ${level} ${String(record['msg'] ?? '')}${extras ? `  ${extras}` : ''}\n`;
  } catch {
    return json;
  }
}

/**
 * The single sink for everything the program prints on stdout: pino's log
 * records and the plain controller-facing lines share it so their order holds,
 * and every byte passes the redactor on the way out.
 */
export class Output {
  readonly log: Logger;
  private redactor: Redactor;
  private readonly fd: number;

  constructor(format: 'json' | 'pretty', secrets: readonly string[] = [], fd = 1) {
    this.fd = fd;
    this.redactor = new Redactor(secrets);
    const stream = {
      write: (line: string) => {
        const text = format === 'pretty' ? prettyLine(line) : line;
        this.raw(this.redactor.redact(text));
      },
    };
    const timestamp = format === 'json' ? pino.stdTimeFunctions.isoTime : pino.stdTimeFunctions.epochTime;
    this.log = pino({ base: undefined, timestamp }, stream);
  }

  /** Once config is parsed, the secrets to scrub are known. */
  setSecrets(secrets: readonly string[]): void {
    this.redactor = new Redactor(secrets);
  }

  redact(text: string): string {
    return this.redactor.redact(text);
  }

  /** A controller-facing line, printed exactly as given (after redaction). */
  line(text: string): void {
    this.raw(this.redactor.redact(`${text}\n`));
  }

  private raw(text: string): void {
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
