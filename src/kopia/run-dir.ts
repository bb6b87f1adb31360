import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { processAlive, processStartTime } from '../processes.js';

/**
 * A run's private folder under TMPDIR (mode 0700): secret files for kopia, kopia's own log files
 * until they are redacted onto the cache volume, and kopia's config when it must hold storage
 * secrets. In a pod TMPDIR is an emptyDir, gone with the pod; nothing here outlives the run on a
 * persistent volume. The name carries the pid and the process start time, so a later run can tell
 * the folders of killed runs from those of runs still going.
 */
export const RUN_DIR_PREFIX = 'kopia-mover-run-';

export function createRunDir(tmpDir: string): string {
  try {
    return mkdtempSync(join(tmpDir, `${RUN_DIR_PREFIX}${process.pid}-${processStartTime('self') ?? '0'}-`));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError({ source: 'TMPDIR', message: `${tmpDir} is not a writable directory (${code}); the mover keeps its temp files there` });
  }
}

/**
 * Removes the run folders that killed runs of this user left behind (SIGKILL gives no chance to
 * clean up). A folder is stale when its process is gone, or when its pid now belongs to a process
 * that started at another time (a restarted container reuses pids). Returns how many were removed.
 */
export function removeStaleRunDirs(tmpDir: string, uid = process.getuid?.()): number {
  let names: string[];
  try {
    names = readdirSync(tmpDir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const match = new RegExp(`^${RUN_DIR_PREFIX}(\\d+)-(\\d+)-`).exec(name);
    if (!match) continue;
    const path = join(tmpDir, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    } catch {
      continue;
    }
    const pid = Number(match[1]);
    const started = processStartTime(pid);
    const running = started !== undefined ? started === match[2] : processAlive(pid) && match[2] === '0';
    if (running) continue;
    rmSync(path, { recursive: true, force: true });
    removed++;
  }
  return removed;
}
