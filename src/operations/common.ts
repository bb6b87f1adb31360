import { repeatedFlags, type Replacement } from '../config/additional-args.js';
import { ConfigError } from '../errors.js';
import type { Step, StepId } from '../plan/step.js';

/**
 * A main command (`snapshot create`, `snapshot restore`) as the plan will give it to kopia: checked
 * before any step runs, since kopia refuses a flag given twice only after the repository may already
 * have been created and the before-action run. A flag the program sets that KOPIA_ADDITIONAL_ARGS
 * sets too was given once, with the user's value: the warnings say so.
 */
export function checkedMainCommand(name: string, built: { args: string[]; replaced: Replacement[] }): { args: string[]; warnings: string[] } {
  const repeated = repeatedFlags(built.args);
  if (repeated.length > 0) {
    throw new ConfigError({ source: 'KOPIA_ADDITIONAL_ARGS', message: `kopia ${name} would get ${repeated.join(', ')} more than once; give each flag once` });
  }
  return {
    args: built.args,
    warnings: built.replaced.map((r) => `KOPIA_ADDITIONAL_ARGS ${r.theirs} used for kopia ${name} instead of the mover's own ${r.ours}`),
  };
}

/** A step that logs warnings the plan found and puts them in the summary. */
export function warningsStep(id: StepId, warnings: readonly string[]): Step[] {
  if (warnings.length === 0) return [];
  return [
    {
      id,
      kind: 'internal',
      describe: `warn: ${warnings.join('; ')}`,
      run: (state) => {
        for (const warning of warnings) {
          state.ctx.output.log.warn(warning);
          state.ctx.summary.warnings.push(warning);
        }
      },
    },
  ];
}
