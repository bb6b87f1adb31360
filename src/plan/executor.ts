import { MoverError, OperationError, RepositoryError } from '../errors.js';
import { classifyKopiaOutput, type Verdict } from '../kopia/failures.js';
import type { KopiaResult } from '../kopia/runner.js';
import { runKopia, type RunContext } from './context.js';
import { holds, resolveArgs, type KopiaStep, type Outcome, type Plan, type RunState } from './step.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How a kopia process ended, read from its raw words; the redacted tail is only for printing. */
const verdictOf = (result: KopiaResult): Verdict => classifyKopiaOutput(result.rawTail, result.exitCode);
const outcomeOf = (result: KopiaResult): Outcome => verdictOf(result).outcome;

/** A step's error with the class of kopia's raw output, unless the step knew the class better. */
function classified(error: unknown, result: KopiaResult): unknown {
  if (error instanceof MoverError) error.classifiedAs(verdictOf(result));
  return error;
}

/** A failure with no error of its own: the repository when kopia could not open it, else the operation. */
function defaultFailure(step: KopiaStep, result: KopiaResult): Error {
  const output = result.tail.join('\n');
  const verdict = verdictOf(result);
  const known = verdict.class !== 'Unknown';
  if (verdict.opening) {
    return new RepositoryError(`${step.command.purpose} failed: ${known ? verdict.what : 'the repository could not be opened'}`, output, verdict);
  }
  return new OperationError(`${step.command.purpose} failed (kopia exit code ${result.exitCode})${known ? `: ${verdict.what}` : ''}`, output, verdict);
}

async function runKopiaStep(step: KopiaStep, state: RunState): Promise<void> {
  const { ctx } = state;
  const command = { ...step.command, args: resolveArgs(step.command.args, state.found) };
  // An outcome the step expects, or a failure it tolerates, is logged as info in kopia's warning's place.
  const expected = (r: KopiaResult) => step.expected?.[outcomeOf(r)] ?? step.tolerate?.(r);
  // Each process gets a reader of its own: a retry's output never meets the output of the try before.
  let reader = step.stream?.(state);
  let result = await runKopia(ctx, command, { ...reader?.options, expected });
  let outcome = outcomeOf(result);
  if (step.retry) {
    const deadline = Date.now() + step.retry.forMs;
    for (let pause = step.retry.firstPauseMs; step.retry.while.includes(outcome) && Date.now() + pause <= deadline; pause = Math.min(pause * 2, 8000)) {
      // Jittered, so movers that wait for the same thing do not ask again in step.
      await sleep(pause / 2 + (Math.random() * pause) / 2);
      reader = step.stream?.(state);
      result = await runKopia(ctx, command, { ...reader?.options, expected });
      outcome = outcomeOf(result);
    }
  }
  state.results.set(step.id, result);
  if (outcome !== 'ok' && step.tolerate?.(result) !== undefined) outcome = 'ok';
  state.outcomes.set(step.id, outcome);
  if (outcome === 'ok') {
    try {
      await reader?.finish?.(result, state);
      await step.after?.(result, state);
    } catch (error) {
      throw classified(error, result);
    }
    return;
  }
  if (step.continueOn?.includes(outcome)) return;
  // A repository that cannot be opened (wrong password, unreachable) is exit 3, whatever the step.
  const own = step.fail?.(result, state);
  if (own instanceof RepositoryError || (own !== undefined && !verdictOf(result).opening)) throw classified(own, result);
  throw defaultFailure(step, result);
}

/**
 * Runs a plan: each step whose condition holds, in order. The only place steps are carried out;
 * `plan` prints the same steps. A step may end the run early (nothing to do), which is a success.
 */
export async function execute(plan: Plan, ctx: RunContext): Promise<RunState> {
  const state: RunState = { ctx, outcomes: new Map(), results: new Map(), found: {} };
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
