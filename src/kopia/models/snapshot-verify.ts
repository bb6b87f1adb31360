import * as z from 'zod';
import { parseKopiaJson } from './parse.js';

export const SNAPSHOT_VERIFY_COMMAND = 'kopia snapshot verify --json';

const count = z.number().int().nonnegative();

/**
 * What the program reads of `kopia snapshot verify --json` (kopia v0.22.3's VerifierResult): the
 * files read back whole and their bytes, and the errors found. kopia prints it on success and on
 * error alike; `errorStrings` is left out when there is none. The object counts and the expected
 * totals are dropped: only what was read back proves anything.
 */
export const snapshotVerifySchema = z.object({
  stats: z.object({ readFileCount: count, readBytes: count }),
  errorCount: count,
  errorStrings: z.array(z.string()).optional(),
});

export type SnapshotVerify = z.infer<typeof snapshotVerifySchema>;

export function parseSnapshotVerify(stdout: string, kopiaOutput?: string): SnapshotVerify {
  return parseKopiaJson(SNAPSHOT_VERIFY_COMMAND, snapshotVerifySchema, stdout, { kopiaOutput });
}
