import * as z from 'zod';
import { parseKopiaJson } from './parse.js';

const count = z.number().int().nonnegative();

export const SNAPSHOT_CREATE_COMMAND = 'kopia snapshot create --json';

/**
 * What the program reads of `snapshot create --json --json-verbose`: kopia v0.22.3's manifest of
 * the snapshot it just took. Fields the program does not read are dropped.
 */
export const snapshotCreateSchema = z.object({
  id: z.string().min(1),
  // RFC 3339 with nanoseconds; optional, as the figures of the snapshot do not depend on it.
  startTime: z.string().refine((v) => !Number.isNaN(Date.parse(v))).optional().catch(undefined),
  rootEntry: z.object({
    obj: z.string().min(1),
    summ: z.object({
      size: count,
      files: count,
      dirs: count,
      symlinks: count.default(0),
      numFailed: count.default(0),
    }),
  }),
  // Printed with --json-verbose; kopia leaves the object out when every counter in it is zero.
  // cachedFiles: entries whose metadata matched the previous snapshot, so kopia did not read them;
  // nonCachedFiles: files kopia read and hashed, because they are new or their metadata changed.
  stats: z
    .object({
      cachedFiles: count.default(0),
      nonCachedFiles: count.default(0),
      excludedFileCount: count.default(0),
      excludedDirCount: count.default(0),
    })
    .default({ cachedFiles: 0, nonCachedFiles: 0, excludedFileCount: 0, excludedDirCount: 0 }),
});

export type CreatedSnapshot = z.infer<typeof snapshotCreateSchema>;

/** The manifest kopia printed, or a KopiaOutputError naming the command and the field. */
export function parseCreatedSnapshot(stdout: string, kopiaOutput?: string): CreatedSnapshot {
  return parseKopiaJson(SNAPSHOT_CREATE_COMMAND, snapshotCreateSchema, stdout, { kopiaOutput });
}

/**
 * Entries kopia could not read and ignored as the error-handling policy says: the manifest counts
 * only fatal errors, these appear in kopia's closing words alone ("Ignored 2 error(s)
 * ..."), 0 when it said nothing of them.
 */
export function ignoredErrors(kopiaOutput: string): number {
  return Number(/Ignored (\d+) error\(s\)/.exec(kopiaOutput)?.[1] ?? 0);
}

/**
 * What kopia's closing words say of entries it could not read at all ("Found 2 fatal error(s)"),
 * with the first it named ("Error when processing \"path\": ... reason"); undefined when none.
 */
export function fatalErrors(kopiaOutput: string): { count: number; first?: { path: string; reason: string } } | undefined {
  const count = /Found (\d+) fatal error/.exec(kopiaOutput)?.[1];
  if (count === undefined) return undefined;
  const first = /Error when processing "([^"\n]*)": [^\n]*?([^:\n]*)$/m.exec(kopiaOutput);
  return { count: Number(count), ...(first ? { first: { path: first[1]!, reason: (first[2] ?? '').trim() } } : {}) };
}
