// A restore with file deletion of a 200,000-file snapshot, with the mover's Node heap limited to
// 32 MB: the memory the program needs must not grow with the number of files in the snapshot.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { realKopia, runMover, scenario, type MoverResult } from '../support/mover.js';

const DIRS = 400;
const FILES_PER_DIR = 500;
const FILES = DIRS * FILES_PER_DIR;
const EXTRA_IN_SNAPSHOT_DIRS = 1_000;
const EXTRA_IN_OTHER_DIRS = 1_000;

/** Small, distinct contents: the tree is quick to write, to snapshot and to restore. */
const content = (d: number, f: number) => `d${d}/f${f} kopia-mover large restore\n`;
const path = (d: number, f: number) => join(`d${d}`, `f${f}.txt`);

/** Every file below `root`, relative, sorted. */
function filesUnder(root: string): string[] {
  return (readdirSync(root, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

describe('restore with file deletion of a 200,000-file snapshot, Node heap limited to 32 MB', () => {
  const s = scenario('large');
  const target = join(s.root, 'target');
  const extras: string[] = [];
  let result: MoverResult;
  let snapshotId: string;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    let t = Date.now();
    for (let d = 0; d < DIRS; d++) {
      mkdirSync(join(s.data, `d${d}`), { recursive: true });
      for (let f = 0; f < FILES_PER_DIR; f++) writeFileSync(join(s.data, path(d, f)), content(d, f));
    }
    timings['write tree'] = Date.now() - t;

    // The snapshot is made with bare kopia: this test is about the restore.
    t = Date.now();
    const kopia = (args: string[]) => {
      const out = spawnSync(realKopia, [...args, `--config-file=${join(s.root, 'setup', 'kopia.config')}`, `--log-dir=${join(s.root, 'setup', 'logs')}`], {
        env: { PATH: process.env['PATH'], HOME: s.root, KOPIA_PASSWORD: s.password, KOPIA_CHECK_FOR_UPDATES: 'false' },
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      if (out.status !== 0) throw new Error(`kopia ${args.slice(0, 2).join(' ')} failed (exit ${out.status}):\n${out.stderr.slice(-2000)}`);
      return out.stdout;
    };
    kopia(['repository', 'create', 'filesystem', `--path=${s.repo}`, `--cache-directory=${join(s.root, 'setup', 'cache')}`, '--no-persist-credentials',
      '--override-username=large', '--override-hostname=ns1']);
    kopia(['snapshot', 'create', s.data, '--override-source=large@ns1:/data', '--parallel=4']);
    snapshotId = (JSON.parse(kopia(['snapshot', 'list', 'large@ns1:/data', '--json'])) as { id: string }[])[0]!.id;
    timings['kopia snapshot'] = Date.now() - t;

    // The target holds 2,000 files the snapshot does not: half beside restored files, half in
    // directories the snapshot does not have.
    for (let i = 0; i < EXTRA_IN_SNAPSHOT_DIRS; i++) {
      const d = (i * 37) % DIRS;
      mkdirSync(join(target, `d${d}`), { recursive: true });
      extras.push(join(`d${d}`, `extra-${i}.txt`));
    }
    for (let i = 0; i < EXTRA_IN_OTHER_DIRS; i++) {
      mkdirSync(join(target, `stale-${i % 20}`), { recursive: true });
      extras.push(join(`stale-${i % 20}`, `old-${i}.txt`));
    }
    for (const e of extras) writeFileSync(join(target, e), `not in the snapshot: ${e}\n`);

    t = Date.now();
    result = await runMover(['restore'], {
      ...s.env,
      DATA_DIR: target,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_OVERRIDE_USERNAME: 'large',
      KOPIA_OVERRIDE_HOSTNAME: 'ns1',
      KOPIA_ENABLE_FILE_DELETION: 'true',
      NODE_OPTIONS: '--max-old-space-size=32',
    });
    timings['mover restore'] = Date.now() - t;
    console.log(`large restore timings (ms): ${JSON.stringify(timings)}`);
  }, 900_000);

  it('exits 0 and reports the restore of the snapshot', () => {
    const tail = `${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`;
    expect(result.exitCode, tail).toBe(0);
    expect(result.terminationMessage?.['result'], tail).toBe('SUCCESS');
    expect(result.plainLines).toContain(`RESTORED_SNAPSHOT_ID: ${snapshotId}`);
  });

  it("the mover's heap stayed under half of its 32 MB limit: the listing streamed, nothing held it whole", () => {
    const memory = result.records.find((r) => r['msg'] === 'memory');
    expect(memory?.['heapLimitMiB']).toBe(32);
    expect(Number(memory?.['heapPeakMiB'])).toBeGreaterThan(0);
    expect(Number(memory?.['heapPeakMiB'])).toBeLessThan(16);
  });

  it('the restored tree is the snapshot: every path, and a sample of contents', () => {
    const restored = filesUnder(target);
    const expected = new Set<string>();
    for (let d = 0; d < DIRS; d++) for (let f = 0; f < FILES_PER_DIR; f++) expected.add(path(d, f));
    const unexpected = restored.filter((p) => !expected.has(p));
    const have = new Set(restored);
    const missing = [...expected].filter((p) => !have.has(p));
    expect({ files: restored.length, missing: missing.length, unexpected: unexpected.length, firstMissing: missing.slice(0, 3), firstUnexpected: unexpected.slice(0, 3) }).toEqual({
      files: FILES,
      missing: 0,
      unexpected: 0,
      firstMissing: [],
      firstUnexpected: [],
    });
    for (let i = 0; i < FILES; i += 997) {
      const d = Math.floor(i / FILES_PER_DIR);
      const f = i % FILES_PER_DIR;
      expect(readFileSync(join(target, path(d, f)), 'utf8')).toBe(content(d, f));
    }
  });

  it('exactly the 2,000 extra files are gone, with the directories only they used', () => {
    expect(extras).toHaveLength(EXTRA_IN_SNAPSHOT_DIRS + EXTRA_IN_OTHER_DIRS);
    const left = extras.filter((e) => existsSync(join(target, e)));
    expect({ left: left.length, first: left.slice(0, 3) }).toEqual({ left: 0, first: [] });
    expect(readdirSync(target).filter((n) => n.startsWith('stale-'))).toEqual([]);
  });
});
