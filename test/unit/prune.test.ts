import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { confineTarget } from '../../src/operations/confine.js';
import { ProtectedIdentities } from '../../src/operations/identity.js';
import { mountPoints, mountPointsBelow, unescapeOctal } from '../../src/operations/mounts.js';
import { DeletionStopped, removeExtras as prune, SnapshotListing, SnapshotPaths, type PruneOptions } from '../../src/operations/prune.js';

let base: string;
let root: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'prune-test-'));
  root = join(base, 'data');
  mkdirSync(root);
});

afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

/** Creates files (and their parent directories); names ending in / are directories. */
function tree(at: string, paths: string[]): void {
  for (const p of paths) {
    const full = join(at, p);
    if (p.endsWith('/')) {
      mkdirSync(full, { recursive: true });
    } else {
      mkdirSync(join(full, '..'), { recursive: true });
      writeFileSync(full, p);
    }
  }
}

/** Every path under `at`, relative, directories with a trailing /. */
function list(at: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(at, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      out.push(`${rel}/`, ...list(at, rel));
    } else {
      out.push(rel);
    }
  }
  return out.sort();
}

const ID = 'k0123abcd';

const NOTHING_GUARDED = { reason: () => undefined };

/** removeExtras on root with no mounts and nothing protected unless the test says otherwise. */
function removeExtras(at: string, keep: SnapshotPaths, options: Partial<PruneOptions> = {}) {
  return prune({ root: Buffer.from(at), keep, mounts: new Set(), guarded: NOTHING_GUARDED, ...options });
}

/** One line of `kopia ls -l -r` as kopia 0.22.3 prints it (`%v %12d %v %-34v %v`). */
function longLine(path: string | Buffer, kind: 'file' | 'dir' | 'symlink', oid = 'k'.padEnd(33, '0')): Buffer {
  const mode = { file: '-rw-r--r--', dir: 'drwxr-xr-x', symlink: 'Lrwxrwxrwx' }[kind];
  return Buffer.concat([Buffer.from(`${mode} ${'12'.padStart(12)} 2026-12-02 07:03:39 UTC ${oid.padEnd(34)} `), Buffer.from(path)]);
}

/** A SnapshotListing fed with kopia's raw long output; a path ending in / is a folder, one starting with @ a symlink. */
function rawListing(...paths: (string | Buffer)[]): SnapshotListing {
  const parsed = new SnapshotListing(ID);
  const kindOf = (p: string | Buffer) => (String(p).endsWith('/') ? 'dir' : String(p).startsWith('@') ? 'symlink' : 'file');
  const bytes = Buffer.concat(paths.flatMap((p) => [longLine(typeof p === 'string' ? p.replace(/^@/, '') : p, kindOf(p)), Buffer.from('\n')]));
  let start = 0;
  for (let end = bytes.indexOf(0x0a); end >= 0; end = bytes.indexOf(0x0a, start)) {
    parsed.line(bytes.subarray(start, end));
    start = end + 1;
  }
  parsed.end();
  return parsed;
}

/** The snapshot paths of a listing of the given relative paths (folders end in /). */
function listing(...paths: string[]): SnapshotPaths {
  return rawListing(...paths).paths;
}

describe('SnapshotPaths', () => {
  it('answers membership for every added path and no other, across growth and re-sorting', () => {
    const paths = new SnapshotPaths();
    for (let i = 0; i < 10_000; i++) paths.add(`dir${i % 37}/file-${i}.txt`);
    expect(paths.size).toBe(10_000);
    expect(paths.has('dir5/file-5.txt')).toBe(true);
    expect(paths.has('dir0/file-9999.txt')).toBe(false);
    paths.add('late/addition');
    expect(paths.has('late/addition')).toBe(true);
    expect(paths.has('dir36/file-36.txt')).toBe(true);
    expect(paths.has('late')).toBe(false);
  });
});

describe('removeExtras', () => {
  it('removes files and directories not in the snapshot and keeps the rest', async () => {
    tree(root, ['keep.txt', 'extra.txt', 'dir/keep.txt', 'dir/extra.txt', 'gone/deep/file.txt', 'empty/']);
    const keep = listing('keep.txt', 'dir/', 'dir/keep.txt');
    const { removed } = await removeExtras(root, keep);
    expect(list(root)).toEqual(['dir/', 'dir/keep.txt', 'keep.txt']);
    // extra.txt, dir/extra.txt, gone (with its contents), empty
    expect(removed).toBe(4);
  });

  it('keeps the top-level lost+found and what is in it', async () => {
    tree(root, ['lost+found/orphan', 'keep.txt']);
    await removeExtras(root, listing('keep.txt'));
    expect(list(root)).toEqual(['keep.txt', 'lost+found/', 'lost+found/orphan']);
  });

  it('a nested lost+found is an ordinary name', async () => {
    tree(root, ['dir/lost+found/x']);
    await removeExtras(root, listing('dir/'));
    expect(list(root)).toEqual(['dir/']);
  });

  it('keeps nested entries that are listed', async () => {
    tree(root, ['a/b/c/deep.txt', 'a/b/other.txt', 'a/top.txt']);
    await removeExtras(root, listing('a/', 'a/b/', 'a/b/c/', 'a/b/c/deep.txt'));
    expect(list(root)).toEqual(['a/', 'a/b/', 'a/b/c/', 'a/b/c/deep.txt']);
  });

  it('an empty keep set empties the directory but lost+found', async () => {
    tree(root, ['x', 'y/z', 'lost+found/']);
    const { removed } = await removeExtras(root, new SnapshotPaths());
    expect(list(root)).toEqual(['lost+found/']);
    expect(removed).toBe(2);
  });

  it('nothing to remove reports zero', async () => {
    tree(root, ['a.txt', 'd/b.txt']);
    expect((await removeExtras(root, listing('a.txt', 'd/', 'd/b.txt'))).removed).toBe(0);
    expect(list(root)).toEqual(['a.txt', 'd/', 'd/b.txt']);
  });

  it('does not follow a listed symlink into the directory it points at', async () => {
    const outside = join(base, 'outside');
    tree(outside, ['precious.txt']);
    symlinkSync(outside, join(root, 'link'));
    await removeExtras(root, listing('link'));
    expect(existsSync(join(outside, 'precious.txt'))).toBe(true);
  });

  it('removes an unlisted symlink itself, not its target', async () => {
    const outside = join(base, 'outside');
    tree(outside, ['precious.txt']);
    symlinkSync(outside, join(root, 'link'));
    await removeExtras(root, new SnapshotPaths());
    expect(existsSync(join(root, 'link'))).toBe(false);
    expect(existsSync(join(outside, 'precious.txt'))).toBe(true);
  });
});

/** Creates a file whose name is the given bytes, inside `dir`. */
function byteFile(dir: string, name: Buffer, content = 'x'): Buffer {
  const path = Buffer.concat([Buffer.from(`${dir}/`), name]);
  writeFileSync(path, content);
  return path;
}

function namesIn(dir: string): Buffer[] {
  return readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare);
}

describe('SnapshotListing: kopia ls -r read as bytes', () => {
  it('a name with a line break spans lines: the continuation joins it, and no half of it is an entry', () => {
    const parsed = rawListing('a.txt', 'nl\nname', 'dir/', 'dir/x\ny/', 'dir/x\ny/inner');
    expect(parsed.understood).toBe(true);
    for (const p of ['a.txt', 'nl\nname', 'dir', 'dir/x\ny', 'dir/x\ny/inner']) expect(parsed.paths.has(Buffer.from(p)), p).toBe(true);
    expect(parsed.paths.has(Buffer.from('nl'))).toBe(false);
    expect(parsed.directories.has(Buffer.from('dir/x\ny'))).toBe(true);
    expect(parsed.directories.has(Buffer.from('a.txt'))).toBe(false);
  });

  it('matches bytes, not a decoding: U+FFFD in the listing is not the invalid byte it replaced', () => {
    const parsed = rawListing(Buffer.from('bad\uFFFDname'));
    expect(parsed.paths.has(Buffer.from('bad\uFFFDname'))).toBe(true);
    expect(parsed.paths.has(Buffer.from([0x62, 0x61, 0x64, 0xff, 0x6e, 0x61, 0x6d, 0x65]))).toBe(false);
  });

  it('a first line of another shape means nothing is understood', () => {
    const parsed = new SnapshotListing(ID);
    parsed.line(Buffer.from('warning: something odd'));
    parsed.line(longLine('a.txt', 'file'));
    expect(parsed.understood).toBe(false);
  });

  it('reads the mode: symlinks apart, a folder with an error count, an object id longer than its column', () => {
    const parsed = new SnapshotListing(ID);
    for (const line of [longLine('link', 'symlink'), longLine('d/ (2 errors)', 'dir'), longLine(' lead space', 'file', `Ix${'0'.repeat(40)}`)]) parsed.line(line);
    parsed.end();
    expect(parsed.symlinks.has(Buffer.from('link'))).toBe(true);
    expect(parsed.directories.has(Buffer.from('d'))).toBe(true);
    expect(parsed.paths.has(Buffer.from(' lead space'))).toBe(true);
    expect(parsed.symlinks.has(Buffer.from('d'))).toBe(false);
  });

  it('a name whose part after a line break reads as an entry line is ambiguous', () => {
    const parsed = new SnapshotListing(ID);
    expect(parsed.ambiguous(Buffer.concat([Buffer.from('x\n'), longLine('y', 'file')]))).toBe(true);
    expect(parsed.ambiguous(Buffer.from('x\ny'))).toBe(false);
  });
});

describe('removeExtras on byte-exact names', () => {
  it('deletes an extra whose name is not UTF-8 without stopping, and one whose lossy decoding equals a snapshot name', async () => {
    const invalid = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe]);
    byteFile(root, invalid);
    const restored = Buffer.from('bad\uFFFD\uFFFD');
    byteFile(root, restored);
    byteFile(root, Buffer.from([0xc3]));
    tree(root, ['z-keep.txt']);
    const { removed } = await removeExtras(root, rawListing(restored, 'z-keep.txt').paths);
    expect(removed).toBe(2);
    expect(namesIn(root)).toEqual([restored, Buffer.from('z-keep.txt')].sort(Buffer.compare));
  });

  it('keeps a restored name with a line break, deletes an extra one, keeps an ambiguous one and counts it', async () => {
    byteFile(root, Buffer.from('nl\nname'));
    byteFile(root, Buffer.from('extra\nname'));
    const odd = Buffer.concat([Buffer.from('odd\n'), longLine('x', 'file')]);
    byteFile(root, odd);
    const parsed = rawListing('nl\nname');
    const result = await removeExtras(root, parsed.paths, { ambiguous: (n) => parsed.ambiguous(n) });
    expect(result).toEqual({ removed: 1, otherDevice: 0, ambiguous: 1 });
    expect(namesIn(root)).toEqual([Buffer.from('nl\nname'), odd].sort(Buffer.compare));
  });

  it('does not enter a directory listed as a mount point, keeps and counts it', async () => {
    tree(root, ['mnt/inside.txt', 'extra.txt']);
    const result = await removeExtras(root, new SnapshotPaths(), { mounts: mountPointsBelow(Buffer.from(root), [Buffer.from(join(root, 'mnt'))]) });
    expect(result).toEqual({ removed: 1, otherDevice: 1, ambiguous: 0 });
    expect(list(root)).toEqual(['mnt/', 'mnt/inside.txt']);
  });

  it('keeps a single file that is a mount point (a bind-mounted file) rather than unlinking it', async () => {
    tree(root, ['bound.conf', 'extra.txt']);
    const result = await removeExtras(root, new SnapshotPaths(), { mounts: mountPointsBelow(Buffer.from(root), [Buffer.from(join(root, 'bound.conf'))]) });
    expect(result).toEqual({ removed: 1, otherDevice: 1, ambiguous: 0 });
    expect(list(root)).toEqual(['bound.conf']);
  });

  it('stops at a protected folder, says what it is, and has logged what it deleted before', async () => {
    tree(root, ['a-extra.txt', 'b-repo/blob', 'c-extra.txt']);
    const repo = join(root, 'b-repo');
    const guarded = new ProtectedIdentities([{ what: 'the filesystem repository', path: repo, inside: true }]);
    const logged: string[] = [];
    const walk = removeExtras(root, new SnapshotPaths(), { guarded, onRemoved: (p) => logged.push(...p) });
    await expect(walk).rejects.toThrow(DeletionStopped);
    await expect(walk).rejects.toThrow(/b-repo is the filesystem repository/);
    expect(existsSync(join(repo, 'blob'))).toBe(true);
    // Directory order is the filesystem's: whatever went before the stop is in the log, and only that.
    const left = list(root).filter((p) => p.endsWith('.txt'));
    expect([...logged, ...left].sort()).toEqual(['a-extra.txt', 'c-extra.txt']);
  });

  it('a stop requested while it walks ends it between entries with the stop reason, and the log has every deletion', async () => {
    tree(root, Array.from({ length: 2000 }, (_, i) => `extra-${i}.txt`));
    const controller = new AbortController();
    const logged: string[] = [];
    const walk = removeExtras(root, new SnapshotPaths(), {
      stop: controller.signal,
      batch: 100,
      onRemoved: (p) => {
        logged.push(...p);
        if (logged.length >= 300) controller.abort(new Error('stop requested'));
      },
    });
    await expect(walk).rejects.toThrow('stop requested');
    const left = readdirSync(root).length;
    expect(left).toBeGreaterThan(1000);
    expect(logged.length + left).toBe(2000);
  });
});

describe('mountinfo', () => {
  it('unescapes the kernel octal escapes of space, tab, newline and backslash', () => {
    expect(unescapeOctal(Buffer.from('/a\\040b\\011c\\012d\\134e'))).toEqual(Buffer.from('/a b\tc\nd\\e'));
    expect(unescapeOctal(Buffer.from('/plain\\9'))).toEqual(Buffer.from('/plain\\9'));
  });

  it('reads the mount point field of each line, and / is among them', () => {
    const file = join(base, 'mountinfo');
    writeFileSync(file, '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n35 22 8:1 /srv/x /mnt/with\\040space rw shared:1 - ext4 /dev/sda1 rw\n');
    expect(mountPoints(file)).toEqual([Buffer.from('/'), Buffer.from('/mnt/with space')]);
    expect(mountPoints().some((p) => p.equals(Buffer.from('/')))).toBe(true);
    expect([...mountPointsBelow(Buffer.from('/mnt'), mountPoints(file))]).toEqual(['/mnt/with space']);
  });
});

describe('confineTarget: DATA_DIR before kopia writes', () => {
  const confine = (listing: SnapshotListing, mounts: Buffer[] = []) =>
    confineTarget({ root: Buffer.from(root), listing, mounts: mountPointsBelow(Buffer.from(root), mounts), guarded: NOTHING_GUARDED }).then((c) => c.removed);

  it('removes a symlink or a file standing where the snapshot has a folder, never what it points at', async () => {
    const outside = join(base, 'outside');
    tree(outside, ['precious.txt']);
    symlinkSync(outside, join(root, 'd'));
    tree(root, ['sub/e', 'sub/kept.txt', 'extra/x']);
    const removed = await confine(rawListing('d/', 'd/precious.txt', 'sub/', 'sub/e/', 'sub/e/f'));
    expect(removed.sort()).toEqual([join(root, 'd'), join(root, 'sub/e')]);
    expect(readFileSync(join(outside, 'precious.txt'), 'utf8')).toBe('precious.txt');
    expect(list(root)).toEqual(['extra/', 'extra/x', 'sub/', 'sub/kept.txt']);
  });

  it('refuses a mount point at a path the snapshot holds, before removing anything', async () => {
    symlinkSync('/', join(root, 'a'));
    tree(root, ['m/']);
    await expect(confine(rawListing('a/', 'm/'), [Buffer.from(join(root, 'm'))])).rejects.toThrow(/m is a mount point at a path the snapshot holds/);
    expect(existsSync(join(root, 'a'))).toBe(true);
  });

  it('removes a file where the snapshot has a symlink and a symlink where it has a file or a symlink; keeps a file where it has a file', async () => {
    tree(root, ['l1', 'f']);
    symlinkSync('l2', join(root, 'l2'));
    symlinkSync('loop', join(root, 'loop'));
    expect((await confine(rawListing('@l1', '@l2', 'f', 'loop'))).sort()).toEqual([join(root, 'l1'), join(root, 'l2'), join(root, 'loop')]);
    expect(list(root)).toEqual(['f']);
  });

  it('refuses a bind-mounted file at a path the snapshot holds', async () => {
    tree(root, ['a.txt']);
    await expect(confine(rawListing('a.txt'), [Buffer.from(join(root, 'a.txt'))])).rejects.toThrow(/a.txt is a mount point at a path the snapshot holds/);
  });

  it('refuses a folder where the snapshot has a file without deletion; with deletion moves it aside whole, deleting nothing yet', async () => {
    tree(root, ['f/inside/deep', 'keep/']);
    await expect(confine(rawListing('f', 'keep/'))).rejects.toThrow(/f is a directory where the snapshot has a file or a symlink.*KOPIA_ENABLE_FILE_DELETION/);
    expect(list(root)).toEqual(['f/', 'f/inside/', 'f/inside/deep', 'keep/']);
    const options = { root: Buffer.from(root), listing: rawListing('f', 'keep/'), mounts: new Set<string>(), guarded: NOTHING_GUARDED, replaceFolders: true };
    const { removed, displaced } = await confineTarget(options);
    expect(removed).toEqual([]);
    expect(displaced).toHaveLength(1);
    expect(displaced[0]!.from).toBe(join(root, 'f'));
    const aside = displaced[0]!.to.slice(root.length + 1);
    expect(aside).toMatch(/^\.kopia-mover-displaced-[0-9a-f]{16}$/);
    expect(list(root)).toEqual([`${aside}/`, `${aside}/inside/`, `${aside}/inside/deep`, 'keep/']);
  });

  it('with deletion, still refuses such a folder when a mount point is inside it', async () => {
    tree(root, ['f/m/']);
    const options = { root: Buffer.from(root), listing: rawListing('f'), mounts: mountPointsBelow(Buffer.from(root), [Buffer.from(join(root, 'f/m'))]), guarded: NOTHING_GUARDED, replaceFolders: true };
    await expect(confineTarget(options)).rejects.toThrow(/f\/m is a mount point inside/);
    expect(list(root)).toEqual(['f/', 'f/m/']);
  });
});
