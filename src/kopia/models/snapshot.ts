import * as z from 'zod';
import { OperationError } from '../../errors.js';
import { JsonArrayElements } from '../json-stream.js';

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

const LIST_COMMAND = 'kopia snapshot list --json';

/** One element checked against the schema; a mismatch names the command, the element and the field. */
export function parseSnapshotManifest(value: unknown, index: number): SnapshotManifest | { problem: string } {
  const parsed = snapshotManifestSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.map(String).join('.') || 'the element';
  return { problem: `${LIST_COMMAND} printed snapshot ${index + 1} with ${field} that cannot be read: ${issue?.message ?? 'not valid'}` };
}

/**
 * Reads kopia's list of snapshots as it streams, one element at a time, each checked against the
 * schema and handed to `onSnapshot`, which keeps what it needs. kopia's output is never held whole.
 * A problem is kept, not thrown (the lines arrive in an event handler): `end` reports it.
 */
export class SnapshotListReader {
  private problem: string | undefined;
  private index = 0;
  private readonly elements: JsonArrayElements;

  constructor(onSnapshot: (snapshot: SnapshotManifest) => void) {
    this.elements = new JsonArrayElements((text) => {
      if (this.problem !== undefined) return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        this.problem = `${LIST_COMMAND} printed snapshot ${this.index + 1} that is not JSON`;
        return;
      }
      const parsed = parseSnapshotManifest(value, this.index++);
      if ('problem' in parsed) this.problem = parsed.problem;
      else onSnapshot(parsed);
    });
  }

  /** One line of kopia's standard output. */
  line(text: string): void {
    if (this.problem !== undefined) return;
    try {
      this.elements.push(`${text}\n`);
    } catch (error) {
      this.problem = `${LIST_COMMAND}: ${(error as Error).message}`;
    }
  }

  /** Once kopia ended: throws when any element could not be read or the list was cut short. */
  end(kopiaOutput?: string): void {
    if (this.problem === undefined) {
      try {
        this.elements.end();
      } catch (error) {
        this.problem = `${LIST_COMMAND}: ${(error as Error).message}`;
      }
    }
    if (this.problem !== undefined) throw new OperationError(`could not read the snapshot list: ${this.problem}`, kopiaOutput);
  }
}
