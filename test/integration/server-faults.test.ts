// The object store fails while the mover works: MinIO killed halfway through an upload and started
// again, MinIO refusing requests beyond its limit, MinIO's disk full. Real kopia, real MinIO started
// by each test. After every fault: the repository verifies clean, every snapshot of a run reported
// as a success restores byte-identical, a later restore never picks what a failed run left, and the
// next run without the fault succeeds.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { realKopia, runMover, startMover, summaryValue, tempDir, waitForKopia, type Env, type MoverHandle, type MoverResult } from '../support/mover.js';
import { startFaultyS3Server, type FaultyS3Server } from '../support/servers/minio-faults.js';
import { contents } from '../support/trees.js';

const SLOW = 300_000;
// The three tests run at once: each has its own MinIO and repository, and the full disk spends
// most of its time in kopia's retries, not on the CPU.
const MiB = 1024 * 1024;

/** One row of the table in docs/failure-modes.md, printed when the file ends. */
const rows: string[] = [];
afterAll(() => {
  console.log(['| fault | operation | exit | class | time to end | next run |', ...rows].join('\n'));
});

interface Backup {
  result: MoverResult;
  seconds: number;
  /** The source as it was during the run (nothing changes it while the run lasts). */
  tree: Map<string, string>;
  snapshotId: string | undefined;
}

/** A repository in one bucket of a faulty MinIO, and the snapshots its runs reported. */
class Tenant {
  readonly root = tempDir('km-fault-');
  readonly data = join(this.root, 'data');
  readonly password = `pw-${randomBytes(6).toString('hex')}`;
  /** Snapshot id -> the source it was taken of, for every backup reported as a success. */
  readonly succeeded = new Map<string, Map<string, string>>();
  private runs = 0;

  constructor(
    readonly server: FaultyS3Server,
    readonly bucket: string,
  ) {
    mkdirSync(this.data);
  }

  env(extra: Env = {}): Env {
    return {
      KOPIA_PASSWORD: this.password,
      KOPIA_REPOSITORY: `s3://${this.bucket}`,
      KOPIA_S3_ENDPOINT: this.server.url,
      AWS_ACCESS_KEY_ID: this.server.accessKey,
      AWS_SECRET_ACCESS_KEY: this.server.secretKey,
      AWS_REGION: this.server.region,
      KOPIA_CACHE_DIR: join(this.root, 'cache'),
      KOPIA_OVERRIDE_USERNAME: this.bucket,
      KOPIA_OVERRIDE_HOSTNAME: 'ns1',
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      DATA_DIR: this.data,
      ...extra,
    };
  }

  /** Adds a file of `bytes` random bytes (in files of at most 16 MiB) to the source. */
  grow(bytes: number): void {
    const dir = join(this.data, `round-${++this.runs}`);
    mkdirSync(dir);
    for (let i = 0; bytes > 0; i++, bytes -= 16 * MiB) writeFileSync(join(dir, `part-${i}.bin`), randomBytes(Math.min(bytes, 16 * MiB)));
  }

  /** Notes a finished backup: a success must name its snapshot. */
  record(result: MoverResult, started: number, tree: Map<string, string>): Backup {
    const seconds = (Date.now() - started) / 1000;
    const snapshotId = summaryValue(result, 'SNAPSHOT_ID');
    if (result.exitCode === 0) {
      expect(snapshotId, result.stdout).toMatch(/^[0-9a-f]{16,}$/);
      this.succeeded.set(snapshotId!, tree);
    }
    return { result, seconds, tree, snapshotId };
  }

  async backup(): Promise<Backup> {
    const tree = contents(this.data);
    const started = Date.now();
    return this.record(await runMover(['backup'], this.env()), started, tree);
  }

  /**
   * Adds `bytes` to the source and starts a backup; resolves once its upload is under way (MinIO
   * holds a pack of this run, and more are coming).
   */
  async backupUnderWay(bytes: number): Promise<{ handle: MoverHandle; finished(): Promise<Backup> }> {
    this.grow(bytes);
    const before = packsStored(this.server, this.bucket);
    const tree = contents(this.data);
    const started = Date.now();
    const handle = startMover(['backup'], this.env());
    await waitForKopia(handle, 'snapshot', 'create');
    while (packsStored(this.server, this.bucket) === before) {
      expect(handle.ended(), handle.output()).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { handle, finished: async () => this.record(await handle.result, started, tree) };
  }

  /** The mover's restore into a fresh folder with a fresh cache: what it picks, and what it wrote. */
  async restore(): Promise<{ result: MoverResult; id: string | undefined; tree: Map<string, string> }> {
    const target = tempDir('km-fault-restore-');
    const result = await runMover(['restore'], this.env({ DATA_DIR: target, KOPIA_CACHE_DIR: tempDir('km-fault-cache-') }));
    return { result, id: summaryValue(result, 'RESTORED_SNAPSHOT_ID'), tree: contents(target) };
  }

  /** kopia itself, on a connection of its own (never the mover's cache). */
  kopia(args: string[]): { stdout: string; stderr: string } {
    const config = join(this.root, 'check', 'kopia.config');
    const env = {
      PATH: process.env['PATH'],
      HOME: this.root,
      KOPIA_PASSWORD: this.password,
      KOPIA_CHECK_FOR_UPDATES: 'false',
      AWS_ACCESS_KEY_ID: this.server.accessKey,
      AWS_SECRET_ACCESS_KEY: this.server.secretKey,
    };
    const common = [`--config-file=${config}`, `--log-dir=${join(this.root, 'check', 'logs')}`];
    if (!existsSync(config)) {
      const connect = ['repository', 'connect', 's3', `--bucket=${this.bucket}`, `--endpoint=${this.server.endpoint}`, '--disable-tls'];
      execFileSync(realKopia, [...connect, `--cache-directory=${join(this.root, 'check', 'cache')}`, ...common], { env, stdio: 'pipe' });
    }
    const run = spawnSync(realKopia, [...args, ...common], { env, encoding: 'utf8', maxBuffer: 64 * MiB });
    if (run.status !== 0) throw new Error(`kopia ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
    return { stdout: run.stdout, stderr: run.stderr };
  }
}

/** What a run that met a fault may end as: success, or a failure of this class that a retry can mend. */
function expectSuccessOrRetryable(result: MoverResult, cls = 'RepositoryUnavailable'): void {
  if (result.exitCode === 0) return;
  expect(summaryValue(result, 'FAILURE_CLASS'), result.stdout).toBe(`${cls} (retryable: yes)`);
  expect(result.terminationMessage, result.stdout).toMatchObject({ result: 'FAILURE', failure: { class: cls, retryable: true } });
  expect(summaryValue(result, 'FAILURE_FIX'), result.stdout).toBeTruthy();
}

/**
 * What must hold once the fault is gone: a restore picks a snapshot of a successful run and writes
 * it exactly, the next backup succeeds, the repository verifies clean, and every successful run's
 * snapshot restores byte-identical.
 */
async function expectRecovered(tenant: Tenant): Promise<Backup> {
  const picked = await tenant.restore();
  expect(picked.result.exitCode, picked.result.stdout).toBe(0);
  expect([...tenant.succeeded.keys()], picked.result.stdout).toContain(picked.id);
  expect(picked.tree).toEqual(tenant.succeeded.get(picked.id!));

  tenant.grow(MiB);
  const next = await tenant.backup();
  expect(next.result.exitCode, next.result.stdout).toBe(0);

  // kopia verify exits non-zero on any error; what it read is on stderr.
  const verify = tenant.kopia(['snapshot', 'verify', '--verify-files-percent=100', '--file-parallelism=2']).stderr;
  expect(verify).toMatch(/Finished processing \d+ objects .*Read [1-9]\d* files/);
  expect(verify).not.toMatch(/error/i);
  const listed = (JSON.parse(tenant.kopia(['snapshot', 'list', '--all', '--json']).stdout) as Array<{ id: string }>).map((s) => s.id);
  // The repository's complete snapshots are exactly those of the runs reported as successes.
  expect([...listed].sort()).toEqual([...tenant.succeeded.keys()].sort());
  for (const [id, tree] of tenant.succeeded) {
    const target = tempDir('km-fault-check-');
    tenant.kopia(['snapshot', 'restore', id, target]);
    expect(contents(target), `snapshot ${id}`).toEqual(tree);
  }
  return next;
}

function row(fault: string, operation: string, run: { result: MoverResult; seconds: number }, next: MoverResult): void {
  const cls = run.result.exitCode === 0 ? '—' : summaryValue(run.result, 'FAILURE_CLASS') ?? '(none)';
  rows.push(`| ${fault} | ${operation} | ${run.result.exitCode} | ${cls} | ${run.seconds.toFixed(1)} s | exit ${next.exitCode} |`);
}

/** Object folders MinIO has written for pack blobs (p*) of the bucket: each is a whole upload. */
function packsStored(server: FaultyS3Server, bucket: string): number {
  const dir = join(server.dataDir, bucket);
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.startsWith('p')).length : 0;
}

describe('the object store failing under the mover', () => {
  it.concurrent(
    "MinIO killed: SIGKILL once a backup's upload, then a restore, is under way, started again on the same port and data: each run succeeds or fails retryable, the next one succeeds",
    async () => {
      const server = await startFaultyS3Server();
      try {
        await server.createBucket('killed');
        const tenant = new Tenant(server, 'killed');
        tenant.grow(MiB);
        expect((await tenant.backup()).result.exitCode).toBe(0);

        const running = await tenant.backupUnderWay(96 * MiB);
        await server.kill();
        const packsAtKill = packsStored(server, 'killed');
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        await server.restart();
        const faulted = await running.finished();
        expectSuccessOrRetryable(faulted.result);
        // A success stored the rest of its packs after the restart: the kill did land mid-upload.
        if (faulted.result.exitCode === 0) expect(packsStored(server, 'killed')).toBeGreaterThan(packsAtKill);

        const next = await expectRecovered(tenant);
        row('MinIO SIGKILLed mid-upload, back after 3 s', 'backup', faulted, next.result);

        // The same in the middle of a restore of all of it (into a fresh folder, on a fresh cache).
        const target = tempDir('km-fault-restore-');
        const restoreStarted = Date.now();
        const restoring = startMover(['restore'], tenant.env({ DATA_DIR: target, KOPIA_CACHE_DIR: tempDir('km-fault-cache-') }));
        await waitForKopia(restoring, 'snapshot', 'restore');
        while (readdirSync(target, { recursive: true }).length === 0) {
          expect(restoring.ended(), restoring.output()).toBe(false);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await server.kill();
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        await server.restart();
        const restored = await restoring.result;
        const restoreSeconds = (Date.now() - restoreStarted) / 1000;
        expectSuccessOrRetryable(restored);
        if (restored.exitCode === 0) {
          const id = summaryValue(restored, 'RESTORED_SNAPSHOT_ID');
          expect(id).toBe(next.snapshotId);
          expect(contents(target)).toEqual(next.tree);
        }
        const after = await expectRecovered(tenant);
        row('MinIO SIGKILLed mid-restore, back after 3 s', 'restore', { result: restored, seconds: restoreSeconds }, after.result);
      } finally {
        await server.stop();
      }
    },
    SLOW,
  );

  it.concurrent(
    'MinIO refusing requests: MINIO_API_REQUESTS_MAX=1 with its one slot held: a backup (15 s from its start, 5 s in mid-upload), then a restore (15 s), succeed or fail retryable; the next run succeeds',
    async () => {
      const server = await startFaultyS3Server({ settings: { MINIO_API_REQUESTS_MAX: '1' } });
      try {
        await server.createBucket('throttled');
        await server.createBucket('holder');
        const tenant = new Tenant(server, 'throttled');
        tenant.grow(MiB);
        expect((await tenant.backup()).result.exitCode).toBe(0);

        const refusedFor = async <T>(ms: number, work: () => Promise<T>): Promise<T> => {
          const slots = await server.holdRequestSlots('holder', 1);
          const timer = setTimeout(() => slots.release(), ms);
          try {
            return await work();
          } finally {
            clearTimeout(timer);
            slots.release();
          }
        };
        tenant.grow(8 * MiB);
        const faulted = await refusedFor(15_000, () => tenant.backup());
        expectSuccessOrRetryable(faulted.result);

        // Refused again once kopia's upload is under way, for 5 s.
        const running = await tenant.backupUnderWay(96 * MiB);
        const slots = await server.holdRequestSlots('holder', 1);
        expect(running.handle.ended(), 'the backup was still running when MinIO began refusing').toBe(false);
        await new Promise((resolve) => setTimeout(resolve, 5_000));
        slots.release();
        const midUpload = await running.finished();
        expectSuccessOrRetryable(midUpload.result);

        const restoreStarted = Date.now();
        const restored = await refusedFor(15_000, () => tenant.restore());
        const restoreSeconds = (Date.now() - restoreStarted) / 1000;
        expectSuccessOrRetryable(restored.result);
        if (restored.result.exitCode === 0) {
          expect([...tenant.succeeded.keys()]).toContain(restored.id);
          expect(restored.tree).toEqual(tenant.succeeded.get(restored.id!));
        }

        await server.restart();
        const next = await expectRecovered(tenant);
        row('MinIO refusing every request (429 TooManyRequests) for 15 s', 'backup', faulted, next.result);
        row('MinIO refusing every request (429 TooManyRequests) for 5 s, once the upload is under way', 'backup', midUpload, next.result);
        row('MinIO refusing every request (429 TooManyRequests) for 15 s', 'restore', { result: restored.result, seconds: restoreSeconds }, next.result);
      } finally {
        await server.stop();
      }
    },
    SLOW,
  );

  it.concurrent(
    "MinIO's disk full: data dir on a 16 MiB tmpfs: the backup fails StorageFull (not retryable, a fix naming the bucket), maintenance on a disk with no byte left fails StorageFull or succeeds; grown again, the next run succeeds",
    async () => {
      const server = await startFaultyS3Server({ diskBytes: 16 * MiB });
      try {
        await server.createBucket('full');
        const tenant = new Tenant(server, 'full');
        tenant.grow(MiB);
        expect((await tenant.backup()).result.exitCode).toBe(0);

        tenant.grow(24 * MiB);
        const faulted = await tenant.backup();
        expect(faulted.result.exitCode, faulted.result.stdout).not.toBe(0);
        expect(summaryValue(faulted.result, 'FAILURE_CLASS')).toBe('StorageFull (retryable: no)');
        expect(summaryValue(faulted.result, 'FAILURE_FIX')).toMatch(/bucket in KOPIA_REPOSITORY.*KOPIA_S3_ENDPOINT.*Free space/);
        expect(faulted.result.terminationMessage).toMatchObject({ result: 'FAILURE', failure: { class: 'StorageFull', retryable: false } });

        // MinIO still takes small blobs below its threshold: the disk now has no byte left at all.
        server.fillDisk();
        const maintenanceStarted = Date.now();
        const maintenance = await runMover(['maintenance'], tenant.env());
        const maintenanceSeconds = (Date.now() - maintenanceStarted) / 1000;
        if (maintenance.exitCode !== 0) expect(summaryValue(maintenance, 'FAILURE_CLASS'), maintenance.stdout).toBe('StorageFull (retryable: no)');

        server.resizeDisk(1024 * MiB);
        const next = await expectRecovered(tenant);
        row('MinIO disk full (16 MiB tmpfs)', 'backup', faulted, next.result);
        row('MinIO disk with no byte left', 'maintenance', { result: maintenance, seconds: maintenanceSeconds }, next.result);
      } finally {
        await server.stop();
      }
    },
    SLOW,
  );
});
