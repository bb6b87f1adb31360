/**
 * A backup pod stopped mid-snapshot (the kubelet's SIGTERM, here `podman stop`): exit 143 with the
 * summary, and the next backup on the same cache and repository succeeds.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  duBytes,
  makeBigTree,
  podmanSync,
  removePods,
  requireImage,
  scratch,
  startPod,
  summaryBlock,
  summaryValue,
  volume,
  type PodSpec,
} from './support.js';

// Large enough that the snapshot is still uploading when the signal comes: kopia writes about
// 100-150 MB/s of random data here, so 1 GiB takes several seconds.
const DATA_MB = 1024;
const STOP_AFTER_BYTES = 96 << 20;

const work = scratch('km-sigterm-');
const at = (name: string) => join(work.dir, name);
const PASSWORD = `image test ${randomBytes(9).toString('base64url')}`;

function spec(name: string): PodSpec {
  return {
    name: `km-test-${name}-${process.pid}`,
    direction: 'source',
    form: 'args',
    terminationLog: at(`termination-log-${name}`),
    env: {
      KOPIA_REPOSITORY: 'filesystem:///mnt/repo',
      KOPIA_PASSWORD: PASSWORD,
      KOPIA_CACHE_DIR: '/cache',
      DATA_DIR: '/data',
      KOPIA_OVERRIDE_USERNAME: 'big',
      KOPIA_OVERRIDE_HOSTNAME: 'ns1',
    },
    volumes: [
      [at('repo'), '/mnt/repo'],
      [at('cache'), '/cache'],
      [at('data'), '/data'],
    ],
  };
}

beforeAll(() => {
  requireImage();
  volume(at('repo'));
  volume(at('cache'));
  volume(at('data'));
  makeBigTree(at('data'), DATA_MB, 32);
});
afterAll(() => {
  removePods();
  work.remove();
});

it('stopped mid-backup, exits 143 with the summary; the next backup succeeds', async () => {
  const first = spec('stopped');
  const run = startPod(first).started;
  let finished = false;
  void run.then(() => (finished = true));

  // Stop once the snapshot is visibly uploading.
  const deadline = Date.now() + 120_000;
  while (!finished && duBytes(at('repo')) < STOP_AFTER_BYTES && Date.now() < deadline) await sleep(100);
  expect(finished, 'the backup ended before it could be stopped: make DATA_MB larger').toBe(false);
  const uploaded = duBytes(at('repo'));
  const stop = podmanSync(['stop', '-t', '30', first.name]);
  expect(stop.code, stop.stderr).toBe(0);

  const r = await run;
  const context = [`stopped after ${uploaded >> 20} MiB were in the repository`, ...r.plain, r.stderr.slice(-2000)].join('\n');
  expect(r.code, context).toBe(143);
  expect(summaryBlock(r), context).not.toEqual([]);
  expect(summaryValue(r, 'OPERATION_RESULT')).toBe('FAILURE');
  expect(summaryValue(r, 'EXIT_CODE')).toBe('143');
  expect(JSON.parse(r.terminationMessage)).toMatchObject({ operation: 'backup', result: 'FAILURE', exitCode: 143 });
  for (const text of [r.stdout, r.stderr, r.terminationMessage]) expect(text).not.toContain(PASSWORD);

  const next = await startPod(spec('after-stop')).started;
  expect(next.code, [...next.plain, next.stderr.slice(-2000)].join('\n')).toBe(0);
  expect(summaryValue(next, 'OPERATION_RESULT')).toBe('SUCCESS');
  expect(summaryValue(next, 'SNAPSHOT_FILES')).toBe(String(DATA_MB / 32));
  expect(Number(summaryValue(next, 'SNAPSHOT_BYTES'))).toBe(DATA_MB << 20);
  expect(JSON.parse(next.terminationMessage)).toMatchObject({ operation: 'backup', result: 'SUCCESS', exitCode: 0 });
  for (const text of [next.stdout, next.stderr, next.terminationMessage]) expect(text).not.toContain(PASSWORD);
});
