import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { SECRET_VARIABLES } from '../../src/env.js';
import { containsSecret, secretForms } from '../../src/report/redact.js';
import { join } from 'node:path';
import { realKopia, repoRoot } from './fixtures.js';

export { realKopia, repoRoot };
/** The image's entry shim: the pod starts the program through it, and so does every test. */
const shim = join(repoRoot, 'docker', 'entry.sh');
const bin = join(repoRoot, 'bin', 'kopia-mover.js');

if (!existsSync(realKopia)) {
  throw new Error(`kopia is not installed at ${realKopia}: run \`bash scripts/install-kopia.sh\` (npm test does it)`);
}
if (!existsSync(join(repoRoot, 'dist', 'kopia-mover.mjs'))) {
  throw new Error('dist/ is missing: run `npm run build` (npm test does it)');
}

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temp dir removed when the test process ends. */
export function tempDir(prefix = 'km-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/**
 * A shim in front of the real kopia that records each invocation's argv (read
 * from /proc, exactly what the process table shows) and then becomes kopia.
 */
export function kopiaRecorder(dir: string): { path: string; calls: () => string[][]; pids: () => number[] } {
  const log = join(dir, 'kopia-calls.log');
  const path = join(dir, 'kopia-recorder.sh');
  writeFileSync(
    path,
    // The shim execs kopia, so its pid is the kopia process's pid.
    `#!/bin/bash\n{ printf '%s\\t' $$; tr '\\0' '\\t' < /proc/$$/cmdline; echo; } >> '${log}'\nexec '${realKopia}' "$@"\n`,
  );
  chmodSync(path, 0o755);
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  return {
    path,
    calls: () => lines().map((line) => line.replace(/\t$/, '').split('\t').slice(3)),
    pids: () => lines().map((line) => Number(line.split('\t', 1)[0])),
  };
}

export interface MoverResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** kopia argv of each kopia process the run started, in order. */
  kopiaCalls: string[][];
  /** Parsed JSON log records (non-JSON lines are the controller-facing ones). */
  records: Record<string, unknown>[];
  plainLines: string[];
  terminationMessage?: Record<string, unknown>;
  /** The TMPDIR the run had (unless the test gave its own). */
  tmpDir: string;
}

export interface Env {
  [name: string]: string | undefined;
}

export interface MoverOptions {
  recorderDir?: string;
  /** Run as this unprivileged user (created by ensureTestUser), the way the pod runs as UID 1000. */
  asUser?: string;
  /** `bin`: node bin/kopia-mover.js, as npm installs it, instead of the image's shim. */
  entry?: 'shim' | 'bin';
  /** A command the program runs under, e.g. `unshare -m ... sh -c '...' sh`: the program's argv follows it. */
  wrap?: string[];
  /**
   * Secret values the automatic scan leaves out, for a test whose secret is an ordinary word the
   * program's own lines must go on printing (KOPIA_PASSWORD=SUCCESS).
   */
  unscanned?: string[];
}

/** A running program: for tests that signal or kill it halfway. */
export interface MoverHandle {
  pid: number;
  kill(signal: NodeJS.Signals): void;
  /** kopia processes started so far: argv and pid. */
  kopiaCalls(): string[][];
  kopiaPids(): number[];
  output(): string;
  /** Whether the program has ended (its output streams are closed). */
  ended(): boolean;
  result: Promise<MoverResult>;
}

/** Starts the real program as a process, the way the pod does. */
export function startMover(args: string[], env: Env, options: MoverOptions = {}): MoverHandle {
  const work = options.recorderDir ?? tempDir('km-run-');
  if (options.asUser) chmodSync(work, 0o777);
  const recorder = kopiaRecorder(work);
  const before = recorder.calls().length;
  const termination = join(work, `termination-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(termination, '');
  if (options.asUser) chmodSync(termination, 0o666);
  // Each run has its own TMPDIR: what one run leaves there is told apart from what other tests do.
  const runTmp = mkdtempSync(join(work, 'tmp-'));
  if (options.asUser) chmodSync(runTmp, 0o1777);
  const fullEnv: Env = {
    PATH: process.env['PATH'],
    HOME: options.asUser ? work : process.env['HOME'],
    TMPDIR: runTmp,
    KOPIA_BIN: recorder.path,
    KOPIA_MOVER_LOG_FORMAT: 'json',
    KOPIA_MOVER_TERMINATION_LOG: termination,
    KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG: join(work, 'no-legacy-repository.config'),
    KOPIA_MOVER_HOME: repoRoot,
    // A first creation waits for other creators (a random pause, then a settle time): no test but
    // the creation race has others, so the waits are off unless a test names them.
    KOPIA_MOVER_CREATE_JITTER_SECONDS: '0',
    KOPIA_MOVER_CREATE_SETTLE_SECONDS: '0',
    ...env,
  };
  const program = options.entry === 'bin' ? [process.execPath, bin, ...args] : ['/bin/sh', shim, ...args];
  const wrapped = [...(options.wrap ?? []), ...program];
  const [command, ...argv] = options.asUser ? ['runuser', '-u', options.asUser, '--', ...wrapped] : wrapped;
  const child = spawn(command!, argv, {
    env: Object.fromEntries(Object.entries(fullEnv).filter(([, v]) => v !== undefined)) as Record<string, string>,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let ended = false;
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const result = (async () => {
    const exitCode = await new Promise<number>((done) =>
      child.on('close', (code, signal) => {
        ended = true;
        done(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1));
      }),
    );
    const records: Record<string, unknown>[] = [];
    const plainLines: string[] = [];
    for (const line of stdout.split('\n').filter(Boolean)) {
      try {
        const parsed = JSON.parse(line) as unknown;
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'level' in parsed) {
          records.push(parsed as Record<string, unknown>);
          continue;
        }
      } catch {
        // a plain line
      }
      plainLines.push(line);
    }
    const message = readFileSync(termination, 'utf8');
    const result: MoverResult = {
      exitCode,
      stdout,
      stderr,
      kopiaCalls: recorder.calls().slice(before),
      records,
      plainLines,
      terminationMessage: message ? (JSON.parse(message) as Record<string, unknown>) : undefined,
      tmpDir: fullEnv['TMPDIR'] ?? runTmp,
    };
    // Every run is scanned: a secret in any output line or kopia argv fails the test that caused it.
    assertNoSecrets(
      result,
      // A credentials *path* (GOOGLE_APPLICATION_CREDENTIALS=/x.json) is not a secret; its content is.
      SECRET_VARIABLES.map((name) => env[name]).filter(
        (v): v is string => v !== undefined && v.length >= 4 && !v.startsWith('/') && !(options.unscanned ?? []).includes(v),
      ),
    );
    return result;
  })();
  return {
    pid: child.pid ?? 0,
    kill: (signal) => child.kill(signal),
    kopiaCalls: () => recorder.calls().slice(before),
    kopiaPids: () => recorder.pids().slice(before),
    output: () => stdout,
    ended: () => ended,
    result,
  };
}

/**
 * Waits for an event: asks `probe` every `intervalMs` until it returns something other than
 * undefined, and returns that. Fails naming `what` at the deadline, or at once, with the
 * program's output, when the program ends before the event.
 */
export async function waitFor<T>(
  handle: MoverHandle,
  what: string,
  probe: () => T | undefined,
  { timeoutMs = 60_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Read before the probe: an event that happened just before the end still counts.
    const ended = handle.ended();
    const found = probe();
    if (found !== undefined) return found;
    if (ended) throw new Error(`the program ended before ${what}:\n${handle.output()}`);
    if (Date.now() >= deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${handle.output()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until the program has started a kopia process with these first two arguments; returns its pid. */
export function waitForKopia(handle: MoverHandle, first: string, second: string, timeoutMs = 60_000): Promise<number> {
  return waitFor(
    handle,
    `kopia ${first} ${second} process`,
    () => {
      const index = handle.kopiaCalls().findIndex((a) => a[0] === first && a[1] === second);
      return index >= 0 ? handle.kopiaPids()[index] : undefined;
    },
    { timeoutMs },
  );
}

/** The JSON log records the program has printed so far. */
export function recordsSoFar(handle: MoverHandle): Record<string, unknown>[] {
  return handle
    .output()
    .split('\n')
    .flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as unknown;
        return parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'level' in parsed ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
}

/**
 * Waits until kopia's first progress line is in the log: kopia is hashing and uploading, so a
 * stop now lands in the middle of the work. Returns the progress text.
 */
export function waitForKopiaProgress(handle: MoverHandle, timeoutMs = 60_000): Promise<string> {
  return waitFor(
    handle,
    "kopia's first progress line",
    () => recordsSoFar(handle).find((r) => typeof r['progress'] === 'string')?.['progress'] as string | undefined,
    { timeoutMs },
  );
}

/** Waits until the program has printed a plain line that matches; returns the line. */
export function waitForLine(handle: MoverHandle, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return waitFor(handle, `a line matching ${pattern}`, () => handle.output().split('\n').find((l) => pattern.test(l)), { timeoutMs });
}

/** Runs the real program to the end. */
export function runMover(args: string[], env: Env, options: MoverOptions = {}): Promise<MoverResult> {
  return startMover(args, env, options).result;
}

/** The unprivileged user tests run the program as, created once. */
export function ensureTestUser(name = 'kmtest'): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', name]);
    return { uid: id('-u'), gid: id('-g') };
  }
}


/**
 * Fails the test when any secret appears in anything the run printed or in any kopia argv, in any
 * of the forms kopia or Go may print it (as given, JSON-escaped, URL-encoded in any way or decoded,
 * base64, and each parameter value of a query-string secret such as a SAS token).
 */
export function assertNoSecrets(result: MoverResult, secrets: string[]): void {
  const haystacks = [result.stdout, result.stderr, JSON.stringify(result.terminationMessage ?? {}), ...result.kopiaCalls.map((c) => c.join(' '))];
  for (const text of haystacks) {
    // Any mix of percent-encoded and plain characters, in either hex case, counts too.
    if (containsSecret(text, secrets)) throw new Error(`a secret value appeared in the run's output or a kopia argv`);
  }
}

/** Every file under a folder that holds any form of any secret: none may, on the cache volume or in TMPDIR. */
export function filesHoldingSecrets(root: string, secrets: string[]): string[] {
  const forms = secrets.flatMap((s) => secretForms(s));
  const found: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const bytes = readFileSync(path);
        if (forms.some((f) => bytes.includes(f)) || containsSecret(bytes.toString('utf8'), secrets)) found.push(path);
      }
    }
  };
  walk(root);
  return found;
}

/** Runs the real kopia against the cache dir's connection and returns its stdout. */
export function kopiaText(cacheDir: string, password: string, args: string[]): string {
  return execFileSync(realKopia, [...args, `--config-file=${join(cacheDir, 'kopia.config')}`, `--log-dir=${join(cacheDir, 'logs')}`], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], KOPIA_PASSWORD: password, KOPIA_CHECK_FOR_UPDATES: 'false' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the real kopia against the cache dir's connection, to check the repository's real state. */
export function kopiaJson<T>(cacheDir: string, password: string, args: string[]): T {
  return JSON.parse(kopiaText(cacheDir, password, [...args, '--json'])) as T;
}

/** A fresh filesystem repository setup: repository, cache and data dirs, and the base env. */
export function scenario(name = 'app'): { root: string; repo: string; cache: string; data: string; password: string; env: Env } {
  const root = tempDir(`km-${name}-`);
  const password = `pw-${Math.random().toString(36).slice(2)}-Secret!`;
  const env: Env = {
    KOPIA_PASSWORD: password,
    KOPIA_REPOSITORY: `filesystem://${join(root, 'repo')}`,
    KOPIA_CACHE_DIR: join(root, 'cache'),
    KOPIA_OVERRIDE_USERNAME: name,
    KOPIA_OVERRIDE_HOSTNAME: 'ns1',
  };
  return { root, repo: join(root, 'repo'), cache: join(root, 'cache'), data: join(root, 'data'), password, env };
}

/** scenario() whose DATA_DIR exists and holds one small file. */
export function seededScenario(name: string, file = 'file.txt', content = `${name}\n`): ReturnType<typeof scenario> {
  const s = scenario(name);
  mkdirSync(s.data);
  writeFileSync(join(s.data, file), content);
  return s;
}

/** For tests of mounted files: DATA_DIR holding keep.txt, and an empty policy mount folder for KOPIA_CONFIG_PATH. */
export function policyScenario(name: string): ReturnType<typeof scenario> & { policyDir: string } {
  const s = seededScenario(name, 'keep.txt', 'keep\n');
  const policyDir = join(s.root, 'kopia-config');
  mkdirSync(policyDir);
  return { ...s, policyDir };
}

/** The value of a `KEY: value` line of the run's summary block. */
export function summaryValue(result: MoverResult, key: string): string | undefined {
  return result.plainLines.find((l) => l.startsWith(`${key}: `))?.slice(key.length + 2);
}
