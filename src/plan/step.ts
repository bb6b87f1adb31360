import type { KopiaCommand } from '../kopia/command.js';
import type { KopiaResult, RunOptions } from '../kopia/runner.js';
import type { MoverError } from '../errors.js';
import type { RunContext } from './context.js';
import type { Outcome } from '../kopia/failures.js';

/** What a kopia step ended as, in the words conditions use: kopia's output read by the one classifier. */
export type { Outcome };

/** When a step runs, as data: printed by `plan`, evaluated by the executor. */
export type Condition =
  | { on: 'outcome'; step: string; is: readonly Outcome[] }
  | { on: 'flag'; name: string; describe: string }
  | { on: 'any'; of: readonly Condition[] }
  | { on: 'all'; of: readonly Condition[] };

/** An argument known only once an earlier step has run, e.g. the snapshot a restore selected. */
export interface Placeholder {
  ref: string;
  /** How `plan` shows it, e.g. `<selected snapshot>`. */
  shown: string;
}

export type Arg = string | Placeholder;

/** A kopia command whose arguments may name placeholders. */
export type PlannedCommand = Omit<KopiaCommand, 'args'> & { args: Arg[] };

/** Everything a running plan knows: outcomes and results of the steps so far, flags, values. */
export interface RunState {
  ctx: RunContext;
  outcomes: Map<string, Outcome>;
  results: Map<string, KopiaResult>;
  flags: Set<string>;
  values: Map<string, string>;
  /** Set by a step that ends the run early and successfully (nothing to back up or restore). */
  stopped?: string;
}

interface StepBase {
  /** Names the step for conditions that refer to it. */
  id: string;
  when?: Condition;
}

export interface KopiaStep extends StepBase {
  kind: 'kopia';
  command: PlannedCommand;
  /** Outcomes that do not stop the run: later steps look at them. */
  continueOn?: readonly Outcome[];
  /** Run again, with growing pauses, while the outcome is one of these, for at most `forMs`. */
  retry?: { while: readonly Outcome[]; forMs: number; firstPauseMs: number };
  /**
   * Outcomes other than `ok` that this step expects, each with the info line the run logs for it
   * in place of kopia's exit-code warning (a first connect that finds no repository yet).
   */
  expected?: Partial<Record<Outcome, string>>;
  /** A failure known to be harmless: returns what to log, or undefined when it is not one. */
  tolerate?: (result: KopiaResult) => string | undefined;
  /** Where stdout goes when it must not be held whole. */
  stream?: (state: RunState) => RunOptions;
  /** What the run does with kopia's answer once the step succeeded. */
  after?: (result: KopiaResult, state: RunState) => void | Promise<void>;
  /** The error a failure ends the run with; default: repository or operation failure by kopia's words. */
  fail?: (result: KopiaResult, state: RunState) => MoverError;
}

export interface InternalStep extends StepBase {
  kind: 'internal';
  /** What the step does, for `plan`. */
  describe: string;
  run: (state: RunState) => void | Promise<void>;
}

export type Step = KopiaStep | InternalStep;

export interface Plan {
  /** What the plan does, for `plan`'s first line. */
  title: string;
  steps: Step[];
}

export function holds(condition: Condition, state: RunState): boolean {
  switch (condition.on) {
    case 'outcome': {
      const outcome = state.outcomes.get(condition.step);
      return outcome !== undefined && condition.is.includes(outcome);
    }
    case 'flag':
      return state.flags.has(condition.name);
    case 'any':
      return condition.of.some((c) => holds(c, state));
    case 'all':
      return condition.of.every((c) => holds(c, state));
  }
}

const OUTCOME_WORDS: Readonly<Record<Outcome, string>> = {
  ok: 'succeeded',
  'not-initialized': 'found no repository',
  'creation-in-flight': 'found a creation in progress',
  'create-lost': 'found another mover had created it',
  failed: 'failed',
};

/** A condition in words, for `plan`. */
export function describeCondition(condition: Condition): string {
  switch (condition.on) {
    case 'outcome':
      return `${condition.step} ${condition.is.map((o) => OUTCOME_WORDS[o]).join(' or ')}`;
    case 'flag':
      return condition.describe;
    case 'any':
      return condition.of.map(describeCondition).join(', or ');
    case 'all':
      return condition.of.map(describeCondition).join(', and ');
  }
}

/** The arguments with every placeholder replaced by the value an earlier step found. */
export function resolveArgs(args: readonly Arg[], values: ReadonlyMap<string, string>): string[] {
  return args.map((a) => {
    if (typeof a === 'string') return a;
    const value = values.get(a.ref);
    if (value === undefined) throw new Error(`no value for ${a.shown} when the step ran`);
    return value;
  });
}

/** The arguments as `plan` shows them. */
export function shownArgs(args: readonly Arg[]): string[] {
  return args.map((a) => (typeof a === 'string' ? a : a.shown));
}
