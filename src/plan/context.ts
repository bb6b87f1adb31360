import type { EnvMap } from '../env.js';
import type { MoverConfig } from '../config/parse.js';
import { RepositoryError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import type { KopiaPaths } from '../kopia/global-flags.js';
import { KNOWN_FAILURES } from '../kopia/failures.js';
import { cacheToClear, clearRebuildableCache } from '../operations/cache-recovery.js';
import type { KopiaResult, KopiaRunner, RunOptions } from '../kopia/runner.js';
import type { Output } from '../report/output.js';
import type { RunSummary } from '../report/summary.js';

/** What every operation works with. */
export interface RunContext {
  config: MoverConfig;
  /** Starts kopia: the run's KopiaRunner (anything with its `run` will do, e.g. in a test of the executor's own logic). */
  runner: Pick<KopiaRunner, 'run'>;
  output: Output;
  summary: RunSummary;
  /** The program's own environment, for hooks (secrets removed there). */
  parentEnv: EnvMap;
  /** Where kopia keeps its config and writes its logs in this run. */
  paths: KopiaPaths;
  /** Aborted when the run is asked to stop: internal steps check it between entries. */
  stop?: AbortSignal;
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
  const part = result.exitCode === 0 ? undefined : cacheToClear(result.rawTail, command.args);
  if (part === undefined) return result;
  if (ctx.cacheRecoveryTried) {
    throw new RepositoryError('the local cache is still unreadable after it was cleared once in this run', result.tail.join('\n'), KNOWN_FAILURES.CacheError);
  }
  ctx.cacheRecoveryTried = true;
  ctx.output.log.warn({ cacheDir: ctx.config.cacheDir }, 'kopia cannot load its local cache: clearing the rebuildable cache folders');
  // A folder whose layout file is damaged, or a cached format blob, is cleared alone: the rest is sound.
  const cleared = clearRebuildableCache(ctx.config, Date.now(), part.only);
  if (!cleared.cleared) {
    throw new RepositoryError(`the local cache is corrupt and was not cleared: ${cleared.reason}`, result.tail.join('\n'), KNOWN_FAILURES.CacheError);
  }
  ctx.output.log.warn({ folders: cleared.folders }, 'cache cleared; retrying');
  ctx.summary.warnings.push(`the local cache was corrupt; cleared what kopia rebuilds (${cleared.folders.length} item(s) left to clear) and retried`);
  return ctx.runner.run(command, options);
}
