// Deletion and restore stay inside DATA_DIR, whatever spelling leads elsewhere (issue 17).
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordsSoFar, runMover, scenario, startMover, summaryValue, waitFor, type Env } from '../support/mover.js';
import { differences, fingerprint } from '../support/trees.js';

/** Runs the program in a private mount namespace after `setup` (a shell snippet) made its mounts. */
function inNamespace(setup: string): string[] {
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${setup} || exit 99; exec "$@"`, 'sh'];
}

/** A backup of `s.data` as /data, then the env of a restore of it into `target`. */
async function backedUp(s: ReturnType<typeof scenario>, target: string, extra: Env = {}): Promise<Env> {
  const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' });
  expect(backup.exitCode, backup.stdout).toBe(0);
  return { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/data', ...extra };
}

function seed(s: ReturnType<typeof scenario>): void {
  mkdirSync(join(s.data, 'd', 'sub'), { recursive: true });
  writeFileSync(join(s.data, 'a.txt'), 'a\n');
  writeFileSync(join(s.data, 'd', 'in-d.txt'), 'in d\n');
  writeFileSync(join(s.data, 'd', 'sub', 'deep.txt'), 'deep\n');
}

describe('file deletion refuses protected folders by identity, not by spelling', () => {
  it("DATA_DIR a bind mount of the repository's parent: exit 2 before any kopia process, the repository intact", async () => {
    const s = scenario('bindparent');
    seed(s);
    const env = await backedUp(s, join(s.root, 'other-spelling'), { KOPIA_ENABLE_FILE_DELETION: 'true' });
    mkdirSync(join(s.root, 'other-spelling'));
    const before = fingerprint(s.repo);
    const result = await runMover(['restore'], env, { wrap: [...inNamespace(`mount --bind "${s.root}" "${join(s.root, 'other-spelling')}"`)] });
    expect(result.exitCode, result.stdout).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    expect(summaryValue(result, 'FAILURE_REASON')).toContain('DATA_DIR: file deletion (KOPIA_ENABLE_FILE_DELETION) refused');
    expect(result.stdout).toContain(`${join(s.root, 'other-spelling')} is ${s.root}, which holds`);
    expect(result.stdout).toContain('(the same folder by device and inode)');
    expect(differences(before, fingerprint(s.repo))).toEqual([]);
  });

  it('the repository bind-mounted inside DATA_DIR: exit 2 before any kopia process, naming the mount', async () => {
    const s = scenario('bindinside');
    seed(s);
    const target = join(s.root, 'target');
    mkdirSync(join(target, 'repo-view'), { recursive: true });
    writeFileSync(join(target, 'stale.txt'), 'extra\n');
    const env = await backedUp(s, target, { KOPIA_ENABLE_FILE_DELETION: 'true' });
    const before = fingerprint(s.repo);
    const result = await runMover(['restore'], env, { wrap: inNamespace(`mount --bind "${s.repo}" "${join(target, 'repo-view')}"`) });
    expect(result.exitCode, result.stdout).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.stdout).toContain(`the filesystem repository ${s.repo} mounted inside it at ${join(target, 'repo-view')}`);
    expect(differences(before, fingerprint(s.repo))).toEqual([]);
    expect(existsSync(join(target, 'stale.txt'))).toBe(true);
  });
});

describe('a restore writes only inside DATA_DIR', () => {
  for (const deletion of [false, true]) {
    it(`a symlink where the snapshot has a folder is replaced, never followed (deletion ${deletion ? 'on' : 'off'}); nothing outside DATA_DIR changes`, async () => {
      const s = scenario(deletion ? 'linkdel' : 'linkplain');
      seed(s);
      const target = join(s.root, 'target');
      const outside = join(s.root, 'outside');
      mkdirSync(join(outside, 'sub'), { recursive: true });
      writeFileSync(join(outside, 'in-d.txt'), 'precious, outside DATA_DIR\n');
      writeFileSync(join(outside, 'sub', 'deep.txt'), 'precious too\n');
      mkdirSync(target);
      symlinkSync(outside, join(target, 'd'));
      const env = await backedUp(s, target, deletion ? { KOPIA_ENABLE_FILE_DELETION: 'true' } : {});
      const skip = [target, s.cache];
      const before = fingerprint(s.root, skip);
      const result = await runMover(['restore'], env);
      expect(result.exitCode, result.stdout).toBe(0);
      expect(differences(before, fingerprint(s.root, skip))).toEqual([]);
      expect(differences(fingerprint(s.data), fingerprint(target))).toEqual([]);
      const replaced = result.records.find((r) => r['msg'] === 'removed entries that stood where the snapshot has another type (kopia would have written through them or failed)');
      expect(replaced?.['replaced']).toEqual([join(target, 'd')]);
    });
  }

  it('a folder where the snapshot has a file: exit 2 with DATA_DIR untouched without deletion; with deletion it is moved aside, then deleted once the restore completed', async () => {
    const s = scenario('folderfile');
    seed(s);
    const target = join(s.root, 'target');
    mkdirSync(join(target, 'a.txt', 'inner'), { recursive: true });
    writeFileSync(join(target, 'a.txt', 'inner', 'x'), 'x\n');
    const env = await backedUp(s, target);
    const before = fingerprint(target);
    const refused = await runMover(['restore'], env);
    expect(refused.exitCode, refused.stdout).toBe(2);
    expect(refused.stdout).toContain(`${join(target, 'a.txt')} is a directory where the snapshot has a file or a symlink`);
    expect(refused.stdout).toContain('run again with KOPIA_ENABLE_FILE_DELETION');
    expect(differences(before, fingerprint(target))).toEqual([]);
    const replaced = await runMover(['restore'], { ...env, KOPIA_ENABLE_FILE_DELETION: 'true' });
    expect(replaced.exitCode, replaced.stdout).toBe(0);
    // Moved aside before kopia wrote, removed by deletion only after the restore completed.
    const movedAt = replaced.stdout.indexOf('moved aside a folder');
    expect(movedAt).toBeGreaterThan(0);
    expect(replaced.stdout.indexOf('removed entries absent from the snapshot')).toBeGreaterThan(movedAt);
    expect(differences(fingerprint(s.data), fingerprint(target))).toEqual([]);
  });

  it('DATA_DIR given through a symlink is restored into its target (with deletion, extras go)', async () => {
    const s = scenario('datalink');
    seed(s);
    const real = join(s.root, 'real-target');
    mkdirSync(real);
    writeFileSync(join(real, 'extra.txt'), 'extra\n');
    symlinkSync(real, join(s.root, 'link-target'));
    const env = await backedUp(s, join(s.root, 'link-target'), { KOPIA_ENABLE_FILE_DELETION: 'true' });
    const result = await runMover(['restore'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(differences(fingerprint(s.data), fingerprint(real))).toEqual([]);
    const restore = result.kopiaCalls.find((a) => a[0] === 'snapshot' && a[1] === 'restore')!;
    expect(restore[3]).toBe(real);
  });

  it('a mount point at a path the snapshot holds: exit 2 before kopia restores, naming the mount point', async () => {
    const s = scenario('mountheld');
    seed(s);
    const target = join(s.root, 'target');
    mkdirSync(join(target, 'd'), { recursive: true });
    const env = await backedUp(s, target);
    const marker = join(s.root, 'after');
    const result = await runMover(['restore'], env, {
      wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs tmpfs "${join(target, 'd')}" || exit 99; "$@"; rc=$?; ls -A "${join(target, 'd')}" > "${marker}"; exit $rc`, 'sh'],
    });
    expect(result.exitCode, result.stdout).toBe(2);
    expect(result.kopiaCalls.map((a) => a.slice(0, 2).join(' '))).not.toContain('snapshot restore');
    expect(summaryValue(result, 'FAILURE_REASON')).toContain(`${join(target, 'd')} is a mount point at a path the snapshot holds`);
    expect(readFileSync(marker, 'utf8')).toBe('');
  });
});

describe('names that are not UTF-8', () => {
  it('extras with invalid UTF-8 are deleted, also one whose lossy decoding is a restored name; restored names stay', async () => {
    const s = scenario('badnames');
    mkdirSync(s.data);
    writeFileSync(Buffer.from(`${s.data}/bad\xff`, 'latin1'), 'in the snapshot\n');
    writeFileSync(join(s.data, 'line\nbreak'), 'kept\n');
    const target = join(s.root, 'target');
    mkdirSync(target);
    writeFileSync(Buffer.from(`${target}/other\xfe\xfd`, 'latin1'), 'extra\n');
    writeFileSync(join(target, 'extra\nline'), 'extra\n');
    const env = await backedUp(s, target, { KOPIA_ENABLE_FILE_DELETION: 'true' });
    // kopia stores and restores the bad byte as U+FFFD; the original name is now an extra.
    writeFileSync(Buffer.from(`${target}/bad\xff`, 'latin1'), 'lossy twin\n');
    const result = await runMover(['restore'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    const names = readdirSync(target, { encoding: 'buffer' }).map((n) => n.toString('hex')).sort();
    expect(names).toEqual([Buffer.from('bad\uFFFD'), Buffer.from('line\nbreak')].map((n) => n.toString('hex')).sort());
    const removal = result.records.find((r) => r['msg'] === 'removed entries absent from the snapshot');
    expect(removal?.['removed']).toBe(3);
  });
});

describe('DATA_DIR a symlink to a mount', () => {
  it('deletion works there, without a warning about other filesystems', async () => {
    const s = scenario('linkmount');
    seed(s);
    const mountPoint = join(s.root, 'volume');
    mkdirSync(mountPoint);
    symlinkSync(mountPoint, join(s.root, 'data-link'));
    const env = await backedUp(s, join(s.root, 'data-link'), { KOPIA_ENABLE_FILE_DELETION: 'true' });
    const marker = join(s.root, 'listing');
    const script = `mount -t tmpfs tmpfs "${mountPoint}" && echo x > "${mountPoint}/stale.txt" || exit 99; "$@"; rc=$?; ls -A "${mountPoint}" > "${marker}"; exit $rc`;
    const result = await runMover(['restore'], env, { wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh'] });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(readFileSync(marker, 'utf8').split('\n').filter(Boolean).sort()).toEqual(['a.txt', 'd']);
    expect(result.stdout).not.toContain('other filesystems');
  });
});

describe('a stop during deletion', () => {
  it('SIGTERM while extras are deleted: exit 143, "stop requested", every deletion so far in the log, the rest untouched', async () => {
    const s = scenario('stopdel');
    seed(s);
    const target = join(s.root, 'target');
    mkdirSync(target);
    const extras = 40_000;
    for (let i = 0; i < extras; i++) writeFileSync(join(target, `extra-${i}`), '');
    const env = await backedUp(s, target, { KOPIA_ENABLE_FILE_DELETION: 'true' });
    const handle = startMover(['restore'], env);
    await waitFor(handle, 'the first deletions in the log', () => recordsSoFar(handle).find((r) => r['msg'] === 'deleted entries absent from the snapshot'), { intervalMs: 5 });
    handle.kill('SIGTERM');
    const result = await handle.result;
    expect(result.exitCode, result.stdout.slice(-3000)).toBe(143);
    expect(result.stdout).toContain('stop requested');
    const logged = result.records.filter((r) => r['msg'] === 'deleted entries absent from the snapshot').flatMap((r) => r['deleted'] as string[]);
    const left = readdirSync(target).filter((n) => n.startsWith('extra-'));
    expect(left.length).toBeGreaterThan(0);
    expect(logged.length + left.length).toBe(extras);
    expect(new Set([...logged, ...left]).size).toBe(extras);
    expect(readFileSync(join(target, 'd', 'sub', 'deep.txt'), 'utf8')).toBe('deep\n');
  });
});
