// Classes from kopia's own words, against the real kopia: a password that is a common word, a full
// volume, a busy mount, a type conflict in the target, a repository missing a pack blob, and a cache
// whose .shards layout file is damaged (recovered in the same run).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kopiaJson, runMover, scenario, summaryValue, type MoverResult } from '../support/mover.js';

function expectClass(result: MoverResult, failureClass: string, retryable: boolean): void {
  expect(summaryValue(result, 'FAILURE_CLASS'), result.stdout).toBe(`${failureClass} (retryable: ${retryable ? 'yes' : 'no'})`);
  expect(result.terminationMessage?.['failure']).toMatchObject({ class: failureClass, retryable });
  expect(summaryValue(result, 'FAILURE_FIX')?.length).toBeGreaterThan(20);
}

/** Every file under a folder, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

const ns = (script: string, ...args: string[]) => ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args];

describe('failure classes from kopia’s raw words', () => {
  const s = scenario('classes');
  const restoreEnv = (target: string) => ({ ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/data' });

  beforeAll(async () => {
    mkdirSync(join(s.data, 'dir'), { recursive: true });
    writeFileSync(join(s.data, 'dir', 'big.bin'), randomBytes(400_000));
    writeFileSync(join(s.data, 'small.txt'), 'small\n');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' });
    expect(backup.exitCode, backup.stdout).toBe(0);
  });

  for (const password of ['password', 'invalid', 'repository']) {
    it(`a wrong password that is the word "${password}" is AuthFailure, not retryable, exit 3`, async () => {
      const result = await runMover(
        ['backup'],
        { ...s.env, DATA_DIR: s.data, KOPIA_PASSWORD: password, KOPIA_CACHE_DIR: join(s.root, `cache-${password}`) },
        { unscanned: [password] },
      );
      expect(result.exitCode, result.stdout).toBe(3);
      expectClass(result, 'AuthFailure', false);
    });
  }

  it('a restore target on a full volume is NoSpace, not retryable (a 64 KiB tmpfs in a mount namespace)', async () => {
    const target = join(s.root, 'tiny');
    mkdirSync(target);
    const result = await runMover(['restore'], restoreEnv(target), {
      wrap: ns('d=$1; shift; mount -t tmpfs -o size=64k tmpfs "$d" || exit 99; exec "$@"', target),
    });
    expect(result.exitCode, result.stdout).toBe(1);
    expectClass(result, 'NoSpace', false);
  });

  it('a backup into a repository on a full volume is NoSpace, not retryable (a 256 KiB tmpfs in a mount namespace)', async () => {
    const c = scenario('fullrepo');
    mkdirSync(c.data);
    writeFileSync(join(c.data, 'big.bin'), randomBytes(1_000_000));
    mkdirSync(c.repo);
    const result = await runMover(['backup'], { ...c.env, DATA_DIR: c.data }, {
      wrap: ns('d=$1; shift; mount -t tmpfs -o size=256k tmpfs "$d" || exit 99; exec "$@"', c.repo),
    });
    expect([1, 3]).toContain(result.exitCode);
    expectClass(result, 'NoSpace', false);
  });

  it('a file bind-mounted where the snapshot has that file is MountBusy, not retryable (or refused before kopia)', async () => {
    const target = join(s.root, 'busy');
    mkdirSync(target);
    writeFileSync(join(target, 'small.txt'), 'old\n');
    const other = join(s.root, 'other-file');
    writeFileSync(other, 'someone else\n');
    const result = await runMover(['restore'], restoreEnv(target), {
      wrap: ns('f=$1; o=$2; shift 2; mount --bind "$o" "$f" || exit 99; exec "$@"', join(target, 'small.txt'), other),
    });
    expect(result.exitCode, result.stdout).not.toBe(0);
    expect(readFileSync(other, 'utf8')).toBe('someone else\n');
    // A check before kopia may refuse the mount point with exit 2; kopia's own EBUSY is MountBusy.
    if (result.exitCode === 2) expectClass(result, 'Configuration', false);
    else expectClass(result, 'MountBusy', false);
  });

  it('a file where the snapshot has a directory is replaced or a TargetConflict, never Unknown', async () => {
    const target = join(s.root, 'conflict');
    mkdirSync(target);
    writeFileSync(join(target, 'dir'), 'a file where the snapshot has a directory\n');
    const result = await runMover(['restore'], restoreEnv(target));
    if (result.exitCode === 0) {
      expect(statSync(join(target, 'dir')).isDirectory()).toBe(true);
    } else {
      expect(result.exitCode, result.stdout).toBe(1);
      expectClass(result, 'TargetConflict', false);
    }
  });

  it('a repository whose pack blobs were deleted is RepositoryCorrupt, not retryable', async () => {
    const c = scenario('packgone');
    mkdirSync(c.data);
    writeFileSync(join(c.data, 'data.bin'), randomBytes(100_000));
    expect((await runMover(['backup'], { ...c.env, DATA_DIR: c.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' })).exitCode).toBe(0);
    const packs = files(c.repo).filter((f) => f.includes(`${join(c.repo, 'p')}/`));
    expect(packs.length).toBeGreaterThan(0);
    for (const pack of packs) rmSync(pack);
    const target = join(c.root, 'target');
    const result = await runMover(['restore'], { ...c.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/data', KOPIA_CACHE_DIR: join(c.root, 'fresh-cache') });
    expect(result.exitCode, result.stdout).toBe(1);
    expectClass(result, 'RepositoryCorrupt', false);
  });

  it("a cache whose contents/.shards is garbage is cleared alone and the backup succeeds in the same run, despite recent own-writes", async () => {
    const c = scenario('shards');
    mkdirSync(c.data);
    writeFileSync(join(c.data, 'a.txt'), 'a\n');
    const env = { ...c.env, DATA_DIR: c.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);
    writeFileSync(join(c.cache, 'contents', '.shards'), 'garbage{{');
    const recent = readdirSync(join(c.cache, 'own-writes')).filter((n) => !n.startsWith('.'));
    expect(recent.length).toBeGreaterThan(0);
    writeFileSync(join(c.data, 'b.txt'), 'b\n');
    const result = await runMover(['backup'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.plainLines.some((l) => l.startsWith('WARNING: the local cache was corrupt'))).toBe(true);
    expect(kopiaJson<unknown[]>(c.cache, c.password, ['snapshot', 'list', '--all'])).toHaveLength(2);
    for (const name of recent) expect(existsSync(join(c.cache, 'own-writes', name))).toBe(true);
  });

  it("a cached kopia.blobcfg overwritten with garbage is cleared with kopia.repository and the backup succeeds in the same run", async () => {
    const c = scenario('blobcfg');
    mkdirSync(c.data);
    writeFileSync(join(c.data, 'a.txt'), 'a\n');
    const env = { ...c.env, DATA_DIR: c.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);
    writeFileSync(join(c.cache, 'kopia.blobcfg'), randomBytes(200));
    const result = await runMover(['backup'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.plainLines.some((l) => l.startsWith('WARNING: the local cache was corrupt'))).toBe(true);
    expect(kopiaJson<unknown[]>(c.cache, c.password, ['snapshot', 'list', '--all'])).toHaveLength(2);
  });

  it('a cache whose index-blobs/.shards is garbage, with recent own-writes, fails saying why it was not cleared and what to do', async () => {
    const c = scenario('shardsidx');
    mkdirSync(c.data);
    writeFileSync(join(c.data, 'a.txt'), 'a\n');
    const env = { ...c.env, DATA_DIR: c.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);
    writeFileSync(join(c.cache, 'index-blobs', '.shards'), 'garbage{{');
    const result = await runMover(['backup'], env);
    expect(result.exitCode, result.stdout).toBe(3);
    expect(summaryValue(result, 'FAILURE_REASON')).toContain(`${join(c.cache, 'own-writes')} holds`);
    expectClass(result, 'CacheError', true);
    expect(summaryValue(result, 'FAILURE_FIX')).toContain('KOPIA_FORCE_CACHE_REBUILD=true');

    // Once those writes are older than kopia's 15 minutes, the same run recovers by itself.
    const old = new Date(Date.now() - 20 * 60 * 1000);
    for (const name of readdirSync(join(c.cache, 'own-writes'))) utimesSync(join(c.cache, 'own-writes', name), old, old);
    const recovered = await runMover(['backup'], env);
    expect(recovered.exitCode, recovered.stdout).toBe(0);
  });
});
