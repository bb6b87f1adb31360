import * as z from 'zod';
import { JsonArrayElements } from '../json-stream.js';
import { KopiaOutputError, parseKopiaJson } from './parse.js';

const count = z.number().int().nonnegative();

/** kopia prints RFC 3339 with nanoseconds; anything Date cannot read would break every comparison. */
const timestamp = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be a timestamp');

/**
 * One element of `kopia snapshot list --json` (kopia's snapshot manifest), with the fields the
 * program reads; the rest (description, tags, retention reasons) is dropped as it is parsed.
 * `incomplete` is kopia's reason for a checkpoint or a partial snapshot ("checkpoint", "canceled",
 * "limit reached"): kopia lists those in JSON whether or not `--incomplete` is given.
 */
export const snapshotManifestSchema = z.object({
  id: z.string().min(1),
  source: z.object({ host: z.string(), userName: z.string(), path: z.string() }),
  startTime: timestamp,
  endTime: timestamp.optional(),
  incomplete: z.string().optional(),
  stats: z
    .object({
      totalSize: count.optional(),
      fileCount: count.optional(),
      dirCount: count.optional(),
      errorCount: count.optional(),
    })
    .optional(),
  rootEntry: z
    .object({
      obj: z.string().optional(),
      summ: z.object({ size: count.optional(), files: count.optional(), dirs: count.optional() }).optional(),
    })
    .optional(),
});

export type SnapshotManifest = z.infer<typeof snapshotManifestSchema>;

export const SNAPSHOT_LIST_COMMAND = 'kopia snapshot list --json';

/**
 * Reads kopia's list of snapshots as it streams, one element at a time, each checked against the
 * schema and handed to `onSnapshot`, which keeps what it needs. kopia's output is never held whole.
 * A problem is kept, not thrown (the lines arrive in an event handler): `end` throws it.
 */
export class SnapshotListReader {
  private problem: { field: string; reason: string } | undefined;
  private index = 0;
  private readonly elements: JsonArrayElements;

  constructor(onSnapshot: (snapshot: SnapshotManifest) => void) {
    this.elements = new JsonArrayElements((text) => {
      if (this.problem !== undefined) return;
      let snapshot: SnapshotManifest;
      try {
        snapshot = parseKopiaJson(SNAPSHOT_LIST_COMMAND, snapshotManifestSchema, text, { within: `snapshot ${++this.index}` });
      } catch (error) {
        if (!(error instanceof KopiaOutputError)) throw error;
        this.problem = error;
        return;
      }
      onSnapshot(snapshot);
    });
  }

  /** One line of kopia's standard output. */
  line(text: string): void {
    if (this.problem !== undefined) return;
    try {
      this.elements.push(`${text}\n`);
    } catch (error) {
      this.problem = { field: 'the list', reason: errorText(error) };
    }
  }

  /** Once kopia ended: throws when any element could not be read or the list was cut short. */
  end(kopiaOutput?: string): void {
    if (this.problem === undefined) {
      try {
        this.elements.end();
      } catch (error) {
        this.problem = { field: 'the list', reason: errorText(error) };
      }
    }
    if (this.problem !== undefined) throw new KopiaOutputError(SNAPSHOT_LIST_COMMAND, this.problem.field, this.problem.reason, kopiaOutput);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
