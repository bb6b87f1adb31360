import * as z from 'zod';
import { KopiaOutputError, parseKopiaJson } from './parse.js';

export const POLICY_SHOW_COMMAND = 'kopia policy show --json';

const keep = z.number().int().nonnegative().optional();

/**
 * What the repository report reads of `kopia policy show --json <target>...` (kopia v0.22.3): the
 * effective retention of each target, the global policy merged with every more specific one. A
 * count kopia leaves out is not set anywhere. Every other part of the policy is dropped.
 */
export const effectivePolicySchema = z.object({
  retention: z
    .object({ keepLatest: keep, keepHourly: keep, keepDaily: keep, keepWeekly: keep, keepMonthly: keep, keepAnnual: keep })
    .optional(),
});

export type EffectivePolicy = z.infer<typeof effectivePolicySchema>;

/**
 * kopia prints one JSON document a line, one for each target in the order given: as many lines as
 * targets, or the output is not what was asked for.
 */
export function parseEffectivePolicies(stdout: string, targets: readonly string[], kopiaOutput?: string): EffectivePolicy[] {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length !== targets.length) {
    throw new KopiaOutputError(POLICY_SHOW_COMMAND, 'the output as a whole', `${lines.length} JSON line(s) for ${targets.length} target(s)`, kopiaOutput);
  }
  return lines.map((line, i) => parseKopiaJson(POLICY_SHOW_COMMAND, effectivePolicySchema, line, { within: `the policy of ${targets[i]}`, kopiaOutput }));
}
