// Generated attacks on DATA_DIR against a real snapshot (issue 17). The invariant, whatever DATA_DIR
// holds: nothing outside DATA_DIR changes; with deletion DATA_DIR ends equal to the snapshot (lost+found
// and foreign mount points aside); a refusal is exit 2 with DATA_DIR untouched, or a deletion stopped
// at a protected folder that says so. FUZZ_RUNS and FUZZ_SEED raise and choose the cases (npm run fuzz).
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { runMover, scenario, type Env, type MoverResult } from '../support/mover.js';
import { differences, fingerprint } from '../support/trees.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 60);
const SEED = Number(process.env['FUZZ_SEED'] ?? 170017);

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** The snapshot's own names, each a way to collide with it; then names only a target has. */
const SNAPSHOT_NAMES = ['a.txt', 'd', 'e', 'f', 'link-in', 'link-out', 'bad\xff', 'bad\xef\xbf\xbd', 'nl\nname', 'ctl\x01name', 'dirnl\nx'];
const OTHER_NAMES = ['x', 'new\nline', 'ctl\x7f\x1b', 'bad\xfe\xfd', 'sp ace', 'lost+found', `odd\nk`];
const NAMES = [...SNAPSHOT_NAMES, ...OTHER_NAMES];
/** Folders of the snapshot (and one that is not) where generated entries go. */
const PARENTS = ['', 'd', 'd/sub', 'e', 'dirnl\nx', 'x'];

type Kind = 'file' | 'dir' | 'link-inside' | 'link-outside-dir' | 'link-outside-file' | 'link-up';
const KINDS: Kind[] = ['file', 'dir', 'link-inside', 'link-outside-dir', 'link-outside-file', 'link-up'];

interface Case {
  entries: { parent: number; name: number; kind: Kind }[];
  deletion: boolean;
  /** Where the repository and the cache are: beside DATA_DIR, or inside it (or DATA_DIR inside the cache). */
  placement: 'beside' | 'repo-inside' | 'cache-inside' | 'data-inside-cache';
  /** Bind mounts inside DATA_DIR, in a private mount namespace. */
  mounts: { at: number; source: 'outside' | 'case-root' | 'test-root' }[];
}

const caseArbitrary: fc.Arbitrary<Case> = fc.record({
  entries: fc.array(
    fc.record({ parent: fc.nat(PARENTS.length - 1), name: fc.nat(NAMES.length - 1), kind: fc.constantFrom(...KINDS) }),
    { maxLength: 12 },
  ),
  deletion: fc.boolean(),
  // Mostly beside and without mounts, so that most deletions run to the end rather than being refused.
  placement: fc.constantFrom('beside', 'beside', 'beside', 'beside', 'repo-inside', 'cache-inside', 'data-inside-cache'),
  mounts: fc.oneof(
    { weight: 2, arbitrary: fc.constant<Case['mounts']>([]) },
    { weight: 1, arbitrary: fc.array(fc.record({ at: fc.nat(NAMES.length - 1), source: fc.constantFrom('outside', 'case-root', 'test-root') }), { minLength: 1, maxLength: 2 }) },
  ),
});

/** The source tree of the one snapshot every case restores. */
function writeSource(root: string): void {
  const at = (p: string) => bytes(join(root, p));
  mkdirSync(join(root, 'd', 'sub'), { recursive: true });
  mkdirSync(join(root, 'e'));
  writeFileSync(join(root, 'a.txt'), 'a\n');
  writeFileSync(join(root, 'd', 'in-d.txt'), 'in d\n');
  writeFileSync(join(root, 'd', 'sub', 'deep.txt'), 'deep\n');
  writeFileSync(join(root, 'f'), 'f\n');
  symlinkSync('a.txt', join(root, 'link-in'));
  symlinkSync('/etc/hostname', join(root, 'link-out'));
  writeFileSync(at('bad\xff'), 'bad byte\n');
  writeFileSync(at('nl\nname'), 'newline\n');
  writeFileSync(at('ctl\x01name'), 'control\n');
  mkdirSync(at('dirnl\nx'));
  writeFileSync(at('dirnl\nx/y'), 'y\n');
}

/** Writes the generated entries; an entry whose parent is not a folder (or that exists) is skipped. */
function writeTarget(target: string, outside: string, c: Case): void {
  mkdirSync(target, { recursive: true });
  for (const e of c.entries) {
    const parent = PARENTS[e.parent]!;
    const path = bytes(join(target, parent, NAMES[e.name]!));
    try {
      if (parent !== '') mkdirSync(bytes(join(target, parent)), { recursive: true });
      switch (e.kind) {
        case 'file':
          writeFileSync(path, 'generated\n', { flag: 'wx' });
          break;
        case 'dir':
          mkdirSync(path);
          writeFileSync(Buffer.concat([path, bytes('/inner')]), 'inner\n');
          break;
        case 'link-inside':
          symlinkSync('a.txt', path);
          break;
        case 'link-outside-dir':
          symlinkSync(outside, path);
          break;
        case 'link-outside-file':
          symlinkSync(join(outside, 'in-d.txt'), path);
          break;
        case 'link-up':
          symlinkSync('../..', path);
          break;
      }
    } catch {
      // A parent that is a file or a link, or a name already taken: that entry is not made.
    }
  }
}

/** A path's bytes as octal escapes for printf %b: argv is UTF-8, and a name may not be. */
function octal(path: string): string {
  return [...bytes(path)].map((b) => `\\0${b.toString(8).padStart(3, '0')}`).join('');
}

/** A shell that makes the case's bind mounts in a private namespace, then runs the program. */
function namespaceWrap(mounts: { point: string; source: string }[]): string[] | undefined {
  if (mounts.length === 0) return undefined;
  // The X keeps a trailing line break that command substitution would drop.
  const script = mounts.map((m) => `p=$(printf '%bX' '${octal(m.point)}') && mount --bind '${m.source}' "\${p%X}"`).join(' && ');
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${script} || exit 99; exec "$@"`, 'sh'];
}

/** The refusals' words, to count which ones the cases met. */
const REFUSALS = ['has the filesystem repository', 'mounted inside it', 'the same folder by device and inode', 'contains', 'is inside', 'is a mount point', 'is a directory where the snapshot has', 'file deletion stopped'];

describe('confinement property: a restore changes nothing outside DATA_DIR', () => {
  const s = scenario('confineprop');
  const outside = join(s.root, 'outside');
  const restoreCache = join(s.root, 'restore-cache');
  let reference: Map<string, string>;
  let base: Env;

  beforeAll(async () => {
    mkdirSync(s.data);
    writeSource(s.data);
    mkdirSync(outside);
    writeFileSync(join(outside, 'in-d.txt'), 'precious, outside DATA_DIR\n');
    mkdirSync(join(outside, 'sub'));
    writeFileSync(join(outside, 'sub', 'deep.txt'), 'precious too\n');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' });
    expect(backup.exitCode, backup.stdout).toBe(0);
    base = { ...s.env, KOPIA_SOURCE_PATH_OVERRIDE: '/data', KOPIA_CACHE_DIR: restoreCache };
    const first = join(s.root, 'reference');
    const restored = await runMover(['restore'], { ...base, DATA_DIR: first });
    expect(restored.exitCode, restored.stdout).toBe(0);
    reference = fingerprint(first);
    rmSync(first, { recursive: true });
  });

  it(`holds for ${RUNS} generated target trees (seed ${SEED})`, async () => {
    console.log(`confinement property: ${RUNS} cases, seed ${SEED} (FUZZ_RUNS / FUZZ_SEED to change)`);
    let index = 0;
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(caseArbitrary, async (c) => {
        const outcome = await checkCase(c, index++);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    console.log(`confinement property held for ${index} cases, seed ${SEED}: ${[...outcomes].map(([o, n]) => `${o} ${n}`).join(', ')}`);
  });

  async function checkCase(c: Case, index: number): Promise<string> {
    const caseRoot = join(s.root, `case-${index}`);
    const cache = c.placement === 'cache-inside' || c.placement === 'data-inside-cache' ? join(caseRoot, 'cache') : restoreCache;
    const target = c.placement === 'data-inside-cache' ? join(cache, 'data-here') : join(caseRoot, 'target');
    writeTarget(target, outside, c);
    const cacheDir = c.placement === 'cache-inside' ? join(target, 'zz-cache') : cache;
    let repo = s.repo;
    if (c.placement === 'repo-inside') {
      repo = join(target, 'zz-repo');
      renameSync(s.repo, repo);
    }
    const sources = { outside, 'case-root': caseRoot, 'test-root': s.root };
    const mounts = c.mounts.map((m) => ({ point: join(target, NAMES[m.at]!), source: sources[m.source] }));
    const made = mounts.filter((m) => {
      try {
        mkdirSync(bytes(m.point));
        return true;
      } catch {
        return false;
      }
    });
    const points = made.map((m) => bytes(m.point));
    // Outside DATA_DIR: the whole test root but the cache kopia writes to (outside the tree when it is inside DATA_DIR).
    // The repository moved inside DATA_DIR for the run is inside it: back in its place afterwards, it is not compared.
    const skipOutside = [target, restoreCache, ...(cacheDir === restoreCache ? [] : [cacheDir]), ...(repo === s.repo ? [] : [s.repo])];
    const outsideBefore = fingerprint(s.root, skipOutside);
    const movedRepo = repo === s.repo ? [] : [repo];
    const targetBefore = fingerprint(target, [cacheDir, ...movedRepo]);
    const env = { ...base, DATA_DIR: target, KOPIA_CACHE_DIR: cacheDir, KOPIA_REPOSITORY: `filesystem://${repo}`, KOPIA_ENABLE_FILE_DELETION: c.deletion ? 'true' : undefined };
    let result: MoverResult;
    try {
      result = await runMover(['restore'], env, { wrap: namespaceWrap(made) });
    } finally {
      if (repo !== s.repo) renameSync(repo, s.repo);
    }
    const context = `case ${index}: ${JSON.stringify(c)}\n${result.stdout.slice(-4000)}`;
    expect(differences(outsideBefore, fingerprint(s.root, skipOutside)), context).toEqual([]);
    if (result.exitCode === 2) {
      expect(result.stdout, context).toContain('DATA_DIR');
      expect(differences(targetBefore, fingerprint(target, [cacheDir, ...movedRepo])), context).toEqual([]);
    } else if (result.exitCode === 1) {
      expect(result.stdout, context).toContain('file deletion stopped');
    } else {
      expect(result.exitCode, context).toBe(0);
      const after = fingerprint(target, [cacheDir, join(target, 'lost+found'), ...points, ...movedRepo]);
      if (c.deletion) expect(differences(reference, after), context).toEqual([]);
      else expect(differences(reference, after).filter((d) => !d.includes(': added ')), context).toEqual([]);
    }
    rmSync(caseRoot, { recursive: true, force: true });
    const reason = result.exitCode === 0 ? '' : ` (${REFUSALS.find((r) => result.stdout.includes(r)) ?? 'other'})`;
    return `exit ${result.exitCode}${c.deletion ? ' with deletion' : ''}${reason}`;
  }
});
