import * as z from 'zod';

/**
 * Lines of the debug file log kopia v0.22.3 writes during `snapshot create` that the program reads:
 * each blob stored (`[STORAGE] PutBlob {"blobID":…,"length":186,"error":null,…}`), the uploader's
 * start (`uploader uploading {…,"previousManifests":1,…}`), each snapshot retention deletes
 * (`kopia/snapshot/policy   deleting <id>`), and the start of the maintenance kopia may run
 * afterwards, whose writes are not the snapshot's. The log is kopia's diary, not an answer:
 * a line of another shape is passed over, never an error.
 */
export type SnapshotLogLine =
  | { kind: 'maintenance' }
  | { kind: 'uploading'; previousManifests: number }
  | { kind: 'stored'; bytes: number | undefined }
  | { kind: 'expired' };

const PUT_BLOB = /\[STORAGE\] PutBlob\s+(\{.*\})\s*$/;
const UPLOADING = /\suploader uploading\s+.*"previousManifests":(\d+)/;
const MAINTENANCE = /^\S+ [A-Z]+ maintenance /;
const EXPIRED = /kopia\/snapshot\/policy\s+deleting /;

/** The fields of a PutBlob line: a failed write (an error) stored nothing. */
const putBlobSchema = z.object({ length: z.number().int().nonnegative(), error: z.unknown().optional() });

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What a line says, or undefined for a line the program does not read. `bytes` is undefined for a blob that was not stored. */
export function snapshotLogLine(line: string): SnapshotLogLine | undefined {
  if (MAINTENANCE.test(line)) return { kind: 'maintenance' };
  const uploading = UPLOADING.exec(line);
  if (uploading) return { kind: 'uploading', previousManifests: Number(uploading[1]) };
  if (EXPIRED.test(line)) return { kind: 'expired' };
  const put = PUT_BLOB.exec(line);
  if (!put) return undefined;
  const blob = putBlobSchema.safeParse(jsonOrUndefined(put[1]!));
  return { kind: 'stored', bytes: blob.success && !blob.data.error ? blob.data.length : undefined };
}
