import { SnapshotListReader, type SnapshotManifest } from '../../src/kopia/models/snapshot.js';

/** `kopia snapshot list --json` text read line by line, as the runner hands it over; throws what the reader finds wrong. */
export function readSnapshotList(text: string): SnapshotManifest[] {
  const kept: SnapshotManifest[] = [];
  const reader = new SnapshotListReader((s) => kept.push(s));
  for (const line of text.split('\n')) reader.line(line);
  reader.end();
  return kept;
}
