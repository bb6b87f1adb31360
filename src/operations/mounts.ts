import { readFileSync } from 'node:fs';

/**
 * The mount points of this process's namespace, as the exact bytes of their paths, from
 * /proc/self/mountinfo. A bind mount of a folder on the same device shows there and nowhere else:
 * its device number is the one of its surroundings, so comparing st_dev alone misses it.
 */
export function mountPoints(file = '/proc/self/mountinfo'): Buffer[] {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch {
    // No /proc (not Linux): device changes are then the only sign of a mount.
    return [];
  }
  const points: Buffer[] = [];
  for (const line of splitBytes(text, 0x0a)) {
    // Fields: id, parent id, major:minor, root, mount point, ...; separated by single spaces.
    const fields = splitBytes(line, 0x20);
    if (fields.length >= 5) points.push(unescapeOctal(fields[4]!));
  }
  return points;
}

function splitBytes(bytes: Buffer, separator: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let end = bytes.indexOf(separator); end >= 0; end = bytes.indexOf(separator, start)) {
    if (end > start) parts.push(bytes.subarray(start, end));
    start = end + 1;
  }
  if (start < bytes.length) parts.push(bytes.subarray(start));
  return parts;
}

/** The kernel writes space, tab, newline and backslash in a mount point as \ooo (octal). */
export function unescapeOctal(field: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < field.length; i++) {
    const octal = field[i] === 0x5c && i + 3 < field.length ? /^[0-7]{3}$/.exec(field.subarray(i + 1, i + 4).toString('latin1')) : null;
    if (octal) {
      out.push(parseInt(octal[0], 8));
      i += 3;
    } else out.push(field[i]!);
  }
  return Buffer.from(out);
}

/** A path's bytes as a map key: latin1 maps each byte to one character and back. */
export function byteKey(path: Buffer): string {
  return path.toString('latin1');
}

/** The mount points strictly below `root` (bytes of a real path), as keys for `byteKey`. */
export function mountPointsBelow(root: Buffer, points = mountPoints()): Set<string> {
  const prefix = root[root.length - 1] === 0x2f ? root : Buffer.concat([root, Buffer.from('/')]);
  const below = new Set<string>();
  for (const point of points) {
    if (point.length > prefix.length && point.subarray(0, prefix.length).equals(prefix)) below.add(byteKey(point));
  }
  return below;
}
