import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listingPath, removeExtras, SnapshotPaths } from '../../src/operations/prune.js';

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

/** The snapshot paths of a `kopia ls -r <id>` listing of the given relative paths. */
function listing(...paths: string[]): SnapshotPaths {
  const keep = new SnapshotPaths();
  for (const p of paths) {
    const path = listingPath(`${ID}/${p}`, ID);
    if (path === undefined) throw new Error('listing did not parse');
    keep.add(path);
  }
  return keep;
}

describe('listingPath', () => {
  it('strips the snapshot id prefix and the trailing / of directories', () => {
    expect(listingPath(`${ID}/a.txt`, ID)).toBe('a.txt');
    expect(listingPath(`${ID}/dir/`, ID)).toBe('dir');
    expect(listingPath(`${ID}/dir/sub/b.txt`, ID)).toBe('dir/sub/b.txt');
  });

  it('keeps names with spaces intact', () => {
    expect(listingPath(`${ID}/my file.txt`, ID)).toBe('my file.txt');
  });

  it('refuses a line of another shape, so nothing is deleted on a guess', () => {
    expect(listingPath('warning: something odd', ID)).toBeUndefined();
    expect(listingPath('kOTHER/a.txt', ID)).toBeUndefined();
    // A prefix of the id is not the id.
    expect(listingPath(`${ID.slice(0, -1)}/a.txt`, ID)).toBeUndefined();
  });
});

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
  it('removes files and directories not in the snapshot and keeps the rest', () => {
    tree(root, ['keep.txt', 'extra.txt', 'dir/keep.txt', 'dir/extra.txt', 'gone/deep/file.txt', 'empty/']);
    const keep = listing('keep.txt', 'dir/', 'dir/keep.txt');
    const { removed } = removeExtras(root, keep);
    expect(list(root)).toEqual(['dir/', 'dir/keep.txt', 'keep.txt']);
    // extra.txt, dir/extra.txt, gone (with its contents), empty
    expect(removed).toBe(4);
  });

  it('keeps the top-level lost+found and what is in it', () => {
    tree(root, ['lost+found/orphan', 'keep.txt']);
    removeExtras(root, listing('keep.txt'));
    expect(list(root)).toEqual(['keep.txt', 'lost+found/', 'lost+found/orphan']);
  });

  it('a nested lost+found is an ordinary name', () => {
    tree(root, ['dir/lost+found/x']);
    removeExtras(root, listing('dir/'));
    expect(list(root)).toEqual(['dir/']);
  });

  it('keeps nested entries that are listed', () => {
    tree(root, ['a/b/c/deep.txt', 'a/b/other.txt', 'a/top.txt']);
    removeExtras(root, listing('a/', 'a/b/', 'a/b/c/', 'a/b/c/deep.txt'));
    expect(list(root)).toEqual(['a/', 'a/b/', 'a/b/c/', 'a/b/c/deep.txt']);
  });

  it('an empty keep set empties the directory but lost+found', () => {
    tree(root, ['x', 'y/z', 'lost+found/']);
    const { removed } = removeExtras(root, new SnapshotPaths());
    expect(list(root)).toEqual(['lost+found/']);
    expect(removed).toBe(2);
  });

  it('nothing to remove reports zero', () => {
    tree(root, ['a.txt', 'd/b.txt']);
    expect(removeExtras(root, listing('a.txt', 'd/', 'd/b.txt')).removed).toBe(0);
    expect(list(root)).toEqual(['a.txt', 'd/', 'd/b.txt']);
  });

  it('does not follow a listed symlink into the directory it points at', () => {
    const outside = join(base, 'outside');
    tree(outside, ['precious.txt']);
    symlinkSync(outside, join(root, 'link'));
    removeExtras(root, listing('link'));
    expect(existsSync(join(outside, 'precious.txt'))).toBe(true);
  });

  it('removes an unlisted symlink itself, not its target', () => {
    const outside = join(base, 'outside');
    tree(outside, ['precious.txt']);
    symlinkSync(outside, join(root, 'link'));
    removeExtras(root, new SnapshotPaths());
    expect(existsSync(join(root, 'link'))).toBe(false);
    expect(existsSync(join(outside, 'precious.txt'))).toBe(true);
  });
});
