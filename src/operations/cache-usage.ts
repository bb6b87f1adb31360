import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Bytes used under a directory (allocated blocks, as the volume counts them). Never follows symlinks. */
export function directoryUsage(dir: string): number {
  let total = 0;
  const walk = (path: string) => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return;
    }
    total += st.blocks * 512;
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = readdirSync(path);
      } catch {
        return;
      }
      for (const name of names) walk(join(path, name));
    }
  };
  walk(dir);
  return total;
}

export const EXHAUSTED_RATIO = 0.9;

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)}Gi`;
}

/**
 * When the cache volume is 90 % full or more, the message an operator needs:
 * how full it is and the cacheCapacity that fixes it. Undefined otherwise.
 */
export function cacheExhaustion(cacheDir: string, capacityBytes: number | undefined): string | undefined {
  if (!capacityBytes) return undefined;
  const used = directoryUsage(cacheDir);
  if (used < capacityBytes * EXHAUSTED_RATIO) return undefined;
  const suggested = Math.ceil((Math.max(used, capacityBytes) * 2) / 1024 ** 3);
  return (
    `the cache volume is exhausted: KOPIA_CACHE_DIR ${cacheDir} uses ${used} of ${capacityBytes} bytes ` +
    `(${Math.round((used / capacityBytes) * 100)}%, ${gib(used)} of ${gib(capacityBytes)}); ` +
    `raise cacheCapacity in the kopia section of the ReplicationSource/ReplicationDestination, e.g. cacheCapacity: ${suggested}Gi`
  );
}
