import { join } from 'node:path';
import type { EnvMap } from '../env.js';
import { parseConfig, type InputNames, type MoverConfig } from '../config/parse.js';
import { ExitCode } from '../errors.js';
import { loadFacts, type Facts } from '../facts.js';
import type { SecretFile } from '../kopia/command.js';
import { environmentSecrets, kopiaEnvironment, secretValues } from '../kopia/environment.js';
import { globalFlags, kopiaPaths } from '../kopia/global-flags.js';
import { locateKopia } from '../kopia/locate.js';
import { RUN_DIR_PREFIX, type RunDir } from '../kopia/run-dir.js';
import { KopiaRunner } from '../kopia/runner.js';
import { execute } from '../plan/executor.js';
import { printPlan } from '../plan/print.js';
import type { Plan } from '../plan/step.js';
import { Output } from '../report/output.js';
import { logFailure, summaryOf, type RunSummary } from '../report/summary.js';
import { finishLogs, formatFor, prepareDirectories, systemFacts } from '../run.js';
import { stopOnSignals } from '../signals.js';
import { scrubSavedSecrets } from './connect.js';
import { preflightProblems, refuseOnProblems } from './preflight.js';

/** How a command that only reads the repository (`snapshots`, `status`) was started. */
export interface ReadingOptions {
  env: EnvMap;
  /** The flags (and files) the command line gave inputs by, so problems are named as typed. */
  inputs?: InputNames;
  dryRun?: boolean;
  onSpawn?: (argv: string[]) => void;
  appDir?: string;
}

/** What a reading command plans once its inputs are read, and prints once its plan has run. */
export interface Reading {
  plan: Plan;
  /** Prints the result on stdout and returns the exit code. */
  print: (out: Output) => number;
}

/** Says why the reading failed, on the log (stderr), and returns the exit code. */
function failed(log: Output, error: unknown): number {
  logFailure(log, error);
  return summaryOf(error).exitCode;
}

/**
 * Runs a command that reads the repository and writes nothing there: it connects as a restore does
 * (never creating), runs its plan and prints its result alone on stdout; the log, errors included,
 * goes to stderr. `build` turns the checked configuration into the plan, and may refuse an input
 * of its own (a ConfigError, exit 2) before any kopia process.
 */
export async function readRepository(options: ReadingOptions, build: (config: MoverConfig, facts: Facts, env: EnvMap) => Reading): Promise<number> {
  // The log goes to stderr, so whether stderr is a terminal decides its form, unless KOPIA_MOVER_LOG_FORMAT does.
  const format = options.env['KOPIA_MOVER_LOG_FORMAT'] === undefined && process.stderr.isTTY ? 'pretty' : formatFor(options.env);
  const log = new Output(format, environmentSecrets(options.env), 2);
  const out = new Output('pretty', environmentSecrets(options.env), 1);
  // KOPIA_ADDITIONAL_ARGS go to an operation's main command; a reading has none.
  const env: EnvMap = { ...options.env, KOPIA_ADDITIONAL_ARGS: undefined };
  let config: MoverConfig;
  let facts: Facts;
  let reading: Reading;
  try {
    // Read as for maintenance: the repository, identity, cache and logging every operation shares, and
    // no DATA_DIR required. DATA_DIR and KOPIA_SOURCE_PATH_OVERRIDE are validated all the same.
    config = parseConfig(env, { operation: 'maintenance', system: systemFacts(env), inputs: options.inputs });
    facts = loadFacts(config);
    reading = build(config, facts, env);
  } catch (error) {
    return failed(log, error);
  }
  for (const o of [log, out]) o.setSecrets(secretValues(config, env));
  const binary = locateKopia(env['KOPIA_BIN'], env['PATH'], options.appDir);
  const runnerFor = (runDir: string, stop?: AbortSignal) =>
    new KopiaRunner({
      binary,
      globalFlags: globalFlags(config, kopiaPaths(config, runDir)),
      env: kopiaEnvironment(config, env),
      output: log,
      progressIntervalMs: config.output.progressIntervalMs,
      onSpawn: options.onSpawn,
      tempDir: runDir,
      stop,
      stopGraceMs: config.output.signalGraceMs,
      stallMs: config.output.stallMs,
    });
  if (options.dryRun) {
    const planner = runnerFor(join(config.tmpDir, `${RUN_DIR_PREFIX}<this run>`));
    printPlan(out, reading.plan, (args, files) => [binary, ...planner.argv({ args, purpose: '', secretFiles: [...files] as SecretFile[] })]);
    return ExitCode.Success;
  }
  let claimed: RunDir;
  try {
    refuseOnProblems(preflightProblems(config, facts));
    claimed = await prepareDirectories(config);
  } catch (error) {
    return failed(log, error);
  }
  const stop = stopOnSignals(log, config.output.signalGraceMs);
  const runner = runnerFor(claimed.path, stop.signal);
  stop.watch(runner);
  // Required by the steps' context; a reading prints no summary, and its steps log their warnings as they arise.
  const summary: RunSummary = { operation: 'unknown', result: 'FAILURE', exitCode: ExitCode.OperationFailed, warnings: [], notes: [], durationSeconds: 0, kopiaProcesses: 0 };
  try {
    await Promise.race([execute(reading.plan, { config, runner, output: log, summary, parentEnv: env, paths: kopiaPaths(config, claimed.path), stop: stop.signal }), stop.stopped]);
  } catch (error) {
    return failed(log, error);
  } finally {
    stop.dispose();
    runner.cleanup();
    try {
      scrubSavedSecrets(config);
    } catch (error) {
      log.log.warn(`could not remove storage credentials from kopia.config: ${(error as Error).message}`);
    }
    await finishLogs(config, kopiaPaths(config, claimed.path).logDir, log).catch(() => undefined);
    claimed.release();
  }
  return reading.print(out);
}
