import { closeSync, createReadStream, createWriteStream, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { snapshotLogLine } from './models/snapshot-log.js';

export interface LogRetention {
  maxFiles: number;
  maxAgeMs: number;
}

/** Every regular file under a folder, as paths relative to it. */
function filesUnder(root: string, dir = root): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(root, path);
    return e.isFile() ? [relative(root, path)] : [];
  });
}

/**
 * Moves the log files kopia wrote during this run (into the run's private folder) onto the cache
 * volume, redacting each line on the way: kopia prints storage URLs with their query strings (an
 * Azure SAS token) in its own words, and the cache volume outlives the run.
 */
export async function publishLogs(from: string, to: string, redact: (line: string) => string): Promise<void> {
  for (const file of filesUnder(from)) {
    const target = join(to, file);
    mkdirSync(join(target, '..'), { recursive: true, mode: 0o700 });
    const input = createReadStream(join(from, file), 'utf8');
    const output = createWriteStream(target, { mode: 0o600 });
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (!output.write(`${redact(line)}\n`)) await once(output, 'drain');
    }
    output.end();
    await once(output, 'close');
    rmSync(join(from, file), { force: true });
  }
}

/**
 * Keeps kopia's log folders on the cache volume as kopia's own --log-dir-max-files and
 * --log-dir-max-age would: per folder, nothing older than the age and at most the newest N files.
 */
export function applyLogRetention(logDir: string, rules: { cli: LogRetention; content: LogRetention }, now = Date.now()): void {
  let folders: string[];
  try {
    folders = readdirSync(logDir);
  } catch {
    return;
  }
  for (const folder of folders) {
    const rule = folder === 'content-logs' ? rules.content : rules.cli;
    const dir = join(logDir, folder);
    let files: { path: string; mtime: number }[];
    try {
      files = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith('.log'))
        .map((e) => ({ path: join(dir, e.name), mtime: statSync(join(dir, e.name)).mtimeMs }))
        .sort((a, b) => b.mtime - a.mtime);
    } catch {
      continue;
    }
    files.forEach((f, index) => {
      const tooOld = rule.maxAgeMs > 0 && now - f.mtime > rule.maxAgeMs;
      const tooMany = rule.maxFiles > 0 && index >= rule.maxFiles;
      if (tooOld || tooMany) rmSync(f.path, { force: true });
    });
  }
}

/**
 * How many snapshots kopia's retention deleted during this run's `snapshot create`: kopia says so
 * only in its debug file log ("kopia/snapshot/policy   deleting ..."), which for this run is still
 * in the run folder. Undefined when that log is not there to read (file log level above debug).
 */
export function snapshotsExpired(logDir: string): number | undefined {
  const dir = join(logDir, 'cli-logs');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.includes('-snapshot-create.'));
  } catch {
    return undefined;
  }
  if (names.length === 0) return undefined;
  let count = 0;
  for (const name of names) forEachLine(join(dir, name), (line) => {
    if (snapshotLogLine(line)?.kind === 'expired') count++;
  });
  return count;
}

/** Calls `each` for every line of a file, reading it in chunks: a debug log may be large. */
export function forEachLine(path: string, each: (line: string) => void): void {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    let partial = '';
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) {
      const lines = (partial + buffer.toString('utf8', 0, n)).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) each(line);
    }
    if (partial !== '') each(partial);
  } finally {
    closeSync(fd);
  }
}
