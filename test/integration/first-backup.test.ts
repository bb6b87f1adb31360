// The first backup of a new repository: it runs no maintenance and leaves maintenance to the
// maintenance identity, which then runs it; the expected "no repository yet" connect is an info
// line, not a warning; and on a filesystem repository one mover, chosen by the creation lock,
// creates without the race protocol's pauses.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { realKopia, recordsSoFar, runMover, seededScenario, startMover, tempDir, waitFor, type Env, type MoverResult } from '../support/mover.js';
import { minioWithBucket } from '../support/servers.js';

const BUCKET = 'first-backup';
const LOCK = '.kopia-mover-creating';

const s3 = minioWithBucket(BUCKET);

interface MaintenanceInfo {
  owner: string;
  schedule: { runs: Record<string, { success: boolean }[]> | null };
}

/** Bare kopia on a cache dir's connection, with the storage credentials kopia reads from its environment. */
function kopia(cacheDir: string, password: string, extraEnv: Env, args: string[]): string {
  return execFileSync(realKopia, [...args, `--config-file=${join(cacheDir, 'kopia.config')}`, `--log-dir=${join(cacheDir, 'logs')}`], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], KOPIA_PASSWORD: password, KOPIA_CHECK_FOR_UPDATES: 'false', ...extraEnv } as NodeJS.ProcessEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function maintenanceInfo(cacheDir: string, password: string, extraEnv: Env): MaintenanceInfo {
  return JSON.parse(kopia(cacheDir, password, extraEnv, ['maintenance', 'info', '--json'])) as MaintenanceInfo;
}

/**
 * Everything kopia printed in a run, by the kopia command that printed it (the program's own line
 * before each process names two words, `maintenance set`; kopia's lines name the first).
 */
function kopiaLines(result: MoverResult): { command: string; msg: string }[] {
  return result.records
    .filter((r) => typeof r['kopia'] === 'string' && !String(r['kopia']).includes(' '))
    .map((r) => ({ command: String(r['kopia']), msg: String(r['msg']) }));
}

/** The maintenance kopia did inside a run: any kopia line about maintenance but the hand-over's own. */
function maintenanceLines(result: MoverResult): string[] {
  return kopiaLines(result)
    .filter((l) => /maintenance(?!@)|GC found|epoch/i.test(l.msg))
    .filter((l) => !(l.command === 'maintenance' && /^Setting maintenance owner to maintenance@volsync$/.test(l.msg)))
    .map((l) => `${l.command}: ${l.msg}`);
}

/** A new filesystem repository's directory holding a creation lock no mover of the test took. */
function heldLock(name: string): ReturnType<typeof seededScenario> {
  const s = seededScenario(name);
  mkdirSync(s.repo);
  writeFileSync(join(s.repo, LOCK), '');
  return s;
}

function verbs(result: MoverResult): string[] {
  return result.kopiaCalls.map((a) => a.slice(0, 2).join(' '));
}

const backends = [
  {
    label: 'filesystem',
    env: (root: string): Env => ({ KOPIA_REPOSITORY: `filesystem://${join(root, 'repo')}` }),
    kopiaEnv: (): Env => ({}),
  },
  {
    label: 'MinIO',
    env: (root: string): Env => ({
      KOPIA_REPOSITORY: `s3://${BUCKET}/${root.split('/').at(-1)}`,
      KOPIA_S3_ENDPOINT: s3().url,
      AWS_ACCESS_KEY_ID: s3().accessKey,
      AWS_SECRET_ACCESS_KEY: s3().secretKey,
    }),
    kopiaEnv: (): Env => ({ AWS_ACCESS_KEY_ID: s3().accessKey, AWS_SECRET_ACCESS_KEY: s3().secretKey }),
  },
];

describe('the first backup of a new repository', () => {
  for (const backend of backends) {
    it(`${backend.label}: runs no maintenance, leaves it to maintenance@volsync, and the maintenance job then runs it`, async () => {
      const s = seededScenario(`first-${backend.label.toLowerCase()}`);
      const env = { ...s.env, ...backend.env(s.root), DATA_DIR: s.data };

      const first = await runMover(['backup'], env);
      expect(first.exitCode, first.stdout).toBe(0);
      expect(verbs(first)).toContain('repository create');
      expect(maintenanceLines(first)).toEqual([]);
      // The expected connect that finds no repository is an info line; nothing in the run warns.
      expect(first.records.filter((r) => r['level'] === 40).map((r) => r['msg'])).toEqual([]);
      expect(first.records.some((r) => r['level'] === 30 && r['msg'] === 'no repository yet: creating it')).toBe(true);

      let info = maintenanceInfo(s.cache, s.password, backend.kopiaEnv());
      expect(info.owner).toBe('maintenance@volsync');
      expect(info.schedule.runs ?? {}).toEqual({});

      // A backup and a restore by the maintenance identity itself, with maintenance due, run none either.
      const asOwner = { KOPIA_OVERRIDE_USERNAME: 'maintenance', KOPIA_OVERRIDE_HOSTNAME: 'volsync' };
      writeFileSync(join(s.data, 'b.txt'), 'b\n');
      const backup = await runMover(['backup'], { ...env, ...asOwner, KOPIA_CACHE_DIR: join(s.root, 'owner-cache') });
      expect(backup.exitCode, backup.stdout).toBe(0);
      expect(maintenanceLines(backup)).toEqual([]);
      const target = join(s.root, 'restored');
      mkdirSync(target);
      const restore = await runMover(['restore'], { ...env, ...asOwner, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data, KOPIA_CACHE_DIR: join(s.root, 'owner-cache') });
      expect(restore.exitCode, restore.stdout).toBe(0);
      expect(existsSync(join(target, 'b.txt'))).toBe(true);
      expect(maintenanceLines(restore)).toEqual([]);
      expect(maintenanceInfo(s.cache, s.password, backend.kopiaEnv()).schedule.runs ?? {}).toEqual({});

      const maintenance = await runMover(['maintenance'], { ...env, KOPIA_CACHE_DIR: join(s.root, 'maintenance-cache') });
      expect(maintenance.exitCode, maintenance.stdout).toBe(0);
      expect(maintenance.plainLines).toContain('MAINTENANCE_STATUS: SUCCESS');
      expect(maintenance.kopiaCalls.map((a) => a.slice(0, 3).join(' '))).toContain('maintenance run --full');
      info = maintenanceInfo(s.cache, s.password, backend.kopiaEnv());
      expect(info.owner).toBe('maintenance@volsync');
      expect(info.schedule.runs?.['snapshot-gc']?.some((r) => r.success)).toBe(true);
    });
  }
});

describe('the creation lock of a filesystem repository', () => {
  it('a lone first backup takes it, creates without the pause or the second look, and gives it back', async () => {
    const s = seededScenario('lock-lone');
    // The program's own creation timings, as in production.
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_MOVER_CREATE_JITTER_SECONDS: undefined, KOPIA_MOVER_CREATE_SETTLE_SECONDS: undefined });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(verbs(result)).toEqual(['repository connect', 'repository create', 'repository connect', 'maintenance set', 'snapshot create']);
    expect(existsSync(join(s.repo, LOCK))).toBe(false);
    expect(existsSync(join(s.repo, 'kopia.repository.f'))).toBe(true);
  });

  it('a mover that finds it taken never creates: it connects once the holder\'s repository is there', async () => {
    const s = heldLock('lock-taken');
    const handle = startMover(['backup'], { ...s.env, DATA_DIR: s.data });
    await waitFor(handle, 'the wait for the lock holder', () =>
      recordsSoFar(handle).find((r) => r['msg'] === 'another mover is creating the repository: waiting for it'),
    );
    // The holder: bare kopia creates the repository while the mover waits.
    const holder = tempDir('km-lock-holder-');
    const created = spawnSync(realKopia, ['repository', 'create', 'filesystem', `--path=${s.repo}`, '--create-only', `--config-file=${join(holder, 'kopia.config')}`, `--log-dir=${join(holder, 'logs')}`], {
      env: { PATH: process.env['PATH'], HOME: holder, KOPIA_PASSWORD: s.password, KOPIA_CHECK_FOR_UPDATES: 'false' },
      encoding: 'utf8',
    });
    expect(created.status, created.stderr).toBe(0);
    const result = await handle.result;
    expect(result.exitCode, result.stdout).toBe(0);
    expect(verbs(result)).not.toContain('repository create');
    expect(result.records.some((r) => r['msg'] === 'connected to the repository another mover created')).toBe(true);
    expect(result.plainLines.some((l) => l.startsWith('SNAPSHOT_ID: '))).toBe(true);
    // Not its lock: it leaves it where it found it.
    expect(existsSync(join(s.repo, LOCK))).toBe(true);
  });

  it('a lock left by a mover stopped halfway, with no repository: the mover waits, then fails with exit 3 naming the lock', async () => {
    const s = heldLock('lock-stale');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(result.exitCode, result.stdout).toBe(3);
    expect(verbs(result)).not.toContain('repository create');
    const reason = result.plainLines.find((l) => l.startsWith('FAILURE_REASON: '));
    expect(reason).toBe(`FAILURE_REASON: no repository appeared within 60 s while another mover held the creation lock ${join(s.repo, LOCK)}; remove the lock if no mover is creating the repository`);
  }, 120_000);

  it('eight movers at once against a new filesystem repository: one creates, every snapshot is in it', async () => {
    const root = tempDir('km-lock-race-');
    const repo = join(root, 'repo');
    const password = `race-${Math.random().toString(36).slice(2)}-Secret!`;
    const movers = Array.from({ length: 8 }, (_, i) => {
      const data = join(root, `data-${i}`);
      mkdirSync(data);
      writeFileSync(join(data, 'tenant.txt'), `tenant ${i}\n`);
      return {
        KOPIA_PASSWORD: password,
        KOPIA_REPOSITORY: `filesystem://${repo}`,
        KOPIA_CACHE_DIR: join(root, `cache-${i}`),
        DATA_DIR: data,
        KOPIA_SOURCE_PATH_OVERRIDE: '/data',
        KOPIA_OVERRIDE_USERNAME: `tenant${i}`,
        KOPIA_OVERRIDE_HOSTNAME: `ns${i}`,
        KOPIA_MOVER_CREATE_JITTER_SECONDS: undefined,
        KOPIA_MOVER_CREATE_SETTLE_SECONDS: undefined,
      };
    });
    const results = await Promise.all(movers.map((env) => runMover(['backup'], env)));
    for (const r of results) expect(r.exitCode, r.stdout).toBe(0);
    const creators = results.filter((r) => r.records.some((x) => x['msg'] === 'repository created and verified by a fresh connect'));
    expect(creators.length).toBe(1);
    const fresh = tempDir('km-lock-race-fresh-');
    const kopiaEnv = { PATH: process.env['PATH'], HOME: fresh, KOPIA_PASSWORD: password, KOPIA_CHECK_FOR_UPDATES: 'false' };
    const flags = [`--config-file=${join(fresh, 'kopia.config')}`, `--log-dir=${join(fresh, 'logs')}`];
    const connect = spawnSync(realKopia, ['repository', 'connect', 'filesystem', `--path=${repo}`, `--cache-directory=${join(fresh, 'cache')}`, '--no-persist-credentials', ...flags], { env: kopiaEnv, encoding: 'utf8' });
    expect(connect.status, connect.stderr).toBe(0);
    const list = JSON.parse(spawnSync(realKopia, ['snapshot', 'list', '--all', '--json', ...flags], { env: kopiaEnv, encoding: 'utf8' }).stdout) as { source: { userName: string } }[];
    expect(new Set(list.map((x) => x.source.userName))).toEqual(new Set(movers.map((m) => m.KOPIA_OVERRIDE_USERNAME)));
    const verify = spawnSync(realKopia, ['snapshot', 'verify', '--verify-files-percent=100', ...flags], { env: kopiaEnv, encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
  }, 180_000);
});
