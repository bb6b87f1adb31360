import { accessSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { EnvMap } from './config/env-source.js';
import { directionOperation, parseConfig, type SystemFacts } from './config/parse.js';
import type { MoverConfig, Operation } from './config/types.js';
import { BeforeSnapshotActionError, ConfigError, ExitCode, MoverError, TerminatedError } from './errors.js';
import { classifyKopiaOutput, KNOWN_FAILURES, type Failure } from './kopia/failures.js';
import { formatArgv } from './kopia/command.js';
import { environmentSecrets, kopiaEnvironment, secretValues } from './kopia/environment.js';
import { globalFlags, kopiaPaths } from './kopia/global-flags.js';
import { applyLogRetention, publishLogs } from './kopia/logs.js';
import { createRunDir, removeStaleRunDirs, RUN_DIR_PREFIX } from './kopia/run-dir.js';
import { parseGoDurationMs } from './text.js';
import { locateKopia } from './kopia/locate.js';
import { KopiaRunner } from './kopia/runner.js';
import { planBackup, runBackup } from './operations/backup.js';
import { scrubSavedSecrets } from './operations/connect.js';
import { cacheExhaustion } from './operations/cache-usage.js';
import { stopHooks } from './operations/hooks.js';
import type { RunContext } from './operations/context.js';
import { planMaintenance, runMaintenance } from './operations/maintenance.js';
import type { PlanStep } from './operations/plan.js';
import { planRestore, runRestore } from './operations/restore.js';
import { Output } from './report/output.js';
import { printSummary, type RunSummary } from './report/summary.js';

export function systemFacts(env: EnvMap): SystemFacts {
  let username = env['USER'] ?? 'user';
  try {
    username = userInfo().username;
  } catch {
    // A UID without a passwd entry (common in containers) has no name.
  }
  return { username, hostname: hostname(), homeDir: env['HOME'] ?? homedir(), stdoutIsTTY: Boolean(process.stdout.isTTY), tmpDir: tmpdir() };
}

export interface RunOptions {
  env: EnvMap;
  operation?: Operation;
  dryRun?: boolean;
  /** Called with each kopia argv (tests count processes and scan argv). */
  onSpawn?: (argv: string[]) => void;
  /** Grace period for kopia after SIGTERM/SIGINT before it is killed. */
  signalGraceMs?: number;
  /** The installed program's root (package.json, dist/, tools/bin/), when known. */
  appDir?: string;
}

const OPERATIONS = {
  backup: { plan: planBackup, run: runBackup },
  restore: { plan: planRestore, run: runRestore },
  maintenance: { plan: planMaintenance, run: runMaintenance },
} as const;

function formatFor(env: EnvMap): 'json' | 'pretty' {
  const f = env['KOPIA_MOVER_LOG_FORMAT'];
  if (f === 'json' || f === 'pretty') return f;
  return process.stdout.isTTY ? 'pretty' : 'json';
}

function printPlan(output: Output, config: MoverConfig, runner: KopiaRunner, binary: string, steps: PlanStep[]): void {
  output.line(`# kopia-mover plan: ${config.operation} (${config.storage?.description ?? 'repository from config file'})`);
  output.line('# secrets reach kopia through its environment, never its arguments');
  let n = 0;
  for (const step of steps) {
    if ('note' in step) {
      output.text(`#   ${step.note}`);
      continue;
    }
    n++;
    const when = step.command.when ? `   # ${step.command.when}` : '';
    output.text(`${n}. ${formatArgv([binary, ...runner.argv(step.command)])}${when}`);
  }
  const conditional = steps.filter((s) => 'command' in s && s.command.when !== undefined).length;
  output.line(`# ${n - conditional} kopia command(s)${conditional > 0 ? `, plus ${conditional} conditional` : ''}`);
}

/** The class of a failure: what the program knows of it, else what kopia's words say, else unknown. */
function failureOf(error: unknown): Failure {
  if (error instanceof ConfigError) return KNOWN_FAILURES.Configuration;
  if (error instanceof TerminatedError) return KNOWN_FAILURES.Interrupted;
  if (error instanceof BeforeSnapshotActionError) return KNOWN_FAILURES.ActionFailed;
  if (!(error instanceof MoverError)) return KNOWN_FAILURES.Unknown;
  return error.failure ?? classifyKopiaOutput(error.kopiaOutput ?? '') ?? classifyKopiaOutput(error.message) ?? KNOWN_FAILURES.Unknown;
}

/**
 * Before any kopia process: the cache volume must be writable (kopia keeps its config and caches
 * there) and TMPDIR must take this run's private folder; folders that killed runs left in TMPDIR
 * go first. A problem here is the operator's to fix, so it is a configuration error naming the variable.
 */
function prepareDirectories(config: MoverConfig): string {
  removeStaleRunDirs(config.tmpDir);
  try {
    mkdirSync(config.cacheDir, { recursive: true, mode: 0o700 });
    accessSync(config.cacheDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError({ source: 'KOPIA_CACHE_DIR', message: `${config.cacheDir} is not a writable directory (${code})` });
  }
  return createRunDir(config.tmpDir);
}

/** kopia's log files of this run, redacted, onto the cache volume, within the log retention settings. */
async function finishLogs(config: MoverConfig, from: string, output: Output): Promise<void> {
  const to = join(config.cacheDir, 'logs');
  await publishLogs(from, to, (line) => output.redact(line));
  const log = config.kopiaLogging;
  applyLogRetention(to, {
    cli: { maxFiles: log.maxFiles, maxAgeMs: parseGoDurationMs(log.maxAge) ?? 0 },
    content: { maxFiles: log.contentMaxFiles, maxAgeMs: parseGoDurationMs(log.contentMaxAge) ?? 0 },
  });
}

/** Blocks until the marker file is removed, so someone can exec into the pod and run kopia by hand. */
async function debugPause(output: Output, config: MoverConfig, binary: string, configFile: string): Promise<void> {
  const marker = join(config.cacheDir, 'debug-mover-wait');
  writeFileSync(marker, 'remove this file to let kopia-mover continue\n');
  output.line('DEBUG_MOVER is set: kopia-mover is paused.');
  output.line(`  run kopia by hand: ${binary} --config-file=${configFile} <command>`);
  output.line('  (KOPIA_PASSWORD is in the pod environment)');
  output.line(`  to continue: rm ${marker}`);
  while (existsSync(marker)) await new Promise((r) => setTimeout(r, 2000));
}

/** Runs one operation end to end and returns the exit code. Never calls process.exit. */
export async function run(options: RunOptions): Promise<number> {
  const started = Date.now();
  const output = new Output(formatFor(options.env), environmentSecrets(options.env));
  const summary: RunSummary = {
    operation: options.operation ?? directionOperation(options.env) ?? 'unknown',
    result: 'FAILURE',
    exitCode: ExitCode.OperationFailed,
    warnings: [],
    notes: [],
    durationSeconds: 0,
    kopiaProcesses: 0,
  };
  let terminationLog = options.env['KOPIA_MOVER_TERMINATION_LOG'] ?? '/dev/termination-log';

  const configFailure = (error: unknown): number => {
    const issues = error instanceof ConfigError ? error.issues : [{ source: 'environment', message: String(error) }];
    for (const issue of issues) output.log.error({ variable: issue.source }, `configuration error: ${issue.source}: ${issue.message}`);
    summary.exitCode = ExitCode.Config;
    summary.failure = KNOWN_FAILURES.Configuration;
    summary.reason = `configuration error: ${issues.map((i) => `${i.source}: ${i.message}`).join('; ')}`;
    if (!options.dryRun) printSummary(output, summary, terminationLog);
    return summary.exitCode;
  };

  let config: MoverConfig;
  try {
    config = parseConfig(options.env, { operation: options.operation, system: systemFacts(options.env), offline: options.dryRun });
  } catch (error) {
    return configFailure(error);
  }
  output.setSecrets(secretValues(config, options.env));
  terminationLog = config.output.terminationLog;
  const operation = config.operation as Operation;
  summary.operation = operation;

  let runDir: string;
  try {
    runDir = options.dryRun ? join(config.tmpDir, `${RUN_DIR_PREFIX}<this run>`) : prepareDirectories(config);
  } catch (error) {
    return configFailure(error);
  }
  const paths = kopiaPaths(config, runDir);
  const binary = locateKopia(options.env['KOPIA_BIN'], options.env['PATH'], options.appDir);
  const runner = new KopiaRunner({
    binary,
    globalFlags: globalFlags(config, paths),
    env: kopiaEnvironment(config, options.env),
    output,
    progressIntervalMs: config.output.progressIntervalMs,
    onSpawn: options.onSpawn,
    tempDir: runDir,
  });

  if (options.dryRun) {
    printPlan(output, config, runner, binary, OPERATIONS[operation].plan(config));
    return ExitCode.Success;
  }

  const ctx: RunContext = { config, runner, output, summary, parentEnv: options.env, paths };
  const stopSignals = installSignalHandlers(runner, output, options.signalGraceMs ?? config.output.signalGraceMs);
  try {
    output.log.info(
      { operation, repository: config.storage?.description, identity: `${config.identity.username}@${config.identity.hostname}` },
      `kopia-mover ${operation} starting`,
    );
    for (const warning of config.configWarnings) {
      output.log.warn(warning);
      summary.warnings.push(warning);
    }
    if (config.debugMover) await debugPause(output, config, binary, paths.configFile);
    await Promise.race([OPERATIONS[operation].run(ctx), stopSignals.stopped]);
    summary.result = 'SUCCESS';
    summary.exitCode = ExitCode.Success;
  } catch (error) {
    summary.result = 'FAILURE';
    if (error instanceof MoverError) {
      summary.exitCode = error.exitCode;
      summary.reason = error.message;
      summary.kopiaErrorOutput = error.kopiaOutput;
      if (error instanceof ConfigError) {
        for (const issue of error.issues) output.log.error({ variable: issue.source }, `configuration error: ${issue.source}: ${issue.message}`);
      }
    } else {
      summary.exitCode = ExitCode.OperationFailed;
      summary.reason = `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
    }
    // A run that ends badly may have been killed by a full cache volume: say so, with the fix.
    const exhausted = cacheExhaustion(config.cacheDir, config.cache.capacityBytes);
    if (exhausted) {
      summary.exitCode = ExitCode.CacheExhausted;
      summary.reason = `${exhausted} (${summary.reason})`;
    }
    summary.failure = exhausted ? KNOWN_FAILURES.CacheFull : failureOf(error);
    output.log.error(
      { exitCode: summary.exitCode, failureClass: summary.failure.class, retryable: summary.failure.retryable, fix: summary.failure.fix },
      summary.reason ?? 'failed',
    );
  } finally {
    stopSignals.dispose();
    runner.cleanup();
    try {
      scrubSavedSecrets(config);
    } catch (error) {
      summary.warnings.push(`could not remove storage credentials from kopia.config: ${(error as Error).message}`);
    }
    await finishLogs(config, paths.logDir, output).catch((error: unknown) => {
      summary.warnings.push(`could not move kopia's log files onto the cache volume: ${(error as Error).message}`);
    });
    rmSync(runDir, { recursive: true, force: true });
  }
  summary.durationSeconds = (Date.now() - started) / 1000;
  summary.kopiaProcesses = runner.spawnCount;
  printSummary(output, summary, terminationLog);
  return summary.exitCode;
}

/**
 * On SIGTERM/SIGINT: pass the signal to kopia so it can checkpoint, kill it
 * after the grace period, and make the run end with 128+n.
 */
function installSignalHandlers(runner: KopiaRunner, output: Output, graceMs: number) {
  let reject: (error: Error) => void = () => {};
  const stopped = new Promise<never>((_, r) => {
    reject = r;
  });
  stopped.catch(() => {});
  const handler = (signal: NodeJS.Signals) => {
    const number = osConstants.signals[signal];
    output.log.warn({ signal, graceSeconds: graceMs / 1000 }, 'stop requested: passing it to kopia');
    const child = runner.child;
    const error = new TerminatedError(signal, number);
    runner.stop(error);
    stopHooks(signal);
    const finish = () => reject(error);
    if (!child) return finish();
    child.kill(signal);
    const timer = setTimeout(() => {
      output.log.warn('kopia did not stop within the grace period: killing it');
      child.kill('SIGKILL');
    }, graceMs);
    child.finally(() => {
      clearTimeout(timer);
      finish();
    });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return {
    stopped,
    dispose: () => {
      process.off('SIGTERM', handler);
      process.off('SIGINT', handler);
    },
  };
}
