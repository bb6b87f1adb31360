/**
 * One entry of `kopia ls -l -r <id>`, as kopia 0.22.3 formats it (`%v %12d %v %-34v %v`): mode,
 * size, modification time (date, time, zone), object id padded to 34 columns, then the path. A
 * folder's path ends in "/" and may be followed by " (N errors)". The lines are bytes (a name need
 * not be UTF-8) and a listing may hold millions of them, so each is matched by one pattern, read as
 * latin1 so that each character is one byte, rather than built into an object and validated.
 */
const ENTRY = /^([-a-zA-Z?]{10,}) +(\d+) (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+) (\S+) /;
const ERRORS_SUFFIX = /\/ \(\d+ errors\)$/;

export const LS_COMMAND = 'kopia ls -r -l';

/** The first line of an entry: its mode (Go's `FileMode` text, `drwxr-xr-x`, `Lrwxrwxrwx`) and the path as printed. */
export interface LsEntryLine {
  mode: string;
  path: Buffer;
}

/** The mode and path of an entry line, or undefined for a line that is not one (it continues the entry before). */
export function lsEntryLine(line: Buffer): LsEntryLine | undefined {
  const match = ENTRY.exec(line.toString('latin1'));
  if (!match) return undefined;
  const oidStart = match[0].length - match[4]!.length - 1;
  const pathStart = oidStart + Math.max(34, match[4]!.length) + 1;
  if (pathStart > line.length) return undefined;
  return { mode: match[1]!, path: Buffer.from(line.subarray(pathStart)) };
}

export type LsEntryKind = 'directory' | 'symlink' | 'other';

/** What the mode's type letters (those before the nine permission letters) say the entry is. */
export function lsEntryKind(mode: string): LsEntryKind {
  const type = mode.slice(0, -9);
  if (type.includes('d')) return 'directory';
  return type.includes('L') ? 'symlink' : 'other';
}

/** An entry's relative path once every line of it is read: a folder's without its "/" and error count. */
export function lsEntryPath(entry: LsEntryLine): { kind: LsEntryKind; path: Buffer } {
  const kind = lsEntryKind(entry.mode);
  if (kind !== 'directory') return { kind, path: entry.path };
  const text = entry.path.toString('latin1');
  return { kind, path: entry.path.subarray(0, ERRORS_SUFFIX.test(text) ? text.lastIndexOf('/ (') : -1) };
}
