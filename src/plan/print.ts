import { formatArgv } from '../kopia/command.js';
import type { Output } from '../report/output.js';
import { describeCondition, shownArgs, type Plan } from './step.js';

/**
 * Prints a plan as the run would carry it out, kopia commands numbered with their full argv
 * (secrets are never in argv: they reach kopia through its environment), the program's own steps
 * as notes, and every condition in words. Runs nothing.
 */
export function printPlan(output: Output, plan: Plan, argv: (args: string[], secretFiles: readonly { flag: string; purpose: string }[]) => string[]): void {
  output.text(`# kopia-mover plan: ${plan.title}`);
  output.line('# secrets reach kopia through its environment, never its arguments');
  let n = 0;
  let conditional = 0;
  for (const step of plan.steps) {
    const when = step.when ? `   # only if ${describeCondition(step.when)}` : '';
    if (step.kind === 'internal') {
      output.text(`#   ${step.describe}${when}`);
      continue;
    }
    n++;
    if (step.when) conditional++;
    output.text(`${n}. ${formatArgv(argv(shownArgs(step.command.args), step.command.secretFiles ?? []))}${when}`);
  }
  output.line(`# ${n - conditional} kopia command(s)${conditional > 0 ? `, plus ${conditional} conditional` : ''}`);
}
