/**
 * PRIVILEGED_MOVER: the controller sets it to 1 when the namespace allows privileged movers and
 * then runs the container as root with DAC_OVERRIDE, CHOWN and FOWNER; otherwise 0 and UID 1000.
 * The filesystem backup and restore pods (src-fs, dst-fs-restore) run both ways over a source
 * whose files belong to several users.
 */
import { chmodSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPod, runPod, startCluster, type Cluster } from '../support/pod.js';
import { backupSnapshotId, checkEveryRun, checkRestoreLines, checkSuccess, chownTree, describeTree, summaryBlock, summaryField } from './checks.js';

const OWNERS_NOTE = 'owners not restored: unprivileged mover';

/** Files, folders and a symlink of several owners and modes, as an app's volume may hold them. */
function writeMultiOwnerTree(root: string): void {
  const entry = (rel: string, uid: number, gid: number, mode: number, content?: string) => {
    const full = path.join(root, rel);
    if (content === undefined) mkdirSync(full, { recursive: true });
    else writeFileSync(full, content);
    lchownSync(full, uid, gid);
    chmodSync(full, mode);
  };
  entry('root-owned.txt', 0, 0, 0o644, 'root\n');
  entry('script.sh', 0, 0, 0o755, '#!/bin/sh\necho hi\n');
  entry('app.conf', 1000, 1000, 0o640, 'app\n');
  entry('other-user.db', 2001, 2002, 0o600, 'private to 2001\n');
  entry('shared', 3000, 100, 0o750);
  entry('shared/report.csv', 3000, 100, 0o664, 'a,b\n1,2\n');
  entry('secret', 2001, 2001, 0o700);
  entry('secret/key', 2001, 2001, 0o400, 'key material\n');
  entry('secret/nested', 2001, 2001, 0o711);
  entry('secret/nested/file', 4000, 4000, 0o644, 'nested\n');
  symlinkSync('app.conf', path.join(root, 'link-to-conf'));
  lchownSync(path.join(root, 'link-to-conf'), 2001, 2002);
}

describe('PRIVILEGED_MOVER with the filesystem backup and restore pods', () => {
  let cluster: Cluster;
  let snapshot: { id: string; tree: Record<string, string> } | undefined;

  beforeAll(async () => {
    cluster = await startCluster({ s3: false });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('src-fs with PRIVILEGED_MOVER=1 backs up files of every owner', async () => {
    const data = cluster.pvc('app-data');
    writeMultiOwnerTree(data);
    const tree = describeTree(data, { owners: true });
    const result = await runPod(cluster, loadPod('src-fs'), { name: 'src-fs-privileged', env: { PRIVILEGED_MOVER: '1' } });
    checkEveryRun(result);
    expect(result.user).toMatchObject({ uid: 0, capabilities: ['chown', 'dac_override', 'fowner'] });
    checkSuccess(result);
    snapshot = { id: backupSnapshotId(result), tree };
    expect(summaryField(result, 'SNAPSHOT_ERRORS')).toBe('0');
  });

  it('dst-fs-restore with PRIVILEGED_MOVER=1 (root, CHOWN/FOWNER) restores owners and modes exactly', async () => {
    expect(snapshot, 'the privileged backup').toBeDefined();
    cluster.resetPvc('restore-pvc');
    const result = await runPod(cluster, loadPod('dst-fs-restore'), { name: 'dst-fs-restore-privileged', env: { PRIVILEGED_MOVER: '1' } });
    checkEveryRun(result);
    checkSuccess(result);
    checkRestoreLines(result, snapshot!.id, snapshot!.tree);
    expect(describeTree(result.volumes['/restore/data']!, { owners: true })).toEqual(snapshot!.tree);
    expect(result.stdout).not.toContain(OWNERS_NOTE);
  });

  it('dst-fs-restore with PRIVILEGED_MOVER=0 (UID 1000) restores every file as its own, and says owners were not restored', async () => {
    expect(snapshot, 'the privileged backup').toBeDefined();
    // The privileged backup wrote the repository as root (kopia's files are 0600). A repository
    // volume that both kinds of mover use must be readable by UID 1000; in a cluster the storage
    // or an fsGroup sees to that, here the test hands the folder over.
    chownTree(cluster.pvc('repo-pvc'));
    cluster.resetPvc('restore-pvc');
    const spec = loadPod('dst-fs-restore');
    expect(spec.env).toContainEqual(['PRIVILEGED_MOVER', '0']);
    const result = await runPod(cluster, spec, { name: 'dst-fs-restore-unprivileged' });
    checkEveryRun(result);
    checkSuccess(result);
    const asMover = Object.fromEntries(
      Object.entries(snapshot!.tree).map(([rel, entry]) => [rel, entry.replace(/ \d+:\d+/, ' 1000:1000')]),
    );
    checkRestoreLines(result, snapshot!.id, asMover);
    expect(describeTree(result.volumes['/restore/data']!, { owners: true })).toEqual(asMover);
    // Said in the summary (and at most once more in the log), not once per file.
    expect(summaryBlock(result).some((l) => l.includes(OWNERS_NOTE)), `the summary block says "${OWNERS_NOTE}"`).toBe(true);
    expect(result.stdout.split('\n').filter((l) => l.includes(OWNERS_NOTE)).length, 'lines with the note').toBeLessThanOrEqual(2);
  });
});
