import type { EnvMap } from '../config/env-source.js';
import type { MoverConfig } from '../config/types.js';
import { repeatedFlags, type Replacement } from '../config/additional-args.js';
import { ConfigError, MoverError, OperationError, RepositoryError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import type { KopiaPaths } from '../kopia/global-flags.js';
import { repositoryUnavailable } from '../kopia/errors.js';
import { classifyKopiaOutput, KNOWN_FAILURES } from '../kopia/failures.js';
import { cacheCorruption, clearRebuildableCache } from './cache-recovery.js';
import type { KopiaResult, KopiaRunner, RunOptions } from '../kopia/runner.js';
import type { Output } from '../report/output.js';
import type { RunSummary } from '../report/summary.js';

/** What every operation works with. */
export interface RunContext {
  config: MoverConfig;
  runner: KopiaRunner;
  output: Output;
  summary: RunSummary;
  /** The program's own environment, for hooks (secrets removed there). */
  parentEnv: EnvMap;
  /** Where kopia keeps its config and writes its logs in this run. */
  paths: KopiaPaths;
  /** Set once the cache has been cleared in this run: it is retried only once. */
  cacheRecoveryTried?: boolean;
}

/**
 * Runs one kopia command. When kopia cannot load the local cache (corrupt
 * index files), the rebuildable cache is cleared under the safety rules and
 * the command retried once; a refusal fails the run naming the reason.
 */
export async function runKopia(ctx: RunContext, command: KopiaCommand, options: RunOptions = {}): Promise<KopiaResult> {
  const result = await ctx.runner.run(command, options);
  if (result.exitCode === 0 || !cacheCorruption(result.tail)) return result;
  if (ctx.cacheRecoveryTried) {
    throw new RepositoryError('the local cache is still unreadable after it was cleared once in this run', result.tail.join('\n'), KNOWN_FAILURES.CacheError);
  }
  ctx.cacheRecoveryTried = true;
  ctx.output.log.warn({ cacheDir: ctx.config.cacheDir }, 'kopia cannot load its local cache: clearing the rebuildable cache folders');
  const cleared = clearRebuildableCache(ctx.config);
  if (!cleared.cleared) {
    throw new RepositoryError(`the local cache is corrupt and was not cleared: ${cleared.reason}`, result.tail.join('\n'), KNOWN_FAILURES.CacheError);
  }
  ctx.output.log.warn({ folders: cleared.folders }, 'cache cleared; retrying');
  ctx.summary.warnings.push(`the local cache was corrupt; cleared what kopia rebuilds (${cleared.folders.length} item(s) left to clear) and retried`);
  return ctx.runner.run(command, options);
}

/**
 * Before any kopia process: the operation's main command must not give kopia a flag twice (kopia
 * refuses it, after the repository may already have been created and the before-action run). A
 * flag the program sets that KOPIA_ADDITIONAL_ARGS sets too was given once, the user's value
 * winning: say so.
 */
export function checkMainCommand(ctx: RunContext, name: string, built: { args: string[]; replaced: Replacement[] }): void {
  const repeated = repeatedFlags(built.args);
  if (repeated.length > 0) {
    throw new ConfigError({ source: 'KOPIA_ADDITIONAL_ARGS', message: `kopia ${name} would get ${repeated.join(', ')} more than once; give each flag once` });
  }
  for (const r of built.replaced) {
    const warning = `KOPIA_ADDITIONAL_ARGS ${r.theirs} used for kopia ${name} instead of the mover's own ${r.ours}`;
    ctx.output.log.warn({ flag: r.flag, used: r.theirs, replaced: r.ours }, warning);
    ctx.summary.warnings.push(warning);
  }
}

type ErrorFactory = (message: string, kopiaOutput: string) => MoverError;

/**
 * Runs a step and turns a failure into the right error: a repository that
 * cannot be opened (wrong password, unreachable) is exit 3 whatever the step was.
 */
export interface StepOptions extends RunOptions {
  /** A failure that is known to be harmless: returns what to log instead, or undefined when it is not one. */
  tolerated?: (result: KopiaResult) => string | undefined;
}

export async function runStep(
  ctx: RunContext,
  command: KopiaCommand,
  onFailure: ErrorFactory = (m, o) => new OperationError(m, o),
  options: StepOptions = {},
): Promise<KopiaResult> {
  const result = await runKopia(ctx, command, options);
  if (result.exitCode === 0) return result;
  const harmless = options.tolerated?.(result);
  if (harmless !== undefined) {
    ctx.output.log.info({ kopia: command.args.slice(0, 2).join(' '), exitCode: result.exitCode }, harmless);
    return result;
  }
  const output = result.tail.join('\n');
  if (repositoryUnavailable(result.tail)) {
    throw new RepositoryError(`${command.purpose} failed: ${classifyKopiaOutput(output)?.what ?? 'the repository could not be opened'}`, output);
  }
  throw onFailure(`${command.purpose} failed (kopia exit code ${result.exitCode})`, output);
}
