// Choosing a snapshot: `kopia-mover snapshots`, `restore --snapshot`, and what a restore that finds
// nothing says, against one real filesystem repository holding two identities and an incomplete snapshot.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { controllerDiscovery, controllerRestoreFilter } from '../pods/checks.js';
import { kopiaJson, kopiaText, realKopia, runMover, scenario, summaryValue, tempDir, type Env, type MoverResult } from '../support/mover.js';

interface KopiaSnapshot {
  id: string;
  source: { userName: string; host: string; path: string };
  startTime: string;
  incomplete?: string;
  rootEntry: { obj: string };
}

/** kopia 0.22.3 reads --start-time as "2006-01-02 15:04:05 MST". */
const TIMES = { v1: '2024-03-01 10:00:00 UTC', v2: '2024-03-01 11:00:00 UTC', partial: '2024-03-01 12:00:00 UTC', photos: '2024-03-01 09:00:00 UTC' };

/** The fields `snapshots --json` documents for each snapshot, in the README's order. */
const LISTED_FIELDS = ['id', 'source', 'userName', 'hostName', 'path', 'startTime', 'endTime', 'size', 'files', 'dirs', 'errors', 'incomplete', 'rootObject'];

describe('snapshots to choose from', () => {
  const s = scenario('snaps');
  const data = join(s.root, 'data');
  const otherCache = join(s.root, 'other-cache');
  /** The other identity, backing up the same path from another namespace. */
  const other: Env = { ...s.env, KOPIA_CACHE_DIR: otherCache, KOPIA_OVERRIDE_USERNAME: 'other', KOPIA_OVERRIDE_HOSTNAME: 'ns2' };
  const ids = { v1: '', v2: '', partial: '', photos: '', other: '' };
  let all: KopiaSnapshot[] = [];

  async function backup(env: Env, path: string, startTime: string, extraArgs = ''): Promise<void> {
    const result = await runMover(['backup'], { ...env, DATA_DIR: data, KOPIA_SOURCE_PATH_OVERRIDE: path, KOPIA_ADDITIONAL_ARGS: `--start-time=${startTime}${extraArgs}` });
    expect(result.exitCode, result.stdout).toBe(0);
  }

  beforeAll(async () => {
    mkdirSync(data);
    writeFileSync(join(data, 'version.txt'), 'v1\n');
    await backup(s.env, '/data', TIMES.v1);
    writeFileSync(join(data, 'version.txt'), 'v2\n');
    await backup(s.env, '/data', TIMES.v2);
    await backup(s.env, '/photos', TIMES.photos);
    writeFileSync(join(data, 'version.txt'), 'other\n');
    await backup(other, '/data', TIMES.v2);
    // kopia stops a snapshot once it has uploaded --upload-limit-mb and saves what it has as an
    // incomplete snapshot ("limit reached"): a stopped backup's checkpoint, made on demand.
    const big = join(s.root, 'big');
    mkdirSync(big);
    for (let i = 0; i < 4; i++) writeFileSync(join(big, `blob-${i}`), randomBytes(1_500_000));
    kopiaText(s.cache, s.password, ['snapshot', 'create', big, '--override-source=/data', '--upload-limit-mb=1', '--parallel=1', `--start-time=${TIMES.partial}`]);

    all = kopiaJson<KopiaSnapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    const find = (user: string, path: string, time: string) => all.find((x) => x.source.userName === user && x.source.path === path && x.startTime === time)?.id ?? '';
    ids.v1 = find('snaps', '/data', '2024-03-01T10:00:00Z');
    ids.v2 = find('snaps', '/data', '2024-03-01T11:00:00Z');
    ids.partial = find('snaps', '/data', '2024-03-01T12:00:00Z');
    ids.photos = find('snaps', '/photos', '2024-03-01T09:00:00Z');
    ids.other = find('other', '/data', '2024-03-01T11:00:00Z');
    for (const id of Object.values(ids)) expect(id).not.toBe('');
    expect(all).toHaveLength(5);
    expect(all.find((x) => x.id === ids.partial)?.incomplete).toBe('limit reached');
  });

  const listing = (args: string[], env: Env = s.env) => runMover(['snapshots', ...args], env);

  function restore(args: string[], extra: Env = {}): Promise<{ result: MoverResult; target: string }> {
    const target = tempDir('km-snap-target-');
    return runMover(['restore', '--data-dir', target, ...args], { ...s.env, ...extra }).then((result) => ({ result, target }));
  }

  const restoreCalls = (result: MoverResult) => result.kopiaCalls.filter((argv) => argv[0] === 'snapshot' && argv[1] === 'restore');

  describe('kopia-mover snapshots', () => {
    it('--json lists the identity\'s snapshots of one path in the documented shape, newest first, the incomplete one marked', async () => {
      const result = await listing(['--source-path', '/data', '--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      // stdout holds the list alone: the log went to stderr.
      const listed = JSON.parse(result.stdout) as Record<string, unknown>[];
      expect(listed.map((x) => x['id'])).toEqual([ids.partial, ids.v2, ids.v1]);
      for (const entry of listed) expect(Object.keys(entry)).toEqual(LISTED_FIELDS);
      const partial = listed[0]!;
      expect(partial).toMatchObject({ source: 'snaps@ns1:/data', userName: 'snaps', hostName: 'ns1', path: '/data', incomplete: 'limit reached', errors: 0 });
      expect(listed[1]).toMatchObject({ incomplete: null, files: 1, size: 3, startTime: '2024-03-01T11:00:00Z' });
      expect(listed[1]!['rootObject']).toBe(all.find((x) => x.id === ids.v2)!.rootEntry.obj);
      expect(result.stderr).toContain('Repository connected');
    });

    it('--all --json lists every snapshot kopia holds, the other identity\'s too', async () => {
      const result = await listing(['--all', '--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      const listed = JSON.parse(result.stdout) as { id: string; source: string }[];
      expect(listed.map((x) => x.id).sort()).toEqual(all.map((x) => x.id).sort());
      expect(listed.map((x) => x.source)).toEqual(['other@ns2:/data', 'snaps@ns1:/data', 'snaps@ns1:/data', 'snaps@ns1:/data', 'snaps@ns1:/photos']);
    });

    it('without a path lists every path of user@host, and no one else\'s', async () => {
      const result = await listing(['--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      const listed = JSON.parse(result.stdout) as { id: string }[];
      expect(listed.map((x) => x.id).sort()).toEqual([ids.partial, ids.v2, ids.v1, ids.photos].sort());
    });

    it('resolves the path as a restore does: DATA_DIR=/restore/data lists the snapshots of /data', async () => {
      const result = await listing(['--json'], { ...s.env, DATA_DIR: '/restore/data' });
      expect(result.exitCode, result.stderr).toBe(0);
      expect((JSON.parse(result.stdout) as { id: string }[]).map((x) => x.id)).toEqual([ids.partial, ids.v2, ids.v1]);
      const theirs = await listing(['--json', '--username', 'other', '--hostname', 'ns2', '--data-dir', '/data']);
      expect((JSON.parse(theirs.stdout) as { id: string }[]).map((x) => x.id)).toEqual([ids.other]);
    });

    it('prints a table by default: a header, one row per snapshot with its ID, the incomplete one saying so', async () => {
      const result = await listing(['--all']);
      expect(result.exitCode, result.stderr).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^SOURCE\s+STARTED \(UTC\)\s+SIZE\s+FILES\s+ID\s+STATE$/);
      const rows = lines.slice(1, 6);
      expect(rows.map((r) => r.split(/\s{2,}/)[0])).toEqual(['other@ns2:/data', 'snaps@ns1:/data', 'snaps@ns1:/data', 'snaps@ns1:/data', 'snaps@ns1:/photos']);
      const partialRow = rows.find((r) => r.includes(ids.partial));
      expect(partialRow).toMatch(/2024-03-01 12:00:00 .*incomplete \(limit reached\)$/);
      expect(rows.find((r) => r.includes(ids.v1))).toMatch(/^snaps@ns1:\/data\s+2024-03-01 10:00:00\s+3 B\s+1\s+\S+\s+complete$/);
      expect(lines.slice(6).join('\n')).toMatch(/1 snapshot\(s\) not complete: a restore never selects them by time/);
      // No log record on stdout.
      expect(result.records).toEqual([]);
    });

    it('an identity without snapshots says so, and names --all', async () => {
      const result = await listing(['--username', 'nobody']);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout.trim()).toBe('No snapshots of nobody@ns1 (any path). `kopia-mover snapshots --all` lists every source.');
      const json = await listing(['--username', 'nobody', '--json']);
      expect(JSON.parse(json.stdout)).toEqual([]);
    });

    it('never creates a repository: a missing one is exit 3, and no repository blob is written', async () => {
      const empty = join(s.root, 'empty-repo');
      mkdirSync(empty);
      const result = await listing(['--repository', `filesystem://${empty}`, '--cache-dir', join(s.root, 'empty-cache')]);
      expect(result.exitCode, result.stderr).toBe(3);
      // kopia's connect leaves its sharding file (.shards) in an empty location, nothing more.
      expect(readdirSync(empty).filter((name) => name !== '.shards')).toEqual([]);
      expect(result.kopiaCalls.some((argv) => argv[1] === 'create')).toBe(false);
      expect(result.stdout).toBe('');
    });

    it('--dry-run prints the connect and the listing, and runs no kopia process', async () => {
      const result = await listing(['--dry-run', '--all']);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.kopiaCalls).toEqual([]);
      expect(result.stdout).toMatch(/^# kopia-mover plan: list the snapshots of the repository$/m);
      expect(result.stdout).toMatch(/^\d+\. \S+ snapshot list --all --incomplete --json /m);
    });

    it('a wrong password is exit 3, a bad value exit 2 before any kopia process', async () => {
      const wrong = await listing([], { ...s.env, KOPIA_PASSWORD: 'not-the-password' });
      expect(wrong.exitCode).toBe(3);
      expect(wrong.stderr).toMatch(/"failureClass":"AuthFailure"/);
      expect(wrong.stdout).toBe('');
      const bad = await listing(['--source-path', 'relative/path']);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toMatch(/--source-path: must be an absolute path/);
      expect(bad.kopiaCalls).toEqual([]);
    });
  });

  describe('restore --snapshot', () => {
    it('restores exactly the named snapshot of the own source, through the listing and deletion of every restore', async () => {
      const target = tempDir('km-snap-target-');
      writeFileSync(join(target, 'stale.txt'), 'not in the snapshot');
      const result = await runMover(['restore', '--data-dir', target, '--source-path', '/data', '--snapshot', ids.v1, '--delete-extra'], s.env);
      expect(result.exitCode, result.stdout).toBe(0);
      expect(readFileSync(join(target, 'version.txt'), 'utf8')).toBe('v1\n');
      expect(readdirSync(target)).toEqual(['version.txt']);
      expect(summaryValue(result, 'RESTORED_SNAPSHOT_ID')).toBe(ids.v1);
      expect(result.kopiaCalls.some((argv) => argv.slice(0, 4).join(' ') === `ls -r -l ${ids.v1}`)).toBe(true);
      expect(restoreCalls(result)[0]?.[2]).toBe(ids.v1);
    });

    it('takes the variable KOPIA_RESTORE_SNAPSHOT_ID, and a root object ID as kopia\'s own list shows it', async () => {
      const rootObject = all.find((x) => x.id === ids.v1)!.rootEntry.obj;
      const { result, target } = await restore([], { KOPIA_SOURCE_PATH_OVERRIDE: '/data', KOPIA_RESTORE_SNAPSHOT_ID: rootObject });
      expect(result.exitCode, result.stdout).toBe(0);
      expect(readFileSync(join(target, 'version.txt'), 'utf8')).toBe('v1\n');
      expect(summaryValue(result, 'RESTORED_SNAPSHOT_ID')).toBe(ids.v1);
    });

    it('refuses a snapshot of another identity with exit 2 naming both sources, writing nothing', async () => {
      const { result, target } = await restore(['--source-path', '/data', '--snapshot', ids.other]);
      expect(result.exitCode, result.stdout).toBe(2);
      expect(summaryValue(result, 'FAILURE_REASON')).toMatch(/belongs to other@ns2:\/data, not to this restore's snaps@ns1:\/data.*--any-source \(KOPIA_RESTORE_ANY_SOURCE=true\)/);
      expect(summaryValue(result, 'FAILURE_CLASS')).toMatch(/^Configuration/);
      expect(readdirSync(target)).toEqual([]);
      expect(restoreCalls(result)).toEqual([]);
    });

    it('restores another identity\'s snapshot with --any-source', async () => {
      const { result, target } = await restore(['--source-path', '/data', '--snapshot', ids.other, '--any-source']);
      expect(result.exitCode, result.stdout).toBe(0);
      expect(readFileSync(join(target, 'version.txt'), 'utf8')).toBe('other\n');
      expect(summaryValue(result, 'RESTORED_SNAPSHOT_ID')).toBe(ids.other);
    });

    it('an unknown ID is exit 2, nothing written', async () => {
      const target = tempDir('km-snap-target-');
      writeFileSync(join(target, 'keep.txt'), 'mine');
      const result = await runMover(['restore', '--data-dir', target, '--snapshot', 'ffffffffffffffffffffffffffffffff', '--delete-extra'], s.env);
      expect(result.exitCode, result.stdout).toBe(2);
      expect(summaryValue(result, 'FAILURE_REASON')).toMatch(/holds no snapshot ffffffffffffffffffffffffffffffff.*nothing was restored/);
      expect(readdirSync(target)).toEqual(['keep.txt']);
      expect(result.kopiaCalls.filter((argv) => argv[1] === 'restore' || argv[0] === 'ls')).toEqual([]);
    });

    it('with --previous or --as-of is a usage error naming both flags, before any kopia process', async () => {
      const { result } = await restore(['--snapshot', ids.v1, '--previous', '1', '--as-of', '2024-03-01T11:30:00Z']);
      expect(result.exitCode).toBe(2);
      const errors = result.records.filter((r) => r['level'] === 50).map((r) => String(r['msg']));
      expect(errors).toContain(
        'configuration error: --snapshot: --snapshot (KOPIA_RESTORE_SNAPSHOT_ID) cannot be combined with --previous (KOPIA_PREVIOUS): one names the snapshot, the other selects one by time; give one of them',
      );
      expect(errors).toContain(
        'configuration error: --snapshot: --snapshot (KOPIA_RESTORE_SNAPSHOT_ID) cannot be combined with --as-of (KOPIA_RESTORE_AS_OF): one names the snapshot, the other selects one by time; give one of them',
      );
      expect(result.kopiaCalls).toEqual([]);
    });

    it('--any-source alone, or an ID that is not one, is exit 2 before any kopia process', async () => {
      const alone = await restore(['--any-source']);
      expect(alone.result.exitCode).toBe(2);
      expect(summaryValue(alone.result, 'FAILURE_REASON')).toMatch(/--any-source \(KOPIA_RESTORE_ANY_SOURCE\) applies only to a snapshot named with --snapshot/);
      const flag = await restore(['--snapshot=--delete-extra']);
      expect(flag.result.exitCode).toBe(2);
      expect(summaryValue(flag.result, 'FAILURE_REASON')).toMatch(/--snapshot: must be a snapshot ID/);
      expect([...alone.result.kopiaCalls, ...flag.result.kopiaCalls]).toEqual([]);
    });

    it('an incomplete snapshot is restored only as asked, never as the base of file deletion', async () => {
      const target = tempDir('km-snap-target-');
      writeFileSync(join(target, 'keep.txt'), 'mine');
      const refused = await runMover(['restore', '--data-dir', target, '--source-path', '/data', '--snapshot', ids.partial, '--delete-extra'], s.env);
      expect(refused.exitCode, refused.stdout).toBe(2);
      expect(summaryValue(refused, 'FAILURE_REASON')).toMatch(/^configuration error: KOPIA_ENABLE_FILE_DELETION: snapshot \w+ is incomplete \(limit reached\).*restore it without file deletion; nothing was restored$/);
      expect(readdirSync(target)).toEqual(['keep.txt']);
      const asked = await runMover(['restore', '--data-dir', target, '--source-path', '/data', '--snapshot', ids.partial], s.env);
      expect(asked.exitCode, asked.stdout).toBe(0);
      expect(summaryValue(asked, 'RESTORED_SNAPSHOT_ID')).toBe(ids.partial);
      expect(asked.plainLines.some((l) => /^WARNING: snapshot \w+ is restored as asked, although it is incomplete \(limit reached\)/.test(l))).toBe(true);
      expect(readFileSync(join(target, 'keep.txt'), 'utf8')).toBe('mine');
    });
  });

  describe('selection by time', () => {
    it('skips the newer incomplete snapshot and restores the newest complete one', async () => {
      const { result, target } = await restore(['--source-path', '/data']);
      expect(result.exitCode, result.stdout).toBe(0);
      expect(summaryValue(result, 'RESTORED_SNAPSHOT_ID')).toBe(ids.v2);
      expect(readFileSync(join(target, 'version.txt'), 'utf8')).toBe('v2\n');
      const skipped = result.records.find((r) => r['snapshot'] === ids.partial);
      expect(skipped?.['reason']).toMatch(/^incomplete \(limit reached\)/);
    });
  });

  describe('a restore that finds nothing under its path', () => {
    /** The hint's lines: from its heading to its closing sentence. */
    function hint(result: MoverResult): string[] {
      const start = result.plainLines.indexOf('The repository holds snapshots of these sources:');
      const end = result.plainLines.findIndex((l) => l.startsWith('Choose a source with'));
      expect(start, result.stdout).toBeGreaterThanOrEqual(0);
      expect(end).toBeGreaterThan(start);
      return result.plainLines.slice(start, end + 1);
    }

    it('exits 0 leaving DATA_DIR untouched, and lists the sources that exist with count, newest and the flags that choose them', async () => {
      const target = tempDir('km-snap-target-');
      writeFileSync(join(target, 'keep.txt'), 'mine');
      // No --source-path: the restore looks under the target's own path, where nothing was backed up.
      const result = await runMover(['restore', '--data-dir', target], s.env);
      expect(result.exitCode, result.stdout).toBe(0);
      expect(readdirSync(target)).toEqual(['keep.txt']);
      expect(restoreCalls(result)).toEqual([]);
      expect(result.plainLines).toContain(`No snapshots found for snaps@ns1:${target}`);
      expect(result.plainLines).toContain('No eligible snapshots found');
      const lines = hint(result);
      // The most recently backed up source first, each with its count, newest start and the flags that select it.
      expect(lines.slice(1, 4).map((l) => l.split(/\s{2,}/))).toEqual([
        ['', 'snaps@ns1:/data', '3 snapshots', 'newest 2024-03-01T12:00:00Z', 'restore it with --source-path /data'],
        ['', 'other@ns2:/data', '1 snapshot', 'newest 2024-03-01T11:00:00Z', 'restore it with --username other --hostname ns2 --source-path /data'],
        ['', 'snaps@ns1:/photos', '1 snapshot', 'newest 2024-03-01T09:00:00Z', 'restore it with --source-path /photos'],
      ]);
      const closing = lines.at(-1)!;
      for (const name of ['--source-path', 'KOPIA_SOURCE_PATH_OVERRIDE', '--username', 'KOPIA_OVERRIDE_USERNAME', '--hostname', 'KOPIA_OVERRIDE_HOSTNAME', '--snapshot', 'KOPIA_RESTORE_SNAPSHOT_ID']) {
        expect(closing).toContain(name);
      }
      expect(result.plainLines.some((l) => l.includes('Discovery Mode'))).toBe(false);
    });

    it('with KOPIA_DISCOVER_SNAPSHOTS the discovery block is unchanged and comes last, and the controller keeps none of the hint', async () => {
      const target = tempDir('km-snap-target-');
      const result = await runMover(['restore', '--data-dir', target], { ...s.env, KOPIA_DISCOVER_SNAPSHOTS: 'true' });
      expect(result.exitCode, result.stdout).toBe(0);
      const lines = hint(result);
      const start = result.plainLines.indexOf('=== Discovery Mode: Available Snapshots ===');
      const end = result.plainLines.indexOf('=== End Discovery Mode ===');
      expect(start).toBeGreaterThan(result.plainLines.indexOf(lines.at(-1)!));
      const listed = result.plainLines.slice(start + 1, end).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(listed.map((x) => x['id']).sort()).toEqual(all.map((x) => x.id).sort());
      for (const entry of listed) expect(Object.keys(entry)).toEqual(['id', 'userName', 'hostName', 'path', 'startTime', 'endTime']);
      // What the controller keeps of the log and parses from it.
      expect(controllerRestoreFilter(lines.join('\n'))).toEqual([]);
      const discovery = controllerDiscovery(controllerRestoreFilter(result.stdout));
      expect(discovery.missing).toBe(`snaps@ns1:${target}`);
      expect(discovery.snapshots.map((x) => x.id).sort()).toEqual(all.map((x) => x.id).sort());
    });

    it('in a repository without any snapshot, says so', async () => {
      const fresh = scenario('fresh');
      const setup = join(fresh.root, 'setup');
      execFileSync(realKopia, ['repository', 'create', 'filesystem', `--path=${fresh.repo}`, `--cache-directory=${setup}`, `--config-file=${join(setup, 'kopia.config')}`, `--log-dir=${setup}`], {
        env: { PATH: process.env['PATH'], KOPIA_PASSWORD: fresh.password, KOPIA_CHECK_FOR_UPDATES: 'false' },
        stdio: 'ignore',
      });
      const result = await runMover(['restore', '--data-dir', fresh.data], fresh.env);
      expect(result.exitCode, result.stdout).toBe(0);
      expect(result.plainLines).toContain('The repository holds no snapshots yet.');
      expect(existsSync(fresh.data)).toBe(false);
    });

    it('when the source has snapshots but none is selected, says how many and how to choose one', async () => {
      const { result, target } = await restore(['--source-path', '/data', '--as-of', '2024-01-01T00:00:00Z']);
      expect(result.exitCode, result.stdout).toBe(0);
      expect(existsSync(join(target, 'version.txt'))).toBe(false);
      expect(result.plainLines).toContain(
        'snaps@ns1:/data has 3 snapshot(s), 2 of them complete; none is selected by --as-of, --shallow and --previous as given. ' +
          '`kopia-mover snapshots` lists them; --snapshot (KOPIA_RESTORE_SNAPSHOT_ID) restores one by its ID.',
      );
    });
  });
});
