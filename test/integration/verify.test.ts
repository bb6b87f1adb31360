// Verified backups: KOPIA_VERIFY_PERCENT after a backup and KOPIA_MAINTENANCE_VERIFY_PERCENT after
// maintenance read files back from the repository's storage with the real kopia. A pack file is
// damaged on disk (bytes flipped in a `p` blob of the filesystem repository) and the verify must
// find it, also when a restore through the same cache has left its contents in kopia's cache.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kopiaJson, kopiaText, runMover, scenario, summaryValue, type MoverResult } from '../support/mover.js';

type Scenario = ReturnType<typeof scenario>;

/** A tree of files with distinct contents (kopia reads a content shared by two files once). */
function seedTree(s: Scenario): void {
  mkdirSync(join(s.data, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(s.data, 'a.txt'), 'first file\n');
  writeFileSync(join(s.data, 'sub', 'b.bin'), randomBytes(150_000));
  writeFileSync(join(s.data, 'sub', 'deeper', 'c.txt'), 'third file, a little longer\n');
}

/** Every regular file under a folder and their bytes, counted from the disk. */
function treeFigures(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return { files, bytes };
}

/**
 * Flips every byte of every pack blob (`p…`) of a filesystem repository, as a failing disk or
 * another writer would; sizes and names stay, so only reading the data back can tell.
 */
function damagePacks(repo: string): number {
  const packs = readdirSync(join(repo, 'p'), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.f'))
    .map((e) => join(e.parentPath, e.name));
  for (const pack of packs) {
    const bytes = readFileSync(pack);
    for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff;
    writeFileSync(pack, bytes);
  }
  return packs.length;
}

const verifyCalls = (result: MoverResult) => result.kopiaCalls.filter((a) => a[0] === 'snapshot' && a[1] === 'verify');

function snapshotIds(s: Scenario): string[] {
  return kopiaJson<{ id: string }[]>(s.cache, s.password, ['snapshot', 'list', '--all']).map((m) => m.id);
}

describe('the verify after a backup', () => {
  it("empties only its own cache folder: a symlink at its name is unlinked, not followed; a mount there is refused and keeps every file", async () => {
    const s = scenario('verify-own-cache');
    seedTree(s);
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    const elsewhere = join(s.root, 'elsewhere');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'keep.txt'), 'not the verify cache\n');
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_VERIFY_PERCENT: '100' };

    symlinkSync(elsewhere, join(s.cache, 'verify-cache'));
    const linked = await runMover(['backup'], env);
    expect(linked.exitCode, linked.stdout).toBe(0);
    expect(readFileSync(join(elsewhere, 'keep.txt'), 'utf8')).toBe('not the verify cache\n');

    // The folder is a bind mount of another (a mount namespace of the run's own).
    const mounted = await runMover(['backup'], env, {
      wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mkdir -p "${join(s.cache, 'verify-cache')}" && mount --bind "${elsewhere}" "${join(s.cache, 'verify-cache')}" || exit 99; exec "$@"`, 'sh'],
    });
    expect(mounted.exitCode, mounted.stdout).toBe(1);
    expect(summaryValue(mounted, 'FAILURE_REASON')).toContain('is or holds a mount point: it was not emptied');
    expect(readFileSync(join(elsewhere, 'keep.txt'), 'utf8')).toBe('not the verify cache\n');
  });

  it('at 100 % reads back every file of the new snapshot: SNAPSHOT_VERIFIED counts the tree, as the plan said', async () => {
    const s = scenario('verify-clean');
    seedTree(s);
    // The repository exists (its creation would add conditional commands to the plan); the verify
    // reads the whole new snapshot, unchanged files included.
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_VERIFY_PERCENT: '100' };
    const plan = await runMover(['plan', '--operation', 'backup'], env);
    expect(plan.exitCode, plan.stdout).toBe(0);
    expect(plan.plainLines.some((l) => /^\d+\. .* snapshot verify '<new snapshot>' --verify-files-percent=100 --json /.test(l))).toBe(true);
    expect(plan.plainLines.join('\n')).toContain(`empty ${join(s.cache, 'verify-cache')}, the verify's own cache`);

    const result = await runMover(['backup'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    const { files, bytes } = treeFigures(s.data);
    expect(files).toBe(3);
    expect(summaryValue(result, 'SNAPSHOT_VERIFIED')).toBe(`${files} files, ${bytes} bytes, 0 errors`);
    expect(result.terminationMessage?.['verified']).toEqual({ scope: 'snapshot', files, bytes, errors: 0 });
    // The new snapshot alone, and last: after the snapshot and everything that reports on it.
    const id = summaryValue(result, 'SNAPSHOT_ID')!;
    expect(verifyCalls(result).map((a) => a.slice(0, 5))).toEqual([['snapshot', 'verify', id, '--verify-files-percent=100', '--json']]);
    expect(result.kopiaCalls.at(-1)?.slice(0, 2)).toEqual(['snapshot', 'verify']);
    const count = Number(/^# (\d+) kopia command\(s\)/m.exec(plan.stdout)?.[1]);
    expect(count).toBe(result.kopiaCalls.length);
    // The verify's own cache is gone with it.
    expect(existsSync(join(s.cache, 'verify-cache'))).toBe(false);
  });

  it('finds a damaged pack file that a restore left in the cache: VerifyFailed, exit 1, the snapshot stays, no password in the output', async () => {
    const s = scenario('verify-damaged');
    // One file, named as the password: kopia names the file it cannot read back (the first it meets,
    // so the only one in a damaged pack), and that line must reach no output unredacted.
    mkdirSync(s.data, { recursive: true });
    writeFileSync(join(s.data, `${s.password}.txt`), 'named after the password\n');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    const target = join(s.root, 'restored');
    mkdirSync(target);
    const restore = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data });
    expect(restore.exitCode, restore.stdout).toBe(0);
    expect(damagePacks(s.repo)).toBeGreaterThan(0);
    // The restore read every content through this cache: kopia's own verify through it passes over
    // the damage (kopiaText throws on a non-zero exit), which is why the run's verify has a cache of its own.
    kopiaText(s.cache, s.password, ['snapshot', 'verify', '--verify-files-percent=100']);

    writeFileSync(join(s.data, 'new.txt'), 'a file of the second backup\n');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_VERIFY_PERCENT: '100' });
    expect(result.exitCode, result.stdout).toBe(1);
    expect(summaryValue(result, 'OPERATION_RESULT')).toBe('FAILURE');
    expect(summaryValue(result, 'FAILURE_CLASS')).toBe('VerifyFailed (retryable: no)');
    const id = summaryValue(result, 'SNAPSHOT_ID')!;
    expect(summaryValue(result, 'FAILURE_REASON')).toMatch(new RegExp(`^verify of snapshot ${id} found \\d+ errors? \\(first: .*\\); the snapshot was made and stays in the repository$`));
    expect(summaryValue(result, 'SNAPSHOT_VERIFIED')).toMatch(/^\d+ files, \d+ bytes, [1-9]\d* errors$/);
    expect((result.terminationMessage?.['failure'] as { class?: string } | undefined)?.class).toBe('VerifyFailed');
    expect(snapshotIds(s)).toContain(id);
    // Scanned by runMover too: the password is in no output line, record or kopia argv.
    for (const text of [result.stdout, result.stderr, JSON.stringify(result.terminationMessage)]) expect(text).not.toContain(s.password);
    expect(result.stdout).toContain('[redacted].txt');
  });

  it('0 or unset: no verify process, the same kopia processes as before, and no verify in the plan', async () => {
    const s = scenario('verify-off');
    seedTree(s);
    const env = { ...s.env, DATA_DIR: s.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);
    writeFileSync(join(s.data, 'a.txt'), 'changed\n');
    const unset = await runMover(['backup'], env);
    writeFileSync(join(s.data, 'a.txt'), 'changed again\n');
    const zero = await runMover(['backup'], { ...env, KOPIA_VERIFY_PERCENT: '0' });
    expect([unset.exitCode, zero.exitCode]).toEqual([0, 0]);
    const commands = (r: MoverResult) => r.kopiaCalls.map((a) => (a[0] === 'diff' ? 'diff' : a.slice(0, 2).join(' ')));
    expect(commands(zero)).toEqual(commands(unset));
    expect([...verifyCalls(unset), ...verifyCalls(zero)]).toEqual([]);
    expect(summaryValue(zero, 'SNAPSHOT_VERIFIED')).toBeUndefined();
    const plan = await runMover(['plan', '--operation', 'backup'], { ...env, KOPIA_VERIFY_PERCENT: '0.0' });
    expect(plan.stdout).not.toContain('snapshot verify');

    const maintenance = await runMover(['maintenance'], { ...s.env, KOPIA_MAINTENANCE_VERIFY_PERCENT: '0', KOPIA_CACHE_DIR: join(s.root, 'mcache') });
    expect(maintenance.exitCode, maintenance.stdout).toBe(0);
    expect(verifyCalls(maintenance)).toEqual([]);
    expect(summaryValue(maintenance, 'SNAPSHOTS_VERIFIED')).toBeUndefined();
  });
});

describe('the verify after maintenance', () => {
  it('reads back every snapshot of every source, then finds a damaged pack file: exit 6, VerifyFailed, the snapshots stay', async () => {
    const s = scenario('verify-maint');
    seedTree(s);
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    // A second source, of another identity, with a file of its own.
    const other = join(s.root, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'd.txt'), 'the other identity\n');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: other, KOPIA_OVERRIDE_USERNAME: 'someone-else' })).exitCode).toBe(0);
    const env = { ...s.env, KOPIA_MAINTENANCE_VERIFY_PERCENT: '100', KOPIA_CACHE_DIR: join(s.root, 'maintenance-cache') };

    const clean = await runMover(['maintenance'], env);
    expect(clean.exitCode, clean.stdout).toBe(0);
    const mine = treeFigures(s.data);
    const theirs = treeFigures(other);
    expect(summaryValue(clean, 'SNAPSHOTS_VERIFIED')).toBe(`${mine.files + theirs.files} files, ${mine.bytes + theirs.bytes} bytes, 0 errors`);
    // Every snapshot: no snapshot named, after the full cycle.
    expect(verifyCalls(clean).map((a) => a.slice(0, 4))).toEqual([['snapshot', 'verify', '--verify-files-percent=100', '--json']]);
    const full = clean.kopiaCalls.findIndex((a) => a.slice(0, 3).join(' ') === 'maintenance run --full');
    expect(full).toBeGreaterThanOrEqual(0);
    expect(clean.kopiaCalls.at(-1)?.slice(0, 2)).toEqual(['snapshot', 'verify']);

    const before = snapshotIds(s);
    expect(damagePacks(s.repo)).toBeGreaterThan(0);
    const damaged = await runMover(['maintenance'], env);
    expect(damaged.exitCode, damaged.stdout).toBe(6);
    expect(summaryValue(damaged, 'FAILURE_CLASS')).toBe('VerifyFailed (retryable: no)');
    expect(summaryValue(damaged, 'MAINTENANCE_FAILURE_REASON')).toMatch(/^verify of the snapshots of the repository found \d+ errors? \(first: .*\); maintenance itself completed$/);
    expect(summaryValue(damaged, 'SNAPSHOTS_VERIFIED')).toMatch(/^\d+ files, \d+ bytes, [1-9]\d* errors$/);
    expect(snapshotIds(s).sort()).toEqual(before.sort());
  });
});

describe('bad values', () => {
  it('exit 2 naming the variable (or the flag), before any kopia process', async () => {
    const s = scenario('verify-bad');
    seedTree(s);
    for (const value of ['101', '-1', 'abc', '1e2', '50%', '100.0000001']) {
      const backup = await runMover([], { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_VERIFY_PERCENT: value });
      expect(backup.exitCode, `${value}: ${backup.stdout}`).toBe(2);
      expect(backup.kopiaCalls).toEqual([]);
      expect(summaryValue(backup, 'FAILURE_REASON')).toMatch(/^configuration error: KOPIA_VERIFY_PERCENT: must be a percentage from 0 to 100/);
    }
    const maintenance = await runMover([], { ...s.env, DIRECTION: 'maintenance', KOPIA_MAINTENANCE_VERIFY_PERCENT: '200' });
    expect(maintenance.exitCode).toBe(2);
    expect(maintenance.kopiaCalls).toEqual([]);
    expect(maintenance.stdout).toContain('KOPIA_MAINTENANCE_VERIFY_PERCENT: must be a percentage from 0 to 100');
    const flag = await runMover(['backup', '--verify-percent', 'all', s.data], s.env);
    expect(flag.exitCode).toBe(2);
    expect(flag.kopiaCalls).toEqual([]);
    expect(flag.stdout).toContain('--verify-percent: must be a percentage from 0 to 100');
    expect(existsSync(s.repo)).toBe(false);
  });
});
