/**
 * Backup, restore and maintenance in the image, each run as the controller's pods run it, against
 * one filesystem repository at the pods' path (/mnt/repo). The tests in this file run in order.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeTree,
  kopiaInImage,
  makeSourceTree,
  runPod,
  removePods,
  requireImage,
  scratch,
  summaryBlock,
  summaryValue,
  volume,
  type PodResult,
  type PodSpec,
} from './support.js';

const work = scratch('km-pods-');
const at = (name: string) => join(work.dir, name);
const PASSWORD = `image test ${randomBytes(9).toString('base64url')}`;
const IDENTITY = { KOPIA_OVERRIDE_USERNAME: 'app-backup', KOPIA_OVERRIDE_HOSTNAME: 'ns1' };
const outputs: PodResult[] = [];

/** A mover pod with the env every controller-built pod has; the result is kept for the secret check. */
async function pod(
  name: string,
  direction: PodSpec['direction'],
  form: PodSpec['form'],
  extra: Partial<PodSpec> & { env?: Record<string, string> } = {},
): Promise<PodResult> {
  const r = await runPod({
    name: `km-test-${name}-${process.pid}`,
    direction,
    form,
    terminationLog: at(`termination-log-${name}`),
    ...extra,
    env: {
      KOPIA_REPOSITORY: 'filesystem:///mnt/repo',
      KOPIA_PASSWORD: PASSWORD,
      KOPIA_CACHE_DIR: '/cache',
      ...extra.env,
    },
    volumes: [[at('repo'), '/mnt/repo'], ...(extra.volumes ?? [])],
  });
  outputs.push(r);
  return r;
}

/** The run ended as its exit code says, with the whole summary block. */
function expectOutcome(r: PodResult, code: number): void {
  const context = [...r.plain, r.stderr.slice(-2000)].join('\n');
  expect(r.code, context).toBe(code);
  const block = summaryBlock(r);
  expect(block.length, context).toBeGreaterThan(3);
  expect(summaryValue(r, 'OPERATION_RESULT')).toBe(code === 0 ? 'SUCCESS' : 'FAILURE');
  expect(summaryValue(r, 'EXIT_CODE')).toBe(String(code));
}

let source: ReturnType<typeof describeTree>;

beforeAll(() => {
  requireImage();
  volume(at('repo'));
  volume(at('data'));
  makeSourceTree(at('data'));
  source = describeTree(at('data'));
});
afterAll(() => {
  removePods();
  work.remove();
});

describe('a backup pod', () => {
  it('creates the repository and takes the first snapshot (`entry.sh backup`)', async () => {
    const r = await pod('backup-1', 'source', 'args', {
      env: { ...IDENTITY, DATA_DIR: '/data' },
      volumes: [[volume(at('cache-src')), '/cache'], [at('data'), '/data']],
    });
    expectOutcome(r, 0);
    expect(Number(summaryValue(r, 'SNAPSHOT_FILES'))).toBe(source.filter((e) => e.type === 'file').length);
    expect(summaryValue(r, 'SNAPSHOT_ERRORS')).toBe('0');
    // The termination message is the compact JSON summary.
    const message = JSON.parse(r.terminationMessage) as Record<string, unknown>;
    expect(message).toMatchObject({ operation: 'backup', result: 'SUCCESS', exitCode: 0 });
    expect((message['snapshot'] as { id: string }).id).toBe(summaryValue(r, 'SNAPSHOT_ID'));
  });

  it('repeats the backup on the same cache (`/bin/bash -c entry.sh`, DIRECTION=source)', async () => {
    const r = await pod('backup-2', 'source', 'bash', {
      env: { ...IDENTITY, DATA_DIR: '/data' },
      volumes: [[at('cache-src'), '/cache'], [at('data'), '/data']],
    });
    expectOutcome(r, 0);
    expect(JSON.parse(r.terminationMessage)).toMatchObject({ operation: 'backup', result: 'SUCCESS', exitCode: 0 });
    const snapshots = await kopiaInImage(at('repo'), PASSWORD, 'kopia snapshot list --all --json');
    const list = JSON.parse(snapshots.stdout) as Array<{ source: { userName: string; host: string; path: string } }>;
    expect(list.map((s) => `${s.source.userName}@${s.source.host}:${s.source.path}`)).toEqual([
      'app-backup@ns1:/data',
      'app-backup@ns1:/data',
    ]);
  });
});

describe('a restore pod', () => {
  it('restores into /restore/data, a volume inside the /restore emptyDir, identical to the source', async () => {
    const r = await pod('restore-emptydir', 'destination', 'args', {
      env: { ...IDENTITY, DATA_DIR: '/restore/data' },
      volumes: [[volume(at('cache-dst')), '/cache'], [volume(at('restore-emptydir')), '/restore'], [volume(at('restored')), '/restore/data']],
    });
    expectOutcome(r, 0);
    expect(JSON.parse(r.terminationMessage)).toMatchObject({ operation: 'restore', result: 'SUCCESS', exitCode: 0 });
    expect(describeTree(at('restored'))).toEqual(source);
  });

  it('restores into /data directly, whose parent is the read-only root, identical to the source', async () => {
    // kopia 0.22.3 removes `<target>.kopia-entry` beside the target when it finishes; on a read-only
    // parent that removal fails with EROFS after every file was restored.
    const r = await pod('restore-data', 'destination', 'bash', {
      env: { ...IDENTITY, DATA_DIR: '/data' },
      volumes: [[volume(at('cache-dst-2')), '/cache'], [volume(at('restored-2')), '/data']],
    });
    expect(describeTree(at('restored-2'))).toEqual(source);
    expectOutcome(r, 0);
  });
});

describe('a maintenance pod', () => {
  it('claims ownership as maintenance@volsync and runs maintenance (`/bin/bash -c entry.sh`)', async () => {
    const r = await pod('maintenance', 'maintenance', 'bash', {
      volumes: [[volume(at('cache-maint')), '/cache']],
    });
    expectOutcome(r, 0);
    expect(summaryValue(r, 'MAINTENANCE_STATUS')).toBe('SUCCESS');
    expect(JSON.parse(r.terminationMessage)).toMatchObject({ operation: 'maintenance', result: 'SUCCESS', exitCode: 0 });
    const info = await kopiaInImage(at('repo'), PASSWORD, 'kopia maintenance info --json');
    expect(info.code, info.stderr).toBe(0);
    expect((JSON.parse(info.stdout) as { owner: string }).owner).toBe('maintenance@volsync');
  });
});

describe('the identity without overrides', () => {
  it('is kopia-mover@<pod hostname> (the image entrypoint, DIRECTION=source)', async () => {
    const r = await pod('identity', 'source', 'image', {
      env: { DATA_DIR: '/data' },
      hostname: 'mover-pod-7x2k9',
      volumes: [[volume(at('cache-identity')), '/cache'], [at('data'), '/data']],
    });
    expectOutcome(r, 0);
    const snapshots = await kopiaInImage(at('repo'), PASSWORD, 'kopia snapshot list --all --json');
    const list = JSON.parse(snapshots.stdout) as Array<{ source: { userName: string; host: string; path: string } }>;
    expect(list.map((s) => `${s.source.userName}@${s.source.host}:${s.source.path}`)).toContain(
      'kopia-mover@mover-pod-7x2k9:/data',
    );
  });
});

describe('the output of every pod', () => {
  it('never holds the repository password', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(5);
    for (const r of outputs) {
      expect(r.stdout).not.toContain(PASSWORD);
      expect(r.stderr).not.toContain(PASSWORD);
      expect(r.terminationMessage).not.toContain(PASSWORD);
    }
  });
});
