import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeSize {
  files: number;
  bytes: number;
}

/**
 * Counts the regular files and their bytes under a directory, without
 * following symlinks; unreadable directories are skipped (kopia reports
 * them). Holds only a queue of directories.
 */
export async function measureTree(root: string): Promise<TreeSize> {
  const size: TreeSize = { files: 0, bytes: 0 };
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    let handle;
    try {
      handle = await opendir(dir);
    } catch {
      continue;
    }
    for await (const entry of handle) {
      if (dir === root && entry.name === 'lost+found') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) {
        size.files++;
        try {
          size.bytes += (await lstat(path)).size;
        } catch {
          // vanished meanwhile
        }
      }
    }
  }
  return size;
}

/** Below this share of the source's files or bytes, a snapshot "holds far less than the source". */
export const FAR_LESS_RATIO = 0.5;

export function farLess(snapshot: TreeSize, source: TreeSize): boolean {
  const fewerFiles = source.files > 0 && snapshot.files < source.files * FAR_LESS_RATIO;
  // Tiny sources give meaningless byte ratios.
  const fewerBytes = source.bytes >= 1024 * 1024 && snapshot.bytes < source.bytes * FAR_LESS_RATIO;
  return fewerFiles || fewerBytes;
}
