// The repository report, `kopia-mover status`, against one real filesystem repository holding two
// identities, an incomplete snapshot, a lowered retention and a maintenance history.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertNoSecrets, kopiaJson, kopiaText, runMover, scenario, type Env, type MoverResult } from '../support/mover.js';

interface Identity {
  source: string;
  userName: string;
  hostName: string;
  path: string | null;
  snapshots: number;
  incomplete: number;
  newest: { id: string; startTime: string; endTime: string | null; size: number | null } | null;
  oldest: { id: string; startTime: string } | null;
  ageSeconds: number | null;
  stale: boolean;
  retention: Record<string, number | null>;
}

interface Cycle {
  enabled: boolean;
  intervalSeconds: number;
  lastRun: { task: string; start: string; end: string; success: boolean; error: string | null } | null;
  nextDue: string | null;
}

interface Report {
  healthy: boolean;
  checkedAt: string;
  maxAgeSeconds: number | null;
  problems: string[];
  identities: Identity[];
  repository: {
    storageType: string;
    formatVersion: number;
    indexVersion: number | null;
    hash: string;
    encryption: string;
    freeSpace: { availableBytes: number; capacityBytes: number } | null;
    maintenance: { owner: string | null; quick: Cycle; full: Cycle };
  };
}

/** The fields the README documents, in its order. */
const REPORT_FIELDS = ['healthy', 'checkedAt', 'maxAgeSeconds', 'problems', 'identities', 'repository'];
const IDENTITY_FIELDS = ['source', 'userName', 'hostName', 'path', 'snapshots', 'incomplete', 'newest', 'oldest', 'ageSeconds', 'stale', 'retention'];
const REPOSITORY_FIELDS = ['storageType', 'formatVersion', 'indexVersion', 'hash', 'encryption', 'freeSpace', 'maintenance'];

/** kopia 0.22.3 reads --start-time as "2006-01-02 15:04:05 MST". */
const OLD = { own: '2024-03-01 10:00:00 UTC', other: '2024-03-01 11:00:00 UTC' };

/** Every file of the repository with its size and modification time: what a reader must leave as it is. */
function treeState(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => {
      const st = statSync(join(dir, name));
      return `${name} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`;
    });
}

describe('kopia-mover status', () => {
  const s = scenario('status');
  /** The other identity, with a cache of its own. */
  const other: Env = { ...s.env, KOPIA_CACHE_DIR: join(s.root, 'other-cache'), KOPIA_OVERRIDE_USERNAME: 'other', KOPIA_OVERRIDE_HOSTNAME: 'ns2' };
  const ids = { oldOwn: '', newOwn: '', partial: '', other: '' };
  const results: MoverResult[] = [];

  async function status(args: string[], env: Env = s.env): Promise<MoverResult> {
    const result = await runMover(['status', ...args], env);
    results.push(result);
    return result;
  }

  const report = (result: MoverResult) => JSON.parse(result.stdout) as Report;

  beforeAll(async () => {
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'file.txt'), 'first\n');
    const backup = async (env: Env, extra: Env) => {
      const result = await runMover(['backup'], { ...env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data', ...extra });
      expect(result.exitCode, result.stdout).toBe(0);
    };
    await backup(s.env, { KOPIA_ADDITIONAL_ARGS: `--start-time=${OLD.own}` });
    await backup(other, { KOPIA_ADDITIONAL_ARGS: `--start-time=${OLD.other}` });
    // The newest of this identity is taken now, with a retention lowered for its source.
    writeFileSync(join(s.data, 'file.txt'), 'second, longer\n');
    await backup(s.env, { KOPIA_RETAIN_LATEST: '5' });
    // kopia stops a snapshot once it has uploaded --upload-limit-mb and saves what it has as an
    // incomplete snapshot ("limit reached"). Taken last: kopia's retention expires an incomplete
    // snapshot older than the newest complete one.
    const big = join(s.root, 'big');
    mkdirSync(big);
    for (let i = 0; i < 4; i++) writeFileSync(join(big, `blob-${i}`), randomBytes(1_500_000));
    kopiaText(s.cache, s.password, ['snapshot', 'create', big, '--override-source=/data', '--upload-limit-mb=1', '--parallel=1']);
    const maintenance = await runMover(['maintenance'], s.env);
    expect(maintenance.exitCode, maintenance.stdout).toBe(0);

    const all = kopiaJson<{ id: string; source: { userName: string }; startTime: string; incomplete?: string }[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    const own = all.filter((x) => x.source.userName === 'status');
    ids.oldOwn = own.find((x) => x.startTime === '2024-03-01T10:00:00Z')?.id ?? '';
    ids.partial = own.find((x) => x.incomplete !== undefined)?.id ?? '';
    ids.newOwn = own.find((x) => x.id !== ids.oldOwn && x.id !== ids.partial)?.id ?? '';
    ids.other = all.find((x) => x.source.userName === 'other')?.id ?? '';
    for (const id of Object.values(ids)) expect(id).not.toBe('');
    expect(all).toHaveLength(4);
  });

  it('--all --json reports both identities and the repository, field by field, with five kopia processes at most', async () => {
    const result = await status(['--all', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const r = report(result);
    expect(Object.keys(r)).toEqual(REPORT_FIELDS);
    expect(r).toMatchObject({ healthy: true, maxAgeSeconds: null, problems: [] });
    expect(r.identities.map((i) => i.source)).toEqual(['other@ns2:/data', 'status@ns1:/data']);
    for (const identity of r.identities) expect(Object.keys(identity)).toEqual(IDENTITY_FIELDS);
    const [theirs, own] = r.identities as [Identity, Identity];
    expect(own).toMatchObject({ userName: 'status', hostName: 'ns1', path: '/data', snapshots: 2, incomplete: 1, stale: false });
    expect(own.newest).toMatchObject({ id: ids.newOwn, size: 'second, longer\n'.length });
    expect(own.oldest).toEqual({ id: ids.oldOwn, startTime: '2024-03-01T10:00:00Z' });
    expect(own.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(own.ageSeconds).toBeLessThan(3600);
    expect(own.retention).toEqual({ keepLatest: 5, keepHourly: 48, keepDaily: 7, keepWeekly: 4, keepMonthly: 24, keepAnnual: 3 });
    expect(theirs).toMatchObject({ userName: 'other', hostName: 'ns2', snapshots: 1, incomplete: 0, stale: false, oldest: { id: ids.other, startTime: '2024-03-01T11:00:00Z' } });
    expect(theirs.newest).toMatchObject({ id: ids.other, startTime: '2024-03-01T11:00:00Z', size: 'first\n'.length });
    expect(theirs.retention['keepLatest']).toBe(10);

    // The repository's part, against kopia's own words.
    expect(Object.keys(r.repository)).toEqual(REPOSITORY_FIELDS);
    const format = kopiaJson<{ contentFormat: { version: number; indexVersion: number; hash: string; encryption: string } }>(s.cache, s.password, ['repository', 'status']);
    expect(r.repository).toMatchObject({ storageType: 'filesystem', formatVersion: format.contentFormat.version, indexVersion: format.contentFormat.indexVersion, hash: format.contentFormat.hash, encryption: format.contentFormat.encryption });
    expect(r.repository.freeSpace!.availableBytes).toBeGreaterThan(0);
    expect(r.repository.freeSpace!.capacityBytes).toBeGreaterThanOrEqual(r.repository.freeSpace!.availableBytes);
    const info = kopiaJson<{ owner: string; schedule: { nextQuickMaintenance: string; nextFullMaintenance: string } }>(s.cache, s.password, ['maintenance', 'info']);
    const m = r.repository.maintenance;
    expect(m.owner).toBe(info.owner);
    expect(m.quick).toMatchObject({ enabled: true, intervalSeconds: 3600, nextDue: info.schedule.nextQuickMaintenance, lastRun: { success: true, error: null } });
    expect(m.full).toMatchObject({ enabled: true, intervalSeconds: 86400, nextDue: info.schedule.nextFullMaintenance, lastRun: { task: expect.any(String), success: true } });
    expect(Date.parse(m.full.lastRun!.start)).toBeGreaterThan(Date.parse(r.checkedAt) - 3_600_000);

    // One process connects (a fresh connect, or the saved connection set to this identity), then the
    // listing and the three reads; nothing that writes the repository.
    const calls = result.kopiaCalls.map((argv) => argv.slice(0, 2).join(' '));
    const connecting: string[] = calls.filter((x) => x === 'repository connect' || x === 'repository set-client');
    expect(connecting.length).toBeLessThanOrEqual(1);
    expect(calls.filter((x) => !connecting.includes(x)).sort()).toEqual(['maintenance info', 'policy show', 'repository status', 'snapshot list']);
    const policyShow = result.kopiaCalls.find((argv) => argv[0] === 'policy')!;
    expect(policyShow.slice(2, 5)).toEqual(['--json', 'other@ns2:/data', 'status@ns1:/data']);
  });

  it('prints readable blocks on a terminal: the repository, each identity, the verdict', async () => {
    const result = await status([]);
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`Repository: filesystem repository at ${s.repo}`);
    expect(lines[1]).toMatch(/^ {2}Format: version 3, index version \d+, \S+, \S+$/);
    expect(lines[2]).toMatch(/^ {2}Free space: \d+(\.\d)? \w+ of \d+(\.\d)? \w+$/);
    expect(lines[3]).toMatch(/^ {2}Maintenance owner: \S+@\S+$/);
    expect(lines[4]).toMatch(/^ {2}Quick maintenance: every 1h, last \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC succeeded, next due \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(lines[5]).toMatch(/^ {2}Full maintenance: every 1d, last .* UTC succeeded, next due .* UTC$/);
    // Without --all, this identity alone.
    expect(result.stdout).not.toContain('other@ns2');
    const block = lines.slice(lines.indexOf('status@ns1:/data'));
    expect(block[1]).toBe('  Snapshots: 2 complete, 1 incomplete');
    expect(block[2]).toMatch(new RegExp(`^ {2}Newest: .* UTC \\(\\d+[sm]( \\d+s)? ago\\) {2}${ids.newOwn} {2}15 B$`));
    expect(block[3]).toBe(`  Oldest: 2024-03-01 10:00:00 UTC  ${ids.oldOwn}`);
    expect(block[4]).toBe('  Retention: latest 5, hourly 48, daily 7, weekly 4, monthly 24, annual 3');
    expect(lines[lines.length - 1]).toBe('Healthy.');
  });

  it('--max-age: a young newest snapshot is healthy (exit 0); an old one is stale (exit 7), naming the identity and its age', async () => {
    const young = await status(['--max-age', '1h']);
    expect(young.exitCode, young.stderr).toBe(0);
    expect(young.stdout.trimEnd().split('\n').pop()).toBe('Healthy: every newest snapshot is younger than 1h.');

    const stale = await status(['--all', '--max-age', '7d']);
    expect(stale.exitCode, stale.stderr).toBe(7);
    const verdict = stale.stdout.trimEnd().split('\n').filter((l) => l.startsWith('STALE: '));
    expect(verdict).toHaveLength(1);
    expect(verdict[0]).toMatch(new RegExp(`^STALE: other@ns2:/data: the newest snapshot \\(${ids.other}, 2024-03-01T11:00:00Z\\) is \\d+d( \\d+h)? old, older than --max-age 7d$`));

    const json = await status(['--all', '--max-age', '1d12h', '--json']);
    expect(json.exitCode).toBe(7);
    const r = report(json);
    expect(r).toMatchObject({ healthy: false, maxAgeSeconds: 129_600 });
    expect(r.identities.map((i) => i.stale)).toEqual([true, false]);
    expect(r.identities[0]!.ageSeconds).toBeGreaterThan(365 * 86_400);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toContain('other@ns2:/data');
  });

  it('an identity without any snapshot is stale with or without --max-age (exit 7), its retention still read', async () => {
    const result = await status(['--json', '--username', 'nobody']);
    expect(result.exitCode, result.stderr).toBe(7);
    const r = report(result);
    expect(r.identities).toHaveLength(1);
    expect(r.identities[0]).toMatchObject({ source: 'nobody@ns1', path: null, snapshots: 0, incomplete: 0, newest: null, oldest: null, ageSeconds: null, stale: true });
    expect(r.identities[0]!.retention['keepLatest']).toBe(10);
    expect(r.problems).toEqual(['nobody@ns1 has no snapshot']);
  });

  it('a bad --max-age (or KOPIA_MOVER_MAX_AGE) is exit 2 naming it, before any kopia process', async () => {
    for (const bad of ['3x', '0', '-1h', '7 d', 'd']) {
      const result = await status(['--max-age', bad]);
      expect(result.exitCode, bad).toBe(2);
      expect(result.stderr).toContain('--max-age: must be a duration such as 26h, 90m, 7d or 1d12h');
      expect(result.kopiaCalls).toEqual([]);
    }
    const fromEnv = await status([], { ...s.env, KOPIA_MOVER_MAX_AGE: 'soon' });
    expect(fromEnv.exitCode).toBe(2);
    expect(fromEnv.stderr).toContain('KOPIA_MOVER_MAX_AGE: must be a duration');
    expect(fromEnv.kopiaCalls).toEqual([]);
  });

  it('DIRECTION=status in a pod-like environment prints the JSON report of the pod\'s identity, exit 7 when stale', async () => {
    const pod: Env = { ...s.env, DIRECTION: 'status', KOPIA_MOVER_MAX_AGE: '2h' };
    const healthy = await runMover([], pod);
    results.push(healthy);
    expect(healthy.exitCode, healthy.stderr).toBe(0);
    expect(report(healthy).identities.map((i) => i.source)).toEqual(['status@ns1:/data']);

    const theirs = await runMover([], { ...other, DIRECTION: 'status', KOPIA_MOVER_MAX_AGE: '2h' });
    results.push(theirs);
    expect(theirs.exitCode).toBe(7);
    expect(report(theirs).problems[0]).toMatch(/^other@ns2:\/data: the newest snapshot .* older than KOPIA_MOVER_MAX_AGE 2h$/);
  });

  it('validate takes DIRECTION=status as a reading needs it: no DATA_DIR, no repository touched', async () => {
    const result = await runMover(['validate'], { ...s.env, DIRECTION: 'status', KOPIA_MOVER_MAX_AGE: '26h' });
    results.push(result);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.kopiaCalls).toEqual([]);
    const bad = await runMover(['validate'], { ...s.env, DIRECTION: 'status', KOPIA_MOVER_MAX_AGE: '26' });
    expect(bad.exitCode).toBe(2);
    expect(bad.stdout + bad.stderr).toContain('KOPIA_MOVER_MAX_AGE');
  });

  it('a wrong password is exit 3 (AuthFailure), nothing printed on stdout', async () => {
    const result = await status(['--json'], { ...s.env, KOPIA_PASSWORD: 'not-the-password-at-all' });
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('AuthFailure');
  });

  it('a folder without a repository is exit 3 (NotInitialized), and the report never creates one there', async () => {
    const empty = join(s.root, 'no-repository');
    mkdirSync(empty);
    const result = await status([], { ...s.env, KOPIA_REPOSITORY: `filesystem://${empty}`, KOPIA_CACHE_DIR: join(s.root, 'fresh-cache') });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('NotInitialized');
    // kopia's connect to a filesystem location writes its sharding settings (.shards) there; no
    // repository blob (kopia.repository.f) is ever written.
    expect(readdirSync(empty).filter((name) => name !== '.shards')).toEqual([]);
    expect(result.kopiaCalls.map((argv) => argv.slice(0, 2).join(' '))).toEqual(['repository connect']);
  });

  it('--dry-run prints the plan: the listing, then the three reads at once', async () => {
    const result = await status(['--dry-run', '--all']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.stdout).toMatch(/snapshot list --all --incomplete --json/);
    expect(result.stdout).toContain('at once: kopia maintenance info --json; kopia repository status --json; kopia policy show --json <each identity listed>');
  });

  it('writes nothing to the repository, and never shows the password', async () => {
    const before = treeState(s.repo);
    const result = await status(['--all']);
    expect(result.exitCode).toBe(0);
    expect(treeState(s.repo)).toEqual(before);
    for (const r of results) assertNoSecrets(r, [s.password]);
  });
});
