/**
 * The lines of `kopia diff <old root> <new root>` (kopia v0.22.3) that say a file's content differs:
 * `added file ./x (N bytes)` for a file the new snapshot adds, `changed ./x at <time> (size A -> B)`
 * for one whose content changed. Entries whose metadata alone changed, removals and the closing
 * statistics are other lines.
 */
const ADDED = /^added file .* \(\d+ bytes\)$/;
const CHANGED = /^changed .* at .* \(size \d+ -> \d+\)$/;

export type DiffChange = 'added' | 'changed';

/** The change a line reports, or undefined for any other line. */
export function diffLineChange(line: string): DiffChange | undefined {
  if (ADDED.test(line)) return 'added';
  return CHANGED.test(line) ? 'changed' : undefined;
}
