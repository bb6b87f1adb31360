import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname, homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { EnvSource, type EnvMap } from './env.js';
import { directionOperation, parseConfig, type InputNames, type SystemFacts } from './config/parse.js';
import type { MoverConfig } from './config/parse.js';
import type { Operation } from './config/types.js';
import { BeforeSnapshotActionError, CacheExhaustedError, ConfigError, ExitCode, exitCodeOf, MoverError, OutOfMemoryError, TerminatedError, unexpectedFailure } from './errors.js';
import { loadFacts, type Facts } from './facts.js';
import type { SecretFile } from './kopia/command.js';
import { environmentSecrets, kopiaEnvironment, secretValues } from './kopia/environment.js';
import { classifyKopiaOutput, KNOWN_FAILURES, shownFailure, type Failure } from './kopia/failures.js';
import { globalFlags, kopiaPaths } from './kopia/global-flags.js';
import { locateKopia } from './kopia/locate.js';
import { applyLogRetention, publishLogs } from './kopia/logs.js';
import { claimRunDir, removeStaleRunDirs, RUN_DIR_PREFIX, type RunDir } from './kopia/run-dir.js';
import { KopiaRunner } from './kopia/runner.js';
import { planBackup } from './operations/backup.js';
import { cacheExhaustion } from './operations/cache-usage.js';
import { scrubSavedSecrets } from './operations/connect.js';
import { planMaintenance } from './operations/maintenance.js';
import { preflightProblems, refuseOnProblems, type PreflightProblem } from './operations/preflight.js';
import { planRestore } from './operations/restore.js';
import type { RunContext } from './plan/context.js';
import { execute } from './plan/executor.js';
import { printPlan } from './plan/print.js';
import type { Plan } from './plan/step.js';
import { formatFinding } from './findings.js';
import { mebibytes, memoryFields, watchHeap } from './memory.js';
import { Output } from './report/output.js';
import { printSummary, writeTerminationMessage, type RunSummary } from './report/summary.js';
import { shortSecretWarnings } from './secret-checks.js';
import { stopOnSignals } from './signals.js';
import { parseGoDurationMs } from './text.js';

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
  /** The flags (and files) the command line gave inputs by, so problems are named as typed. */
  inputs?: InputNames;
}

export function formatFor(env: EnvMap): 'json' | 'pretty' {
  const f = env['KOPIA_MOVER_LOG_FORMAT'];
  if (f === 'json' || f === 'pretty') return f;
  return process.stdout.isTTY ? 'pretty' : 'json';
}

/** The class of a failure: what the program knows of it, else what kopia's words say, else unknown. */
export function failureOf(error: unknown): Failure {
  if (error instanceof CacheExhaustedError) return KNOWN_FAILURES.CacheFull;
  if (error instanceof ConfigError) return KNOWN_FAILURES.Configuration;
  if (error instanceof TerminatedError) return KNOWN_FAILURES.Interrupted;
  if (error instanceof BeforeSnapshotActionError) return KNOWN_FAILURES.ActionFailed;
  if (!(error instanceof MoverError)) return unexpectedFailure(error).failure;
  // kopia's output was classified from its raw words where the error arose (plan/executor.ts);
  // error.kopiaOutput is redacted and would misclassify a secret that is a common word.
  return error.failure ?? classifyKopiaOutput(error.message) ?? KNOWN_FAILURES.Unknown;
}

/**
 * Before any kopia process: the cache volume must be writable (kopia keeps its config and caches
 * there) and TMPDIR must take this run's private folder; folders that killed runs left in TMPDIR
 * go first. A problem here is the operator's to fix, so it is a configuration error naming the variable.
 */
export async function prepareDirectories(config: MoverConfig): Promise<RunDir> {
  await removeStaleRunDirs(config.tmpDir);
  try {
    mkdirSync(config.cacheDir, { recursive: true, mode: 0o700 });
    accessSync(config.cacheDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError({ source: 'KOPIA_CACHE_DIR', message: `${config.cacheDir} is not a writable directory (${code})` });
  }
  return claimRunDir(config.tmpDir);
}

/** kopia's log files of this run, redacted, onto the cache volume, within the log retention settings. */
export async function finishLogs(config: MoverConfig, from: string, output: Output): Promise<void> {
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
  // KOPIA_LOG_LEVEL=debug also shows the program's own debug records: the details of an unexpected error.
  const level = options.env['KOPIA_LOG_LEVEL'] === 'debug' ? 'debug' : 'info';
  const output = new Output(formatFor(options.env), environmentSecrets(options.env), 1, level);
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
    if (!(error instanceof ConfigError)) output.log.debug({ error: error instanceof Error ? error.stack : String(error) }, 'unexpected error reading the configuration');
    const issues = error instanceof ConfigError ? error.issues : [{ source: 'environment', message: unexpectedFailure(error).reason }];
    for (const issue of issues) output.log.error({ variable: issue.source }, `configuration error: ${issue.source}: ${issue.message}`);
    summary.exitCode = ExitCode.Config;
    summary.failure = KNOWN_FAILURES.Configuration;
    summary.reason = `configuration error: ${issues.map((i) => `${i.source}: ${i.message}`).join('; ')}`;
    if (!options.dryRun) printSummary(output, summary, terminationLog);
    return summary.exitCode;
  };

  let config: MoverConfig;
  try {
    config = parseConfig(options.env, { operation: options.operation, system: systemFacts(options.env), inputs: options.inputs, passwordOptional: options.dryRun });
  } catch (error) {
    return configFailure(error);
  }
  output.setSecrets(secretValues(config, options.env));
  for (const warning of shortSecretWarnings(config, options.env)) {
    output.log.warn({ variable: warning.source }, formatFinding(warning));
    summary.warnings.push(formatFinding(warning));
  }
  terminationLog = config.output.terminationLog;
  const operation = config.operation;
  summary.operation = operation;
  // Maintenance reports its status whatever ends it, also a failure before any kopia process.
  if (operation === 'maintenance') summary.maintenance = { status: 'FAILURE' };

  let runDir: string;
  let claimed: RunDir | undefined;
  let facts: Facts;
  let problems: PreflightProblem[];
  try {
    // The same checks as `validate`: every problem they find is listed before anything is written.
    facts = loadFacts(config);
    problems = preflightProblems(config, facts);
    if (problems.some((p) => !p.repository)) refuseOnProblems(problems);
    claimed = options.dryRun ? undefined : await prepareDirectories(config);
    runDir = claimed?.path ?? join(config.tmpDir, `${RUN_DIR_PREFIX}<this run>`);
  } catch (error) {
    return configFailure(error);
  }
  const paths = kopiaPaths(config, runDir);
  const binary = locateKopia(options.env['KOPIA_BIN'], options.env['PATH'], options.appDir);
  const makeRunner = (stop?: AbortSignal) =>
    new KopiaRunner({
      binary,
      globalFlags: globalFlags(config, paths),
      env: kopiaEnvironment(config, options.env),
      output,
      progressIntervalMs: config.output.progressIntervalMs,
      progressEveryFiles: config.output.progressEveryFiles,
      onSpawn: options.onSpawn,
      tempDir: runDir,
      stop,
      stopGraceMs: options.signalGraceMs ?? config.output.signalGraceMs,
    });

  const planOf = (): Plan => {
    // Left only when the repository's volume is missing: exit 3, classified like a failed connect.
    refuseOnProblems(problems);
    switch (config.operation) {
      case 'backup':
        return planBackup(config, facts);
      case 'restore':
        return planRestore(config, facts);
      case 'maintenance':
        return planMaintenance(config, facts);
    }
  };

  if (options.dryRun) {
    try {
      const planner = makeRunner();
      printPlan(output, planOf(), (args, files) => [binary, ...planner.argv({ args, purpose: '', secretFiles: [...files] as SecretFile[] })]);
      // A plan runs nothing and needs no password: it says where the run's would come from, never what it is.
      const given = new EnvSource(options.env).has('KOPIA_PASSWORD') ? 'given' : 'not given: the run needs --password-file or KOPIA_PASSWORD';
      output.line(`# KOPIA_PASSWORD=<password> in kopia's environment (${given})`);
      return ExitCode.Success;
    } catch (error) {
      output.log.error(error instanceof Error ? error.message : String(error));
      return exitCodeOf(error);
    }
  }

  // Until the summary replaces it, the termination message says the run did not finish: a process
  // that dies without a word (the kernel's OOM killer, SIGKILL, a V8 heap abort) leaves this behind.
  writeTerminationMessage(
    output,
    { ...summary, reason: `${operation} did not finish: the mover was killed or crashed before its summary (see the end of the pod log)`, failure: KNOWN_FAILURES.Killed },
    terminationLog,
  );
  const stop = stopOnSignals(output, options.signalGraceMs ?? config.output.signalGraceMs);
  const runner = makeRunner(stop.signal);
  stop.watch(runner);
  // A heap about to overflow stops the run like a signal would, while there is memory left to report it.
  const heap = watchHeap(({ liveBytes, limitBytes }) => {
    const message = `out of memory: ${mebibytes(liveBytes)} MiB of the mover's ${mebibytes(limitBytes)} MiB heap still in use after garbage collection; stopped before Node would abort`;
    output.log.error({ heapLiveMiB: Number(mebibytes(liveBytes)), heapLimitMiB: Number(mebibytes(limitBytes)) }, message);
    stop.stop(new OutOfMemoryError(message));
  });
  const ctx: RunContext = { config, runner, output, summary, parentEnv: options.env, paths, stop: stop.signal };
  try {
    output.log.info(
      { operation, repository: config.storage?.description, identity: `${config.identity.username}@${config.identity.hostname}` },
      `kopia-mover ${operation} starting`,
    );
    for (const warning of config.configWarnings) {
      output.log.warn({ variable: warning.source }, formatFinding(warning));
      summary.warnings.push(formatFinding(warning));
    }
    const plan = planOf();
    if (config.debugMover) await debugPause(output, config, binary, paths.configFile);
    await Promise.race([execute(plan, ctx), stop.stopped]);
    summary.result = 'SUCCESS';
    summary.exitCode = ExitCode.Success;
  } catch (caught) {
    summary.result = 'FAILURE';
    // A run that ends badly may have been killed by a full cache volume: say so, with the fix.
    const exhausted = cacheExhaustion(config.cacheDir, config.cache.capacityBytes);
    const error = exhausted ? new CacheExhaustedError(exhausted, caught) : caught;
    summary.failure = shownFailure(failureOf(error), error instanceof MoverError ? error.kopiaOutput : undefined);
    // A failing action is exit 4 whether the mover ran it (a hook) or kopia did (an essential policy action).
    summary.exitCode = summary.failure.class === 'ActionFailed' ? ExitCode.BeforeSnapshotAction : exitCodeOf(error);
    if (error instanceof MoverError) {
      summary.reason = error.message;
      summary.kopiaErrorOutput = error.kopiaOutput;
      if (error instanceof ConfigError) {
        for (const issue of error.issues) output.log.error({ variable: issue.source }, `configuration error: ${issue.source}: ${issue.message}`);
      }
    } else {
      // Never JavaScript's own words as the reason: they mean nothing to an operator.
      summary.reason = unexpectedFailure(error).reason;
      output.log.debug({ error: error instanceof Error ? error.stack : String(error) }, 'unexpected error');
    }
    output.log.error(
      { exitCode: summary.exitCode, failureClass: summary.failure.class, retryable: summary.failure.retryable, fix: summary.failure.fix },
      summary.reason ?? 'failed',
    );
  } finally {
    heap.dispose();
    stop.dispose();
    runner.cleanup();
    try {
      scrubSavedSecrets(config);
    } catch (error) {
      summary.warnings.push(`could not remove storage credentials from kopia.config: ${(error as Error).message}`);
    }
    await finishLogs(config, paths.logDir, output).catch((error: unknown) => {
      summary.warnings.push(`could not move kopia's log files onto the cache volume: ${(error as Error).message}`);
    });
    claimed?.release();
  }
  summary.durationSeconds = (Date.now() - started) / 1000;
  summary.kopiaProcesses = runner.spawnCount;
  output.log.info(memoryFields(heap.peak()), 'memory');
  printSummary(output, summary, terminationLog);
  return summary.exitCode;
}
