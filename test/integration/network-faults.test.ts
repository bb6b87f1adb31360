// Faults on the wire between the real kopia and a real MinIO: toxiproxy in between, switched by its
// HTTP API. Each fault is followed by the same checks: the repository verifies clean, every snapshot
// restores byte-identical, and the next run without the fault succeeds.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { realKopia, runMover, startMover, summaryValue, tempDir, waitForKopia, type Env, type MoverResult } from '../support/mover.js';
import { startS3Server, type S3Server } from '../support/servers.js';
import { startToxiproxy, type FaultProxy, type Toxic, type ToxiproxyServer } from '../support/servers/toxiproxy.js';
import { contents, differences } from '../support/trees.js';

const SLOW = 180_000;
const BUCKET = 'km-faults';
const STALL_SECONDS = 4;
const GRACE_SECONDS = 3;

let s3: S3Server;
let toxiproxy: ToxiproxyServer;
let proxy: FaultProxy;

beforeAll(async () => {
  [s3, toxiproxy] = await Promise.all([startS3Server(), startToxiproxy()]);
  await s3.createBucket(BUCKET);
  proxy = await toxiproxy.createProxy('minio', s3.endpoint);
}, SLOW);

afterEach(async () => {
  await proxy?.clearToxics();
  await proxy?.setEnabled(true);
});

afterAll(async () => {
  await Promise.allSettled([toxiproxy?.stop(), s3?.stop()]);
});

/** One repository under its own prefix, reached through the proxy, and its data. */
interface Setup {
  label: string;
  root: string;
  data: string;
  password: string;
  env: Env;
}

function setup(label: string, megabytes: number): Setup {
  const root = tempDir(`km-net-${label}-`);
  const data = join(root, 'data');
  mkdirSync(join(data, 'nested'), { recursive: true });
  writeFileSync(join(data, 'hello.txt'), `${label}\n`);
  // Random bytes: nothing compresses or deduplicates, so every byte crosses the wire.
  for (let i = 0; i < megabytes; i++) writeFileSync(join(data, 'nested', `part-${i}.bin`), randomBytes(1024 * 1024));
  const password = `pw-${randomBytes(6).toString('hex')}-net`;
  const env: Env = {
    KOPIA_PASSWORD: password,
    KOPIA_REPOSITORY: `s3://${BUCKET}/${label}/`,
    KOPIA_S3_ENDPOINT: `http://${proxy.endpoint}`,
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
    AWS_REGION: s3.region,
    KOPIA_CACHE_DIR: join(root, 'cache'),
    KOPIA_OVERRIDE_USERNAME: label,
    KOPIA_OVERRIDE_HOSTNAME: 'ns1',
    KOPIA_SOURCE_PATH_OVERRIDE: '/data',
    DATA_DIR: data,
    KOPIA_MOVER_STALL_SECONDS: String(STALL_SECONDS),
    KOPIA_MOVER_SIGNAL_GRACE_SECONDS: String(GRACE_SECONDS),
    KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS: '1',
  };
  return { label, root, data, password, env };
}

/** kopia itself, connected straight to MinIO (no proxy), with a config of the test's own. */
function directKopia(s: Setup): (args: string[]) => string {
  const dir = join(s.root, 'direct');
  mkdirSync(dir, { recursive: true });
  const env = {
    PATH: process.env['PATH'],
    HOME: dir,
    KOPIA_PASSWORD: s.password,
    KOPIA_CHECK_FOR_UPDATES: 'false',
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
  };
  const flags = [`--config-file=${join(dir, 'kopia.config')}`, `--log-dir=${join(dir, 'logs')}`];
  const run = (args: string[]) => execFileSync(realKopia, [...args, ...flags], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  run(['repository', 'connect', 's3', `--bucket=${BUCKET}`, `--prefix=${s.label}/`, `--endpoint=${s3.endpoint}`, '--disable-tls', `--cache-directory=${join(dir, 'cache')}`]);
  return run;
}

/**
 * After a fault: the repository verifies clean, and it holds exactly one snapshot per run that
 * reported success, oldest first, each restoring byte-identical to the data that run saw.
 */
function checkRepository(s: Setup, succeeded: Map<string, string>[]): void {
  const kopia = directKopia(s);
  kopia(['snapshot', 'verify', '--verify-files-percent=100']);
  const snapshots = (JSON.parse(kopia(['snapshot', 'list', '--all', '--json'])) as { id: string; startTime: string }[]).sort((a, b) =>
    a.startTime.localeCompare(b.startTime),
  );
  expect(snapshots.length, 'one snapshot per successful run').toBe(succeeded.length);
  snapshots.forEach(({ id }, i) => {
    const target = join(tempDir('km-net-check-'), 'out');
    kopia(['snapshot', 'restore', id, target]);
    expect(differences(succeeded[i]!, contents(target)), `snapshot ${id}`).toEqual([]);
  });
}

function failureClass(result: MoverResult): string | undefined {
  return summaryValue(result, 'FAILURE_CLASS');
}

/** A failed run says so with a retryable class in the summary and the termination message; a success is exit 0. */
function expectSuccessOrRetryable(result: MoverResult): void {
  if (result.exitCode === 0) return;
  expect(failureClass(result), result.stdout).toMatch(/\(retryable: yes\)$/);
  expect(result.terminationMessage?.['failure']).toMatchObject({ retryable: true });
}

function expectStalled(result: MoverResult, exitCode: number): void {
  expect(result.exitCode, result.stdout).toBe(exitCode);
  expect(failureClass(result), result.stdout).toBe('NetworkStalled (retryable: yes)');
  expect(summaryValue(result, 'FAILURE_FIX'), result.stdout).toContain('KOPIA_MOVER_STALL_SECONDS');
  expect(result.plainLines).toContain('=== OPERATION SUMMARY ===');
  expect(result.terminationMessage?.['failure']).toMatchObject({ class: 'NetworkStalled', retryable: true });
}

const latency = (ms: number): Toxic[] => [
  { name: 'latency-up', type: 'latency', stream: 'upstream', attributes: { latency: ms } },
  { name: 'latency-down', type: 'latency', stream: 'downstream', attributes: { latency: ms } },
];
const bandwidth = (kbPerSecond: number): Toxic[] => [
  { name: 'bandwidth-up', type: 'bandwidth', stream: 'upstream', attributes: { rate: kbPerSecond } },
  { name: 'bandwidth-down', type: 'bandwidth', stream: 'downstream', attributes: { rate: kbPerSecond } },
];
// Nothing passes and nothing is closed: packets dropped on the floor.
const silence: Toxic[] = [
  { name: 'silent-up', type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } },
  { name: 'silent-down', type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } },
];

async function addToxics(toxics: Toxic[]): Promise<void> {
  for (const toxic of toxics) await proxy.addToxic(toxic);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resets every connection that lives past `afterMs` for `onMs`, then lets them be for `offMs`, `times` times. */
async function resetBursts(times: number, { afterMs, onMs, offMs }: { afterMs: number; onMs: number; offMs: number }, running: () => boolean): Promise<number> {
  let done = 0;
  for (let i = 0; i < times && running(); i++) {
    await pause(offMs);
    await proxy.addToxic({ name: 'reset', type: 'reset_peer', stream: 'upstream', attributes: { timeout: afterMs } });
    await pause(onMs);
    await proxy.removeToxic('reset');
    done++;
  }
  return done;
}

/** What each fault did, for docs/failure-modes.md. */
const measured: string[] = [];
function record(fault: string, result: MoverResult, seconds: number, next: string): void {
  measured.push(`| ${fault} | ${result.exitCode} | ${failureClass(result) ?? '-'} | ${seconds.toFixed(1)} s | ${next} |`);
}
afterAll(() => {
  if (measured.length > 0) console.log(['| fault | exit | class | time to end | next run |', ...measured].join('\n'));
});

async function timed<T>(body: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = Date.now();
  const value = await body();
  return { value, seconds: (Date.now() - started) / 1000 };
}

/** A successful run of the program, timed. */
async function succeeds(args: string[], env: Env): Promise<{ value: MoverResult; seconds: number }> {
  const run = await timed(() => runMover(args, env));
  expect(run.value.exitCode, run.value.stdout).toBe(0);
  return run;
}

/**
 * The fault is over: the same run without it succeeds (it is recorded with the faulty run), and
 * the repository holds what `succeeded` says.
 */
async function afterFault(s: Setup, fault: string, faulty: { value: MoverResult; seconds: number }, next: [string[], Env], succeeded: () => Map<string, string>[]): Promise<void> {
  await proxy.clearToxics();
  const again = await succeeds(...next);
  record(fault, faulty.value, faulty.seconds, `exit ${again.value.exitCode}`);
  checkRepository(s, succeeded());
}

/** Ends as NetworkStalled with `exitCode`, within the stall limit plus the grace (and the summary's moment). */
async function stalls(result: Promise<MoverResult>, exitCode: number): Promise<{ value: MoverResult; seconds: number }> {
  const run = await timed(() => result);
  expectStalled(run.value, exitCode);
  expect(run.seconds).toBeLessThan(STALL_SECONDS + GRACE_SECONDS + 6);
  return run;
}

/** Starts the program, and once kopia's `first second` is busy on a slow link, the network goes silent. */
async function silentMidway(args: string[], env: Env, kopia: [string, string], slowLink: Toxic[], settleMs: number): Promise<{ result: Promise<MoverResult> }> {
  await addToxics(slowLink);
  const handle = startMover(args, env);
  await waitForKopia(handle, ...kopia);
  await pause(settleMs);
  await addToxics(silence);
  // Wrapped: an async function would wait for a promise it returns, and the clock starts now.
  return { result: handle.result };
}

/** Five new megabytes in DATA_DIR: several seconds of upload on a slow link. */
function moreData(s: Setup): void {
  for (let i = 1; i < 6; i++) writeFileSync(join(s.data, 'nested', `part-${i}.bin`), randomBytes(1024 * 1024));
}

describe('network faults between kopia and MinIO (toxiproxy)', () => {
  it(
    'latency 50 ms each way and 1 MB/s: backup (creating the repository), restore and maintenance succeed',
    async () => {
      const s = setup('slow-link', 3);
      await addToxics([...latency(50), ...bandwidth(1024)]);
      const target = join(s.root, 'restored');
      const runs: [string, [string[], Env]][] = [
        ['backup', [['backup'], s.env]],
        ['restore', [['restore'], { ...s.env, DATA_DIR: target }]],
        ['maintenance', [['maintenance'], s.env]],
      ];
      for (const [what, [args, env]] of runs) {
        const run = await succeeds(args, env);
        record(`${what}, 50 ms each way + 1 MB/s`, run.value, run.seconds, '-');
      }
      expect(differences(contents(s.data), contents(target))).toEqual([]);
      await proxy.clearToxics();
      checkRepository(s, [contents(s.data)]);
    },
    SLOW,
  );

  it(
    'connections reset in the middle of an upload, three times: the backup succeeds with every byte, or fails retryable; the next backup succeeds',
    async () => {
      const s = setup('resets-backup', 1);
      await succeeds(['backup'], s.env);
      const before = contents(s.data);
      moreData(s);
      await addToxics(bandwidth(1024));
      // A stall limit well above kopia's own retry back-off: the resets, not the limit, decide.
      const handle = startMover(['backup'], { ...s.env, KOPIA_MOVER_STALL_SECONDS: '60' });
      await waitForKopia(handle, 'snapshot', 'create');
      const run = await timed(async () => {
        const bursts = await resetBursts(3, { afterMs: 300, onMs: 1_000, offMs: 1_000 }, () => !handle.ended());
        return { bursts, result: await handle.result };
      });
      expect(run.value.bursts, 'resets while the backup ran').toBeGreaterThanOrEqual(1);
      expectSuccessOrRetryable(run.value.result);
      const fault = `backup, ${run.value.bursts} reset bursts (reset_peer after 300 ms, 1 s on, 1 s off) at 1 MB/s`;
      // A success holds every byte; a failure left no snapshot behind.
      await afterFault(s, fault, { value: run.value.result, seconds: run.seconds }, [['backup'], s.env], () => {
        const after = contents(s.data);
        return run.value.result.exitCode === 0 ? [before, after, after] : [before, after];
      });
    },
    SLOW,
  );

  it(
    'connections cut after 256 KB in the middle of a restore, three times: the restore is complete, or fails retryable; the next restore is complete',
    async () => {
      const s = setup('resets-restore', 4);
      await succeeds(['backup'], s.env);
      await addToxics(bandwidth(1024));
      const target = join(s.root, 'restored');
      const handle = startMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_MOVER_STALL_SECONDS: '60' });
      await waitForKopia(handle, 'snapshot', 'restore');
      const run = await timed(async () => {
        let bursts = 0;
        for (let i = 0; i < 3 && !handle.ended(); i++) {
          await pause(800);
          await proxy.addToxic({ name: 'cut', type: 'limit_data', stream: 'downstream', attributes: { bytes: 256 * 1024 } });
          await pause(800);
          await proxy.removeToxic('cut');
          bursts++;
        }
        return { bursts, result: await handle.result };
      });
      expectSuccessOrRetryable(run.value.result);
      if (run.value.result.exitCode === 0) expect(differences(contents(s.data), contents(target))).toEqual([]);
      const fault = `restore, ${run.value.bursts} cuts (limit_data 256 KB, 0.8 s on, 0.8 s off) at 1 MB/s`;
      await afterFault(s, fault, { value: run.value.result, seconds: run.seconds }, [['restore'], { ...s.env, DATA_DIR: target }], () => [contents(s.data)]);
      expect(differences(contents(s.data), contents(target))).toEqual([]);
    },
    SLOW,
  );

  it(
    `the network goes silent in the middle of an upload: the backup stops within KOPIA_MOVER_STALL_SECONDS (${STALL_SECONDS}) plus the grace, NetworkStalled, exit 1; the next backup succeeds`,
    async () => {
      const s = setup('silent-backup', 1);
      await succeeds(['backup'], s.env);
      const before = contents(s.data);
      moreData(s);
      const run = await stalls((await silentMidway(['backup'], s.env, ['snapshot', 'create'], bandwidth(512), 1_500)).result, 1);
      const fault = `backup, silent (timeout 0 both ways) mid-upload, stall limit ${STALL_SECONDS} s, grace ${GRACE_SECONDS} s`;
      await afterFault(s, fault, run, [['backup'], s.env], () => [before, contents(s.data)]);
    },
    SLOW,
  );

  it(
    'the network goes silent in the middle of a restore: NetworkStalled, exit 1, within the limit plus the grace; the next restore is complete',
    async () => {
      const s = setup('silent-restore', 4);
      await succeeds(['backup'], s.env);
      const env = { ...s.env, DATA_DIR: join(s.root, 'restored') };
      const run = await stalls((await silentMidway(['restore'], env, ['snapshot', 'restore'], bandwidth(512), 1_500)).result, 1);
      const fault = `restore, silent mid-download, stall limit ${STALL_SECONDS} s, grace ${GRACE_SECONDS} s`;
      await afterFault(s, fault, run, [['restore'], env], () => [contents(s.data)]);
      expect(differences(contents(s.data), contents(env.DATA_DIR))).toEqual([]);
    },
    SLOW,
  );

  it(
    'the network goes silent while maintenance runs: NetworkStalled, exit 6, within the limit plus the grace; the next maintenance succeeds',
    async () => {
      const s = setup('silent-maintenance', 1);
      await succeeds(['backup'], s.env);
      // Round trips slow enough that maintenance is still running when the silence comes.
      const run = await stalls((await silentMidway(['maintenance'], s.env, ['maintenance', 'run'], latency(150), 0)).result, 6);
      const fault = `maintenance, silent during maintenance run, stall limit ${STALL_SECONDS} s, grace ${GRACE_SECONDS} s`;
      await afterFault(s, fault, run, [['maintenance'], s.env], () => [contents(s.data)]);
    },
    SLOW,
  );

  it(
    'a connect to an endpoint that never answers stops within the limit plus the grace: NetworkStalled, exit 3; the next backup succeeds',
    async () => {
      const s = setup('silent-connect', 1);
      await succeeds(['backup'], s.env);
      await addToxics(silence);
      // A fresh cache: the run must connect, and the endpoint accepts the connection but never answers.
      const env = { ...s.env, KOPIA_CACHE_DIR: join(s.root, 'fresh-cache') };
      const run = await stalls(runMover(['backup'], env), 3);
      const fault = `backup with a fresh cache (connect), silent from the start, stall limit ${STALL_SECONDS} s, grace ${GRACE_SECONDS} s`;
      await afterFault(s, fault, run, [['backup'], env], () => [contents(s.data), contents(s.data)]);
    },
    SLOW,
  );

  it('a stall limit that is not a whole number of seconds is refused before any repository is touched, naming the flag', async () => {
    const s = setup('bad-stall', 0);
    const result = await runMover(['backup', '--stall-seconds', '5m'], s.env);
    expect(result.exitCode, result.stdout).toBe(2);
    expect(result.stdout).toContain('--stall-seconds');
    expect(result.kopiaCalls).toEqual([]);
  });
});
