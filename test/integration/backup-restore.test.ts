import { chmodSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { assertNoSecrets, kopiaJson, runMover, scenario } from '../support/mover.js';

interface Snapshot {
  id: string;
  source: { userName: string; host: string; path: string };
}

/** Every entry under root with its type, mode and content (or link target). */
function describeTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const key = relative(root, path);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[key] = `link -> ${readlinkSync(path)}`;
      else if (st.isDirectory()) {
        out[key] = `dir ${mode}`;
        walk(path);
      } else out[key] = `file ${mode} ${readFileSync(path).toString('base64')}`;
    }
  };
  walk(root);
  return out;
}

function buildTree(data: string): void {
  mkdirSync(join(data, 'a', 'b', 'c'), { recursive: true });
  writeFileSync(join(data, 'a', 'b', 'c', 'deep.txt'), 'deep\n');
  writeFileSync(join(data, 'empty'), '');
  writeFileSync(join(data, 'private.key'), 'only the owner reads this\n');
  chmodSync(join(data, 'private.key'), 0o600);
  writeFileSync(join(data, 'big.bin'), randomBytes(5 * 1024 * 1024));
  symlinkSync('a/b/c/deep.txt', join(data, 'link-to-deep'));
}

describe('backup and restore on a filesystem repository', () => {
  it('restores a tree with nested dirs, a symlink, an empty file, a 0600 file and a 5 MB file identically', async () => {
    const s = scenario('roundtrip');
    buildTree(s.data);
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(backup.exitCode, backup.stdout).toBe(0);
    expect(backup.plainLines).toContain('OPERATION_RESULT: SUCCESS');
    assertNoSecrets(backup, [s.password]);

    const snapshots = kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]!.source).toMatchObject({ userName: 'roundtrip', host: 'ns1', path: s.data });
    expect(backup.plainLines).toContain(`SNAPSHOT_ID: ${snapshots[0]!.id}`);

    const target = join(s.root, 'restored');
    mkdirSync(target);
    const restore = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data });
    expect(restore.exitCode, restore.stdout).toBe(0);
    assertNoSecrets(restore, [s.password]);
    const source = describeTree(s.data);
    const restored = describeTree(target);
    expect(Object.keys(source).length).toBeGreaterThanOrEqual(7);
    expect(restored).toEqual(source);
    expect(restored['link-to-deep']).toBe('link -> a/b/c/deep.txt');
    expect(restored['private.key']).toMatch(/^file 600 /);
  });

  it('runs the same backup, restore and maintenance from the npm entry (node bin/kopia-mover.js)', async () => {
    // The other tests start the program as the image does, through docker/entry.sh.
    const s = scenario('npm-entry');
    buildTree(s.data);
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data }, { entry: 'bin' });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const target = join(s.root, 'restored');
    mkdirSync(target);
    const restore = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data }, { entry: 'bin' });
    expect(restore.exitCode, restore.stdout).toBe(0);
    expect(describeTree(target)).toEqual(describeTree(s.data));
    const maintenance = await runMover(['maintenance'], s.env, { entry: 'bin' });
    expect(maintenance.exitCode, maintenance.stdout).toBe(0);
    expect(maintenance.plainLines).toContain('MAINTENANCE_STATUS: SUCCESS');
  });

  it('records the snapshot under KOPIA_SOURCE_PATH_OVERRIDE and a restore with the same override finds it', async () => {
    const s = scenario('override');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'file.txt'), 'override\n');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/app/data' });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const snapshots = kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    expect(snapshots.map((x) => x.source.path)).toEqual(['/app/data']);

    const target = join(s.root, 'out');
    mkdirSync(target);
    const restore = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/app/data' });
    expect(restore.exitCode, restore.stdout).toBe(0);
    expect(readFileSync(join(target, 'file.txt'), 'utf8')).toBe('override\n');
  });

  it('shows retention variables and KOPIA_COMPRESSION in the snapshot path policy', async () => {
    const s = scenario('policy');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'f'), 'x');
    const env = {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_COMPRESSION: 'zstd-fastest',
      KOPIA_RETAIN_HOURLY: '6',
      KOPIA_RETAIN_DAILY: '5',
      KOPIA_RETAIN_WEEKLY: '4',
      KOPIA_RETAIN_MONTHLY: '3',
      KOPIA_RETAIN_YEARLY: '2',
      KOPIA_RETAIN_LATEST: '9',
    };
    const backup = await runMover(['backup'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    const policy = kopiaJson<{ retention: Record<string, number>; compression: { compressorName: string } }>(s.cache, s.password, [
      'policy',
      'show',
      'policy@ns1:/data',
    ]);
    expect(policy.compression.compressorName).toBe('zstd-fastest');
    expect(policy.retention).toMatchObject({ keepHourly: 6, keepDaily: 5, keepWeekly: 4, keepMonthly: 3, keepAnnual: 2, keepLatest: 9 });
  });

  it('skips a DATA_DIR holding only lost+found with exit 0 and no kopia process', async () => {
    const s = scenario('empty');
    mkdirSync(join(s.data, 'lost+found'), { recursive: true });
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(result.exitCode).toBe(0);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.plainLines).toContain('OPERATION_RESULT: SUCCESS');
    expect(result.terminationMessage).toMatchObject({ operation: 'backup', result: 'SUCCESS', exitCode: 0 });
    expect(String(result.terminationMessage?.['skipped'])).toContain('empty');
  });

  it('starts at most 4 kopia processes for a repeat backup to a connected repository', async () => {
    const s = scenario('repeat');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'f'), 'one');
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_RETAIN_DAILY: '3', KOPIA_COMPRESSION: 'zstd' };
    const first = await runMover(['backup'], env);
    expect(first.exitCode, first.stdout).toBe(0);
    writeFileSync(join(s.data, 'f'), 'two');
    const second = await runMover(['backup'], env);
    expect(second.exitCode, second.stdout).toBe(0);
    expect(second.kopiaCalls.length).toBeGreaterThan(0);
    expect(second.kopiaCalls.length).toBeLessThanOrEqual(4);
    expect(second.kopiaCalls.some((argv) => argv[0] === 'repository' && argv[1] === 'create')).toBe(false);
    assertNoSecrets(second, [s.password]);
    expect(kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(2);
  });

  it('leaves no password file on the cache volume', async () => {
    const s = scenario('persist');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'f'), 'x');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(result.exitCode).toBe(0);
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (lstatSync(path).isDirectory()) walk(path);
        else if (readFileSync(path).includes(Buffer.from(s.password))) found.push(path);
      }
    };
    walk(s.cache);
    expect(found).toEqual([]);
    expect(readdirSync(s.cache).filter((n) => n.includes('password'))).toEqual([]);
  });
});
