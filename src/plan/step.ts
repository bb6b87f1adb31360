import type { KopiaCommand } from '../kopia/command.js';
import type { KopiaResult, RunOptions } from '../kopia/runner.js';
import type { MoverError } from '../errors.js';
import type { SnapshotListing } from '../operations/prune.js';
import type { PolicyOutcome } from '../report/summary.js';
import type { RunContext } from './context.js';
import type { Outcome } from '../kopia/failures.js';

/** What a kopia step ended as, in the words conditions use: kopia's output read by the one classifier. */
export type { Outcome };

/**
 * Every step id a plan may hold. Conditions, and steps that read another step's result, name
 * steps by these, so a misspelt id is a compile error rather than a condition that never holds.
 */
export type StepId =
  // connecting (connectSteps)
  | 'force-cache-rebuild' | 'set-client' | 'cache-set' | 'connect' | `connect-${number}` | 'connected'
  | 'creation-lock' | 'creation-pause' | 'connect-again' | 'create' | 'creation-unlock' | 'connect-created'
  | 'creation-settle' | 'connect-fresh' | 'maintenance-owner' | 'maintenance-owner-result'
  // settings (settingsSteps)
  | 'policy-inputs' | 'policy-header' | 'policies' | 'throttle' | 'policy-summary'
  // backup
  | 'warnings' | 'source-empty' | 'before-snapshot' | 'snapshot' | 'after-snapshot' | 'compare'
  // restore, and the snapshot listing
  | 'list' | 'listing' | 'confine' | 'restore' | 'delete-extras' | 'restored'
  // maintenance
  | 'owner' | 'claim' | 'quick' | 'quick-result' | 'full'
  // the verify after a backup or maintenance (verifySteps)
  | 'verify-cache' | 'verify'
  // the repository report
  | 'report';

/**
 * What a running plan has found out, one typed field each, set by the step that finds it and
 * read by later steps. Unset until then.
 */
export interface PlanState {
  /** This run created the repository (connect-or-create). */
  created?: boolean;
  /** This mover holds a filesystem repository's creation lock. */
  creationLockHeld?: boolean;
  /** Another mover holds a filesystem repository's creation lock. */
  creationLockElsewhere?: boolean;
  /** Maintenance: who owned maintenance before this run (`nobody` when no one did). */
  previousOwner?: string;
  /** Maintenance: another client owns maintenance, nobody does, or quick maintenance is off. */
  claim?: boolean;
  /** Settings: what the policy inputs and the settings steps came to, for the summary. */
  policy?: PolicyOutcome;
  /** Settings: the retention the applied policies lowered, as `keepLatest 50 → 10`. */
  retentionLowered?: string[];
  /** Backup: the ID of the snapshot this run took. */
  snapshot?: string;
  /** Backup: the new snapshot's root, set when its counts cannot tell new files from changed ones. */
  compareRoot?: string;
  /** Restore: the ID of the snapshot selected. */
  selectedSnapshot?: string;
  /** Restore: what the selected snapshot holds, as its manifest counts it. */
  selectedTotals?: { files: number; bytes: number };
  /** Restore: the selected snapshot's listing, read once, serving confinement and deletion. */
  listing?: SnapshotListing;
}

/** The fields of the plan state that hold a value of type V. */
type FieldOf<V> = { [K in keyof PlanState]-?: NonNullable<PlanState[K]> extends V ? K : never }[keyof PlanState];

/**
 * A plan state field a condition can test: it holds once a step has set the field to anything but
 * false (a yes, or a value found).
 */
export type Flag = keyof PlanState;

/** When a step runs, as data: printed by `plan`, evaluated by the executor. */
export type Condition =
  | { on: 'outcome'; step: StepId; is: readonly Outcome[] }
  | { on: 'flag'; flag: Flag; describe: string }
  | { on: 'any'; of: readonly Condition[] }
  | { on: 'all'; of: readonly Condition[] };

/** An argument known only once an earlier step has run, e.g. the snapshot a restore selected. */
export interface Placeholder {
  /** The plan state field that holds the argument. */
  ref: FieldOf<string>;
  /** How `plan` shows it, e.g. `<selected snapshot>`. */
  shown: string;
}

export type Arg = string | Placeholder;

/** A kopia command whose arguments may name placeholders. */
export type PlannedCommand = Omit<KopiaCommand, 'args'> & { args: Arg[] };

/** Everything a running plan knows: outcomes and results of the steps so far, and what they found. */
export interface RunState {
  ctx: RunContext;
  outcomes: Map<StepId, Outcome>;
  results: Map<StepId, KopiaResult>;
  found: PlanState;
  /** Set by a step that ends the run early and successfully (nothing to back up or restore). */
  stopped?: string;
}

/** A plan state field an earlier step must have set; its absence is a fault of the plan, not of the run. */
export function required<K extends keyof PlanState>(state: RunState, field: K): NonNullable<PlanState[K]> {
  const value = state.found[field];
  if (value == null) throw new Error(`no ${field} was found before the step that needs it ran`);
  return value;
}

/**
 * Where a step's stdout goes when it must not be held whole: made afresh for each kopia process,
 * and finished with that process's result once the step succeeded.
 */
export interface StdoutReader {
  options: RunOptions;
  finish?: (result: KopiaResult, state: RunState) => void | Promise<void>;
}

interface StepBase {
  /** Names the step for conditions that refer to it. */
  id: StepId;
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
  stream?: (state: RunState) => StdoutReader;
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

/** Whether a condition holds, from the outcomes so far and what the plan has found. */
export function holds(condition: Condition, state: Pick<RunState, 'outcomes' | 'found'>): boolean {
  switch (condition.on) {
    case 'outcome': {
      const outcome = state.outcomes.get(condition.step);
      return outcome !== undefined && condition.is.includes(outcome);
    }
    case 'flag':
      return state.found[condition.flag] !== undefined && state.found[condition.flag] !== false;
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
export function resolveArgs(args: readonly Arg[], found: Readonly<PlanState>): string[] {
  return args.map((a) => {
    if (typeof a === 'string') return a;
    const value = found[a.ref];
    if (value === undefined) throw new Error(`no value for ${a.shown} when the step ran`);
    return value;
  });
}

/** The arguments as `plan` shows them. */
export function shownArgs(args: readonly Arg[]): string[] {
  return args.map((a) => (typeof a === 'string' ? a : a.shown));
}
