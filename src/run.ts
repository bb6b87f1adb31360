import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname, homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { EnvSource, type EnvMap } from './env.js';
import { directionOperation, metricsPushgateway, parseConfig, reportedIdentity, type InputNames, type SystemFacts } from './config/parse.js';
import type { MoverConfig } from './config/parse.js';
import type { Operation } from './config/types.js';
import { CacheExhaustedError, ConfigError, ExitCode, OutOfMemoryError, unexpectedFailure } from './errors.js';
import { loadFacts, type Facts } from './facts.js';
import type { SecretFile } from './kopia/command.js';
import { environmentSecrets, kopiaEnvironment, secretValues } from './kopia/environment.js';
import { KNOWN_FAILURES } from './kopia/failures.js';
import { globalFlags, kopiaPaths, type KopiaPaths } from './kopia/global-flags.js';
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
import { printChanges } from './plan/changes.js';
import { printPlan } from './plan/print.js';
import type { Plan } from './plan/step.js';
import { formatFinding } from './findings.js';
import { mebibytes, memoryFields, watchHeap } from './memory.js';
import { gatewayName, pushRunMetrics } from './report/metrics.js';
import { Output } from './report/output.js';
import { logFailure, printSummary, summaryOf, writeTerminationMessage, type RunSummary } from './report/summary.js';
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
  /** `plan` and `--dry-run`: also read the repository (read-only) to show what the run would change. */
  readRepository?: boolean;
}

export function formatFor(env: EnvMap): 'json' | 'pretty' {
  const f = env['KOPIA_MOVER_LOG_FORMAT'];
  if (f === 'json' || f === 'pretty') return f;
  return process.stdout.isTTY ? 'pretty' : 'json';
}

/** Where a run reports: its log, its summary, and the termination message file (named by the config once read). */
interface Report {
  output: Output;
  summary: RunSummary;
  terminationLog: string;
}

/** What a run knows once its inputs are read and checked, before any kopia process. */
interface Prepared {
  options: RunOptions;
  report: Report;
  config: MoverConfig;
  facts: Facts;
  problems: PreflightProblem[];
  runDir: string;
  claimed?: RunDir;
  paths: KopiaPaths;
  binary: string;
}

/** What a run that starts kopia holds while its plan runs. */
interface RunResources {
  runner: KopiaRunner;
  stop: ReturnType<typeof stopOnSignals>;
}

/** Runs one operation end to end and returns the exit code. Never calls process.exit. */
export async function run(options: RunOptions): Promise<number> {
  const started = Date.now();
  const report = startReport(options);
  let prepared: Prepared;
  try {
    prepared = await prepare(options, report);
  } catch (error) {
    return await notPrepared(options, report, error);
  }
  if (options.dryRun) return printThePlan(prepared);
  await withRunResources(prepared, (resources) => executePlan(prepared, resources));
  report.summary.durationSeconds = (Date.now() - started) / 1000;
  await pushMetrics(options, report);
  printSummary(report.output, report.summary, report.terminationLog);
  return report.summary.exitCode;
}

/**
 * With KOPIA_MOVER_METRICS_PUSHGATEWAY set (and valid), the run's result goes to the gateway before
 * the summary is printed, so a push that failed is a warning there; it never changes the result.
 */
async function pushMetrics(options: RunOptions, report: Report): Promise<void> {
  const gateway = metricsPushgateway(options.env);
  if (gateway === undefined) return;
  const { output, summary } = report;
  summary.endedAtMs = Date.now();
  summary.peakMemoryBytes ??= process.resourceUsage().maxRSS * 1024;
  const operation = summary.operation === 'unknown' || summary.operation === 'validate' ? undefined : summary.operation;
  const identity = reportedIdentity(options.env, operation, systemFacts(options.env));
  const warning = await pushRunMetrics(gateway, { operation: summary.operation, identity, summary });
  if (warning === undefined) {
    output.log.info({ gateway: gatewayName(gateway) }, 'metrics pushed');
    return;
  }
  output.log.warn({ gateway: gatewayName(gateway) }, warning);
  summary.warnings.push(warning);
}

/** The run's output, and its summary as it stands before anything is known: a failure until it succeeds. */
function startReport(options: RunOptions): Report {
  // KOPIA_LOG_LEVEL=debug also shows the program's own debug records: the details of an unexpected error.
  const level = options.env['KOPIA_LOG_LEVEL'] === 'debug' ? 'debug' : 'info';
  const output = new Output(formatFor(options.env), environmentSecrets(options.env), 1, level);
  const summary: RunSummary = {
    startedAtMs: Date.now(),
    operation: options.operation ?? directionOperation(options.env) ?? 'unknown',
    result: 'FAILURE',
    exitCode: ExitCode.OperationFailed,
    warnings: [],
    notes: [],
    durationSeconds: 0,
    kopiaProcesses: 0,
  };
  return { output, summary, terminationLog: options.env['KOPIA_MOVER_TERMINATION_LOG'] ?? '/dev/termination-log' };
}

/**
 * Reads and checks everything before any kopia process: the configuration, then the same checks as
 * `validate` (every problem they find is listed before anything is written), then the run's folders.
 */
async function prepare(options: RunOptions, report: Report): Promise<Prepared> {
  const { output, summary } = report;
  const config = parseConfig(options.env, { operation: options.operation, system: systemFacts(options.env), inputs: options.inputs, passwordOptional: options.dryRun });
  output.setSecrets(secretValues(config, options.env));
  for (const warning of shortSecretWarnings(config, options.env)) {
    output.log.warn({ variable: warning.source }, formatFinding(warning));
    summary.warnings.push(formatFinding(warning));
  }
  report.terminationLog = config.output.terminationLog;
  summary.operation = config.operation;
  // Maintenance reports its status whatever ends it, also a failure before any kopia process.
  if (config.operation === 'maintenance') summary.maintenance = { status: 'FAILURE' };
  const facts = loadFacts(config);
  const problems = preflightProblems(config, facts);
  if (problems.some((p) => !p.repository)) refuseOnProblems(problems);
  const claimed = options.dryRun ? undefined : await prepareDirectories(config);
  const runDir = claimed?.path ?? join(config.tmpDir, `${RUN_DIR_PREFIX}<this run>`);
  const binary = locateKopia(options.env['KOPIA_BIN'], options.env['PATH'], options.appDir);
  return { options, report, config, facts, problems, runDir, claimed, paths: kopiaPaths(config, runDir), binary };
}

/**
 * A run whose inputs are wrong ends before any kopia process as a configuration error naming each
 * input; anything unexpected while reading them is one too, in plain words. A plan prints no summary.
 */
async function notPrepared(options: RunOptions, report: Report, caught: unknown): Promise<number> {
  const { output, summary } = report;
  if (!(caught instanceof ConfigError)) output.log.debug({ error: caught instanceof Error ? caught.stack : String(caught) }, 'unexpected error reading the configuration');
  const error = caught instanceof ConfigError ? caught : new ConfigError({ source: 'environment', message: unexpectedFailure(caught).reason });
  logFailure(output, error);
  Object.assign(summary, summaryOf(error));
  if (options.dryRun) return summary.exitCode;
  summary.durationSeconds = (Date.now() - (summary.startedAtMs ?? Date.now())) / 1000;
  await pushMetrics(options, report);
  printSummary(output, summary, report.terminationLog);
  return summary.exitCode;
}

/** The runner of this run's kopia processes; a plan's has no stop signal, as it starts none. */
function runnerFor(p: Prepared, stop?: AbortSignal): KopiaRunner {
  const { config } = p;
  return new KopiaRunner({
    binary: p.binary,
    globalFlags: globalFlags(config, p.paths),
    env: kopiaEnvironment(config, p.options.env),
    output: p.report.output,
    progressIntervalMs: config.output.progressIntervalMs,
    progressEveryFiles: config.output.progressEveryFiles,
    onSpawn: p.options.onSpawn,
    tempDir: p.runDir,
    stop,
    stopGraceMs: p.options.signalGraceMs ?? config.output.signalGraceMs,
    stallMs: config.output.stallMs,
  });
}

/** The operation's steps, the same for `plan` and the run. */
function planOf({ config, facts, problems }: Prepared): Plan {
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
}

/**
 * `plan` and `--dry-run`: the kopia commands the run would start, secrets redacted; starts none of
 * them. Then what the run would change: from this cache's record alone, or, with --read-repository
 * and the password, from the repository read through a throwaway read-only connection.
 */
async function printThePlan(p: Prepared): Promise<number> {
  const { output } = p.report;
  try {
    const planner = runnerFor(p);
    const plan = planOf(p);
    printPlan(output, plan, (args, files) => [p.binary, ...planner.argv({ args, purpose: '', secretFiles: [...files] as SecretFile[] })]);
    // A plan runs nothing and needs no password: it says where the run's would come from, never what it is.
    const hasPassword = new EnvSource(p.options.env).has('KOPIA_PASSWORD');
    const given = hasPassword ? 'given' : 'not given: the run needs --password-file or KOPIA_PASSWORD';
    output.line(`# KOPIA_PASSWORD=<password> in kopia's environment (${given})`);
    const offline = !p.options.readRepository
      ? 'the plan reads the repository only when asked (--read-repository, with the password)'
      : !hasPassword
        ? 'no password was given (--password-file or KOPIA_PASSWORD) to read the repository with'
        : undefined;
    const applied = { policies: p.facts.applied.policies, throttle: p.facts.applied.throttle };
    await printChanges(output, { config: p.config, env: p.options.env, binary: p.binary, output, plan, applied, offline });
    return ExitCode.Success;
  } catch (error) {
    const { reason, exitCode } = summaryOf(error);
    output.log.error(reason);
    return exitCode;
  }
}

/**
 * Runs `body` with what a run that starts kopia holds, and releases all of it however the body
 * ends: the termination message says the run did not finish until the summary replaces it (a
 * process that dies without a word, by the kernel's OOM killer, SIGKILL or a V8 heap abort, leaves
 * it behind); signals and a heap about to overflow stop the run while there is memory left to
 * report it; afterwards the stored credentials go and kopia's logs are kept.
 */
async function withRunResources(p: Prepared, body: (resources: RunResources) => Promise<void>): Promise<void> {
  const { config, report } = p;
  const { output, summary } = report;
  const unfinished = `${config.operation} did not finish: the mover was killed or crashed before its summary (see the end of the pod log)`;
  writeTerminationMessage(output, { ...summary, reason: unfinished, failure: KNOWN_FAILURES.Killed }, report.terminationLog);
  const stop = stopOnSignals(output, p.options.signalGraceMs ?? config.output.signalGraceMs);
  const runner = runnerFor(p, stop.signal);
  stop.watch(runner);
  const heap = watchHeap(({ liveBytes, limitBytes }) => {
    const message = `out of memory: ${mebibytes(liveBytes)} MiB of the mover's ${mebibytes(limitBytes)} MiB heap still in use after garbage collection; stopped before Node would abort`;
    output.log.error({ heapLiveMiB: Number(mebibytes(liveBytes)), heapLimitMiB: Number(mebibytes(limitBytes)) }, message);
    stop.stop(new OutOfMemoryError(message));
  });
  try {
    await body({ runner, stop });
  } finally {
    heap.dispose();
    stop.dispose();
    runner.cleanup();
    await releaseRun(p);
  }
  summary.kopiaProcesses = runner.spawnCount;
  summary.peakMemoryBytes = process.resourceUsage().maxRSS * 1024;
  output.log.info(memoryFields(heap.peak()), 'memory');
}

/** After the last kopia process: no storage credentials left in kopia.config, kopia's logs kept, the run's folder given back. */
async function releaseRun({ config, paths, claimed, report: { output, summary } }: Prepared): Promise<void> {
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

/** Carries out the operation's plan, and records in the summary how it ended. */
async function executePlan(p: Prepared, { runner, stop }: RunResources): Promise<void> {
  const { config, paths, report } = p;
  const { output, summary } = report;
  const ctx: RunContext = { config, runner, output, summary, parentEnv: p.options.env, paths, stop: stop.signal };
  try {
    const identity = `${config.identity.username}@${config.identity.hostname}`;
    output.log.info({ operation: config.operation, repository: config.storage?.description, identity }, `kopia-mover ${config.operation} starting`);
    for (const warning of config.configWarnings) {
      output.log.warn({ variable: warning.source }, formatFinding(warning));
      summary.warnings.push(formatFinding(warning));
    }
    const plan = planOf(p);
    if (config.debugMover) await debugPause(output, config, p.binary, paths.configFile);
    await Promise.race([execute(plan, ctx), stop.stopped]);
    summary.result = 'SUCCESS';
    summary.exitCode = ExitCode.Success;
  } catch (caught) {
    // A run that ends badly may have been killed by a full cache volume: say so, with the fix.
    const exhausted = cacheExhaustion(config.cacheDir, config.cache.capacityBytes);
    const error = exhausted ? new CacheExhaustedError(exhausted, caught) : caught;
    Object.assign(summary, summaryOf(error));
    logFailure(output, error);
  }
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
