import * as z from 'zod';
import { parseKopiaJson } from './parse.js';

export const MAINTENANCE_SCHEDULE_COMMAND = 'kopia maintenance info --json';

/** kopia prints RFC 3339 with nanoseconds; Go's zero time ("0001-01-01T00:00:00Z") means "never". */
const timestamp = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be a timestamp');

/** A Go time.Duration, printed as whole nanoseconds. */
const nanoseconds = z.number().int().nonnegative();

const cycle = z.object({ enabled: z.boolean(), interval: nanoseconds });

/** One record of a maintenance task: kopia keeps the last few of each task, newest first. */
const taskRun = z.object({
  start: timestamp,
  end: timestamp,
  // kopia omits both when false or empty.
  success: z.boolean().optional(),
  error: z.string().optional(),
});

/**
 * What the repository report reads of `kopia maintenance info --json` (kopia v0.22.3's maintenance
 * params with its schedule): the owner, both cycles, when each is next due, and the recent runs of
 * every task by task name (`snapshot-gc`, `compact-single-epoch`, ...). Log retention, object
 * locks and each run's statistics are dropped.
 */
export const maintenanceScheduleSchema = z.object({
  owner: z.string(),
  quick: cycle,
  full: cycle,
  schedule: z.object({
    nextFullMaintenance: timestamp,
    nextQuickMaintenance: timestamp,
    // Absent (null) before the first maintenance run.
    runs: z.record(z.string(), z.array(taskRun)).nullish(),
  }),
});

export type MaintenanceSchedule = z.infer<typeof maintenanceScheduleSchema>;
export type MaintenanceTaskRun = z.infer<typeof taskRun>;

export function parseMaintenanceSchedule(stdout: string, kopiaOutput?: string): MaintenanceSchedule {
  return parseKopiaJson(MAINTENANCE_SCHEDULE_COMMAND, maintenanceScheduleSchema, stdout, { kopiaOutput });
}
