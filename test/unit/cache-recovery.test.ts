import { existsSync, mkdirSync, mkdtempSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cacheCorruption, cacheToClear, clearRebuildableCache, corruptLayoutFolder, MIN_INTERVAL_MS, REBUILDABLE } from '../../src/operations/cache-recovery.js';
import type { MoverConfig } from '../../src/config/parse.js';

function cacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-cache-'));
  for (const name of REBUILDABLE) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'blob'), 'cached');
  }
  mkdirSync(join(dir, 'own-writes'));
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'kopia.config'), '{}');
  writeFileSync(join(dir, 'logs', 'kopia.log'), 'log');
  return dir;
}

const configFor = (dir: string) => ({ cacheDir: dir }) as MoverConfig;

describe('cache recovery rules', () => {
  it("recognises kopia's index-load and mmap failures and nothing else", () => {
    expect(cacheCorruption(['error loading indexes: unable to open pack index "x": invalid header format: 107'])).toBe(true);
    expect(cacheCorruption(['unable to open pack index "x": mmap error: invalid argument'])).toBe(true);
    expect(cacheCorruption(['invalid repository password'])).toBe(false);
    expect(cacheCorruption(['Found 1 fatal error(s) while snapshotting'])).toBe(false);
  });

  it('clears only the rebuildable folders, never kopia.config, logs or own-writes', () => {
    const dir = cacheDir();
    writeFileSync(join(dir, 'own-writes', 'old-entry'), 'x');
    const old = new Date(Date.now() - 20 * 60 * 1000);
    utimesSync(join(dir, 'own-writes', 'old-entry'), old, old);
    const result = clearRebuildableCache(configFor(dir));
    expect(result.cleared).toBe(true);
    for (const name of REBUILDABLE) expect(existsSync(join(dir, name))).toBe(false);
    expect(existsSync(join(dir, 'kopia.config'))).toBe(true);
    expect(existsSync(join(dir, 'logs', 'kopia.log'))).toBe(true);
    expect(existsSync(join(dir, 'own-writes', 'old-entry'))).toBe(true);
  });

  it('refuses while own-writes holds an entry from the last 15 minutes', () => {
    const dir = cacheDir();
    writeFileSync(join(dir, 'own-writes', 'addxn0_recent'), 'x');
    const result = clearRebuildableCache(configFor(dir));
    expect(result).toMatchObject({ cleared: false });
    expect(!result.cleared && result.reason).toContain(join(dir, 'own-writes'));
    expect(existsSync(join(dir, 'indexes', 'blob'))).toBe(true);
  });

  it('refuses when a cache folder is a symlink, and does not follow it', () => {
    const dir = cacheDir();
    const elsewhere = mkdtempSync(join(tmpdir(), 'km-elsewhere-'));
    writeFileSync(join(elsewhere, 'precious'), 'data');
    spawnSync('rm', ['-rf', join(dir, 'contents')]);
    symlinkSync(elsewhere, join(dir, 'contents'));
    const result = clearRebuildableCache(configFor(dir));
    expect(result).toMatchObject({ cleared: false });
    expect(!result.cleared && result.reason).toContain('symlink');
    expect(existsSync(join(elsewhere, 'precious'))).toBe(true);
  });

  it('refuses while another live process holds the cleanup lock, and takes over a stale one', () => {
    const dir = cacheDir();
    const sleeper = spawnSync('sh', ['-c', 'sleep 5 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
    const livePid = Number(sleeper.stdout.trim());
    writeFileSync(join(dir, 'kopia-mover-cache-clear.lock'), String(livePid));
    const refused = clearRebuildableCache(configFor(dir));
    expect(refused).toMatchObject({ cleared: false });
    expect(!refused.cleared && refused.reason).toContain('kopia-mover-cache-clear.lock');
    process.kill(livePid, 'SIGKILL');

    // A pid that cannot be running: the lock is stale.
    writeFileSync(join(dir, 'kopia-mover-cache-clear.lock'), '2147483646');
    expect(clearRebuildableCache(configFor(dir))).toMatchObject({ cleared: true });
    expect(existsSync(join(dir, 'kopia-mover-cache-clear.lock'))).toBe(false);
  });

  it('refuses a second clearing within 5 minutes and allows it after', () => {
    const dir = cacheDir();
    const start = Date.now();
    expect(clearRebuildableCache(configFor(dir), start)).toMatchObject({ cleared: true });
    mkdirSync(join(dir, 'indexes'));
    const soon = clearRebuildableCache(configFor(dir), start + 60_000);
    expect(soon).toMatchObject({ cleared: false });
    expect(!soon.cleared && soon.reason).toContain('within 5 minutes');
    const stamp = join(dir, 'kopia-mover-cache-cleared');
    const past = new Date(start - MIN_INTERVAL_MS - 1000);
    utimesSync(stamp, past, past);
    expect(clearRebuildableCache(configFor(dir), start + 1000)).toMatchObject({ cleared: true });
  });

  it("a content cache folder whose .shards kopia cannot read is cleared alone, even with recent own-writes", () => {
    const dir = cacheDir();
    writeFileSync(join(dir, 'own-writes', 'addxn0_recent'), 'x');
    const line = 'unable to create base cache: unable to open contents: error determining sharded path: error parsing sharding parameters for storage';
    expect(corruptLayoutFolder([line])).toBe('contents');
    const result = clearRebuildableCache(configFor(dir), Date.now(), ['contents']);
    expect(result).toEqual({ cleared: true, folders: [join(dir, 'contents')] });
    for (const name of REBUILDABLE.filter((n) => n !== 'contents')) expect(existsSync(join(dir, name))).toBe(true);
    expect(existsSync(join(dir, 'own-writes', 'addxn0_recent'))).toBe(true);
  });

  it('an index cache folder with a damaged .shards still waits for recent own-writes, and own-writes itself is never cleared', () => {
    const dir = cacheDir();
    writeFileSync(join(dir, 'own-writes', 'addxn0_recent'), 'x');
    expect(clearRebuildableCache(configFor(dir), Date.now(), ['index-blobs'])).toMatchObject({ cleared: false });
    const ownWrites = clearRebuildableCache(configFor(dir), Date.now(), ['own-writes']);
    expect(!ownWrites.cleared && ownWrites.reason).toContain('never cleared automatically');
    expect(existsSync(join(dir, 'own-writes', 'addxn0_recent'))).toBe(true);
  });

  it("a cached kopia.blobcfg that does not decrypt is the cache's for a connected client, the creation race's for a connect", () => {
    const tail = ['open repository: unable to open repository: unable to create format manager: deserialize blob config: unable to decrypt repository blobcfg blob'];
    expect(cacheToClear(tail, ['snapshot', 'create', '/data'])).toEqual({ only: ['kopia.blobcfg', 'kopia.repository'] });
    expect(cacheToClear(tail, ['repository', 'connect', 'filesystem'])).toBeUndefined();
    expect(cacheToClear(tail, ['repository', 'create', 'filesystem'])).toBeUndefined();
  });
});
