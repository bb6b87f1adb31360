import { writeFileSync, rmSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import tmp from 'tmp';
import type { SecretFile } from './command.js';
import { ConfigError, OutOfMemoryError } from '../errors.js';
import { heldOutputLimit, mebibytes } from '../memory.js';
import type { Output } from '../report/output.js';
import type { KopiaCommand } from './command.js';
import { LineSplitter } from './lines.js';
import { progressReport } from '../report/progress.js';
import { parseProgressLine } from './progress-line.js';
import { stallLine } from './failures.js';

export interface KopiaResult {
  exitCode: number;
  /** Whole stdout, only for commands with captureStdout. */
  stdout: string;
  /** The last lines kopia printed (stdout and stderr), redacted, for error reports. */
  tail: string[];
  /**
   * The same lines as kopia printed them, only for classifying a failure: redaction can change
   * kopia's words (a password `invalid` turns "invalid repository password" into something else).
   * Never printed, logged or put into an error.
   */
  rawTail: string[];
  signal?: string;
}

export interface RunnerOptions {
  binary: string;
  globalFlags: string[];
  env: Record<string, string>;
  output: Output;
  progressIntervalMs: number;
  /** Progress logged every this many files instead of by time (the docs' --progress-interval=100). */
  progressEveryFiles?: number;
  /** Called with the full argv of every spawned kopia process (tests count them). */
  onSpawn?: (argv: string[]) => void;
  /** The run's private folder: secret files are written there. */
  tempDir: string;
  /**
   * Aborted when the run is asked to stop: the kopia child gets SIGTERM to checkpoint, SIGKILL
   * after `stopGraceMs`, and no further kopia process starts. The abort reason is what `run` throws.
   */
  stop?: AbortSignal;
  stopGraceMs?: number;
  /**
   * kopia is stopped (SIGTERM, SIGKILL after `stopGraceMs`) once it made no progress for this long:
   * no new line, no stdout and no change in its progress counts. 0 or unset: never.
   */
  stallMs?: number;
}

const TAIL_LINES = 40;

export interface RunOptions {
  /** Receives each stdout line (split on \n only) instead of the log: for listings too large to hold. */
  onStdoutLine?: (line: string) => void;
  /**
   * Receives each stdout line as the bytes kopia printed, split on 0x0A only and never decoded: a
   * file name that is not UTF-8 then matches only the very same bytes.
   */
  onStdoutRawLine?: (line: Buffer) => void;
  /**
   * A non-zero exit the caller expected (a connect that finds no repository yet): returns the info
   * line to log in place of the warning, or undefined when this exit was not expected.
   */
  expected?: (result: KopiaResult) => string | undefined;
}

/** Splits a byte stream on 0x0A alone, holding at most the one partial line, never decoding it. */
function rawNewlineSplitter(each: (line: Buffer) => void) {
  let partial = Buffer.alloc(0);
  return {
    get held() {
      return partial.length;
    },
    push(chunk: Buffer) {
      const bytes = partial.length === 0 ? chunk : Buffer.concat([partial, chunk]);
      let start = 0;
      for (let end = bytes.indexOf(0x0a); end >= 0; end = bytes.indexOf(0x0a, start)) {
        each(bytes.subarray(start, end));
        start = end + 1;
      }
      partial = Buffer.from(bytes.subarray(start));
    },
    end() {
      if (partial.length > 0) each(partial);
      partial = Buffer.alloc(0);
    },
  };
}

/**
 * Splits a stream on \n alone, holding at most the one partial line. Not LineSplitter: a file name
 * may hold a carriage return, and LineSplitter would cut it there and shorten an over-long line,
 * so a restore's deletion would compare against paths the snapshot does not have. A line that never
 * ends is held only up to the runner's limit, then the command fails, before anything is deleted.
 */
function newlineSplitter(each: (line: string) => void) {
  let partial = '';
  return {
    get held() {
      return partial.length;
    },
    push(chunk: string) {
      const text = partial + chunk;
      let start = 0;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
        each(text.slice(start, end));
        start = end + 1;
      }
      partial = text.slice(start);
    },
    end() {
      if (partial !== '') each(partial);
      partial = '';
    },
  };
}

/**
 * What a progress line says has moved: its counts, without the spinner and kopia's time estimate,
 * which change while nothing moves. A line that does not parse counts as itself.
 */
function progressKey(line: string): string {
  const parsed = parseProgressLine(line);
  if (parsed === undefined) return line.trim().replace(/^[|/\\*-] /, '');
  const { estimate, ...counts } = parsed;
  return JSON.stringify({ ...counts, finished: false, total: estimate && ('totalBytes' in estimate ? estimate.totalBytes : undefined) });
}

/**
 * Watches one kopia process for progress: `moved` on every sign of it; `onStall` once none came for
 * `limitMs`. A silent network (packets dropped, nothing reset) leaves kopia waiting with no timeout.
 */
function stallWatch(limitMs: number, onStall: () => void) {
  let last = Date.now();
  let lastKey = '';
  let stalled = false;
  const timer = setInterval(() => {
    if (stalled || Date.now() - last < limitMs) return;
    stalled = true;
    onStall();
  }, Math.max(50, Math.min(1_000, limitMs / 5)));
  timer.unref();
  return {
    moved: () => {
      last = Date.now();
    },
    progress: (line: string) => {
      const key = progressKey(line);
      if (key === lastKey) return;
      lastKey = key;
      last = Date.now();
    },
    get stalled() {
      return stalled;
    },
    dispose: () => clearInterval(timer),
  };
}

/** The only place that starts kopia processes. */
export class KopiaRunner {
  spawnCount = 0;
  /** Temp file of each secret file, by the value itself: two commands may share a flag, never a file. */
  private readonly files = new Map<SecretFile, string>();
  private current?: ResultPromise;
  private readonly holdLimit = heldOutputLimit();

  constructor(private readonly options: RunnerOptions) {}

  /** The argv a command runs with; secret files appear as their temp paths. */
  argv(command: KopiaCommand, filePaths?: Map<SecretFile, string>): string[] {
    const fileFlags = (command.secretFiles ?? []).map(
      (f) => `${f.flag}=${filePaths?.get(f) ?? `<temp file: ${f.purpose}>`}`,
    );
    return [...command.args, ...fileFlags, ...this.options.globalFlags];
  }

  /** Throws the stop's reason once a stop was asked for. */
  private checkStopped(): void {
    const stop = this.options.stop;
    if (stop?.aborted) throw stop.reason instanceof Error ? stop.reason : new Error('stopped');
  }

  async run(command: KopiaCommand, options: RunOptions = {}): Promise<KopiaResult> {
    // Once a stop is requested no further kopia process starts.
    this.checkStopped();
    const { output } = this.options;
    const argv = this.argv(command, this.materialize(command.secretFiles ?? []));
    this.spawnCount++;
    this.options.onSpawn?.(argv);
    output.log.info({ kopia: command.args.slice(0, 2).join(' ') }, command.purpose);

    const watch = this.watchFor(command);
    const lines = this.kopiaLines(command, watch);
    const child = execa(this.options.binary, argv, {
      env: command.env ? { ...this.options.env, ...command.env } : this.options.env,
      extendEnv: false,
      stdin: 'ignore',
      buffer: false,
      reject: false,
      cleanup: true,
      cancelSignal: this.options.stop,
      killSignal: 'SIGTERM',
      forceKillAfterDelay: this.options.stopGraceMs ?? 20_000,
    });
    this.current = child;
    watch.start(child);
    const stderrLines = new LineSplitter(lines.onLine);
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderrLines.push(chunk));
    const stdout = this.readStdout(child, command, options, lines.onLine, watch.moved);
    const result = await child.finally(watch.dispose);
    this.current = undefined;
    stderrLines.end();
    stdout.end();
    lines.progress.end();
    // A stop arrived while kopia ran: whatever it returned, the operation must not go on.
    this.checkStopped();
    const overflow = stdout.overflow();
    if (overflow) throw overflow;
    if (result.exitCode === undefined && !result.signal) {
      // kopia never started: a missing or unusable binary is a setup problem, not a repository one.
      throw new ConfigError({
        source: 'KOPIA_BIN',
        message: `kopia could not be started from ${this.options.binary} (${(result as { code?: string }).code ?? 'spawn failed'}); install it (scripts/install-kopia.sh) or set KOPIA_BIN`,
      });
    }
    // A stopped kopia never counts as a success, even if it managed to exit 0 while stopping. The
    // stall's own line decides the class: whatever kopia said before, it was stopped for this.
    const exitCode = watch.stalled && !result.exitCode ? 128 : (result.exitCode ?? 128);
    if (watch.stalled) lines.remember(stallLine(this.stallSeconds(command)));
    const outcome: KopiaResult = { exitCode, stdout: stdout.captured(), tail: lines.tail, rawTail: lines.rawTail, signal: result.signal ?? undefined };
    if (exitCode !== 0) this.logExit(command, options, outcome);
    return outcome;
  }

  /**
   * What happens to each line kopia writes as text: progress to the progress report, the rest to
   * the log and the tail (redacted for the summary, raw for classification only).
   */
  private kopiaLines(command: KopiaCommand, watch: { moved(): void; progress(line: string): void }) {
    const { output } = this.options;
    const tail: string[] = [];
    const rawTail: string[] = [];
    const remember = (line: string) => {
      tail.push(output.redact(line));
      rawTail.push(line);
      if (tail.length > TAIL_LINES) {
        tail.shift();
        rawTail.shift();
      }
    };
    const progress = progressReport(output, { intervalMs: this.options.progressIntervalMs, everyFiles: this.options.progressEveryFiles });
    const onLine = (line: string, isProgress: boolean) => {
      if (isProgress) {
        watch.progress(line);
        progress.update(line);
        return;
      }
      watch.moved();
      // On a terminal kopia's last progress line became the display's final line.
      if (progress.takeFinal(line)) {
        remember(line);
        return;
      }
      // A progress update held back by the interval is older than this line: it goes first, so the
      // last progress line printed is never older than kopia's own last words.
      progress.flush();
      remember(line);
      output.log.info({ kopia: command.args[0] }, line);
    };
    return { tail, rawTail, progress, onLine, remember };
  }

  /**
   * kopia's stdout: captured whole, handed on line by line (as text or raw bytes), or logged as
   * text. What is held is bounded: past the bound kopia is stopped and the command fails, while
   * the mover still has the memory to say so.
   */
  private readStdout(
    child: ResultPromise,
    command: KopiaCommand,
    options: RunOptions,
    onLine: (line: string, isProgress: boolean) => void,
    moved: () => void,
  ) {
    let stdout = '';
    let overflow: OutOfMemoryError | undefined;
    const hold = (chars: number) => {
      if (chars <= this.holdLimit || overflow) return;
      overflow = new OutOfMemoryError(
        `out of memory: kopia ${command.args.slice(0, 2).join(' ')} printed more than ${mebibytes(this.holdLimit)} MiB ` +
          "without an end (a quarter of the mover's heap); it was stopped",
      );
      child.kill('SIGTERM');
    };
    const raw = options.onStdoutRawLine ? rawNewlineSplitter(options.onStdoutRawLine) : undefined;
    const listing = options.onStdoutLine ? newlineSplitter(options.onStdoutLine) : undefined;
    const text = listing ?? new LineSplitter(onLine);
    if (raw) child.stdout?.on('data', (chunk: Buffer) => {
      moved();
      if (overflow) return;
      raw.push(chunk);
      hold(raw.held);
    });
    else child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      moved();
      if (overflow) return;
      if (command.captureStdout) {
        stdout += chunk;
        hold(stdout.length);
      } else {
        text.push(chunk);
        if (listing) hold(listing.held);
      }
    });
    return {
      end: () => {
        if (!overflow) (raw ?? text).end();
      },
      overflow: () => overflow,
      captured: () => stdout,
    };
  }

  private stallMs(command: KopiaCommand): number {
    return command.stallMs ?? this.options.stallMs ?? 0;
  }

  private stallSeconds(command: KopiaCommand): number {
    return Math.round(this.stallMs(command) / 1000);
  }

  /**
   * The stall watch of one command: kopia is stopped once it made no progress for the limit. Every
   * command is watched, as any of them waits on the storage; without a limit nothing is.
   */
  private watchFor(command: KopiaCommand) {
    const limitMs = this.stallMs(command);
    let child: ResultPromise | undefined;
    const watch = limitMs > 0 ? stallWatch(limitMs, () => {
      this.options.output.log.warn(
        { kopia: command.args.slice(0, 2).join(' '), stallSeconds: this.stallSeconds(command) },
        `${command.purpose}: kopia made no progress for ${this.stallSeconds(command)} s (no output, no change in its counts); stopping it`,
      );
      child?.kill('SIGTERM');
    }) : undefined;
    return {
      start: (started: ResultPromise) => {
        child = started;
      },
      moved: () => watch?.moved(),
      progress: (line: string) => watch?.progress(line),
      get stalled() {
        return watch?.stalled ?? false;
      },
      dispose: () => watch?.dispose(),
    };
  }

  /** A non-zero exit: an info line when the step expected it, else a warning. */
  private logExit(command: KopiaCommand, options: RunOptions, outcome: KopiaResult): void {
    const fields = { kopia: command.args.slice(0, 2).join(' '), exitCode: outcome.exitCode };
    const expected = options.expected?.(outcome);
    if (expected !== undefined) this.options.output.log.info(fields, expected);
    else this.options.output.log.warn(fields, `${command.purpose}: kopia ended with exit code ${outcome.exitCode}`);
  }

  /** Settles once no kopia process of this runner is running (a stopped one has ended). */
  async idle(): Promise<void> {
    await this.current?.catch(() => undefined);
  }

  /** Secret files live for the whole run: kopia.config may refer to them after connect. */
  private materialize(files: SecretFile[]): Map<SecretFile, string> {
    for (const file of files) {
      if (this.files.has(file)) continue;
      const temp = tmp.fileSync({ mode: 0o600, prefix: 'secret-', tmpdir: this.options.tempDir, discardDescriptor: true });
      writeFileSync(temp.name, file.content.reveal(), { mode: 0o600 });
      this.files.set(file, temp.name);
    }
    return this.files;
  }

  /** Removes every temp file this runner wrote. */
  cleanup(): void {
    for (const path of this.files.values()) rmSync(path, { force: true });
    this.files.clear();
  }
}
