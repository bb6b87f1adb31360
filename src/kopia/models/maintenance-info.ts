import * as z from 'zod';
import { parseKopiaJson } from './parse.js';

export const MAINTENANCE_INFO_COMMAND = 'kopia maintenance info --json';

/**
 * What the program reads of `kopia maintenance info --json` (kopia v0.22.3's maintenance params):
 * who owns maintenance ("" when nobody does) and whether the quick cycle is on. kopia always prints
 * both; the schedule, cycles and log retention are dropped.
 */
export const maintenanceInfoSchema = z.object({
  owner: z.string(),
  quick: z.object({ enabled: z.boolean() }),
});

export type MaintenanceInfo = z.infer<typeof maintenanceInfoSchema>;

export function parseMaintenanceInfo(stdout: string, kopiaOutput?: string): MaintenanceInfo {
  return parseKopiaJson(MAINTENANCE_INFO_COMMAND, maintenanceInfoSchema, stdout, { kopiaOutput });
}
