import { OperationError, RepositoryError } from '../errors.js';
import { createLost, creationInFlight, repositoryMissing, repositoryUnavailable } from '../kopia/errors.js';
import { classifyKopiaOutput } from '../kopia/failures.js';
import type { KopiaResult } from '../kopia/runner.js';
import { runKopia, type RunContext } from './context.js';
import { holds, resolveArgs, type KopiaStep, type Outcome, type Plan, type RunState } from './step.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a kopia process ended as. */
function outcomeOf(result: KopiaResult): Outcome {
  if (result.exitCode === 0) return 'ok';
  if (repositoryMissing(result.tail)) return 'not-initialized';
  if (createLost(result.tail)) return 'create-lost';
  if (creationInFlight(result.tail)) return 'creation-in-flight';
  return 'failed';
}

/** A failure with no error of its own: the repository when kopia could not open it, else the operation. */
function defaultFailure(step: KopiaStep, result: KopiaResult): Error {
  const output = result.tail.join('\n');
  if (repositoryUnavailable(result.tail)) {
    return new RepositoryError(`${step.command.purpose} failed: ${classifyKopiaOutput(output)?.what ?? 'the repository could not be opened'}`, output);
  }
  return new OperationError(`${step.command.purpose} failed (kopia exit code ${result.exitCode})`, output);
}

async function runKopiaStep(step: KopiaStep, state: RunState): Promise<void> {
  const { ctx } = state;
  const command = { ...step.command, args: resolveArgs(step.command.args, state.values) };
  const options = step.stream?.(state) ?? {};
  let result = await runKopia(ctx, command, options);
  let outcome = outcomeOf(result);
  if (step.retry) {
    const deadline = Date.now() + step.retry.forMs;
    for (let pause = step.retry.firstPauseMs; step.retry.while.includes(outcome) && Date.now() + pause <= deadline; pause = Math.min(pause * 2, 8000)) {
      // Jittered, so movers that wait for the same thing do not ask again in step.
      await sleep(pause / 2 + (Math.random() * pause) / 2);
      result = await runKopia(ctx, command, step.stream?.(state) ?? {});
      outcome = outcomeOf(result);
    }
  }
  state.results.set(step.id, result);
  if (outcome !== 'ok') {
    const harmless = step.tolerate?.(result);
    if (harmless !== undefined) {
      ctx.output.log.info({ kopia: command.args.slice(0, 2).join(' '), exitCode: result.exitCode }, harmless);
      outcome = 'ok';
    }
  }
  state.outcomes.set(step.id, outcome);
  if (outcome === 'ok') {
    await step.after?.(result, state);
    return;
  }
  if (step.continueOn?.includes(outcome)) return;
  // A repository that cannot be opened (wrong password, unreachable) is exit 3, whatever the step.
  const own = step.fail?.(result, state);
  if (own instanceof RepositoryError || (own !== undefined && !repositoryUnavailable(result.tail))) throw own;
  throw defaultFailure(step, result);
}

/**
 * Runs a plan: each step whose condition holds, in order. The only place steps are carried out;
 * `plan` prints the same steps. A step may end the run early (nothing to do), which is a success.
 */
export async function execute(plan: Plan, ctx: RunContext): Promise<RunState> {
  const state: RunState = { ctx, outcomes: new Map(), results: new Map(), flags: new Set(), values: new Map() };
  for (const step of plan.steps) {
    if (state.stopped !== undefined) break;
    // A stop requested during an internal step is heard here too: no further step starts.
    if (ctx.stop?.aborted) throw ctx.stop.reason instanceof Error ? ctx.stop.reason : new Error('stopped');
    if (step.when && !holds(step.when, state)) continue;
    if (step.kind === 'internal') await step.run(state);
    else await runKopiaStep(step, state);
  }
  return state;
}
