import type { EnvMap } from '../config/env-source.js';
import type { MoverConfig } from '../config/types.js';
import { MoverError, OperationError, RepositoryError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { repositoryUnavailable } from '../kopia/errors.js';
import type { KopiaResult, KopiaRunner } from '../kopia/runner.js';
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
}

type ErrorFactory = (message: string, kopiaOutput: string) => MoverError;

/**
 * Runs a step and turns a failure into the right error: a repository that
 * cannot be opened (wrong password, unreachable) is exit 3 whatever the step was.
 */
export async function runStep(
  ctx: RunContext,
  command: KopiaCommand,
  onFailure: ErrorFactory = (m, o) => new OperationError(m, o),
): Promise<KopiaResult> {
  const result = await ctx.runner.run(command);
  if (result.exitCode === 0) return result;
  const output = result.tail.join('\n');
  if (repositoryUnavailable(result.tail)) {
    throw new RepositoryError(`${command.purpose} failed: the repository could not be opened`, output);
  }
  throw onFailure(`${command.purpose} failed (kopia exit code ${result.exitCode})`, output);
}
