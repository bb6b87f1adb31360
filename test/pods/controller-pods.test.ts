/**
 * Every pod the VolSync controller builds (test/pods/specs, the controller's job builders' own
 * output), run for real by test/support/pod.ts: backups, then each restore from its matching
 * backup compared byte for byte, then maintenance. The tests run in order and share one
 * "cluster": a MinIO over TLS with a private CA, and PVC folders by claim name.
 *
 * Snapshots of alice@prod-cluster:/data, oldest first: src-full (tree A), src-noargs (tree B),
 * src-args (tree C); so dst-app-restore (KOPIA_PREVIOUS=1) must get B, dst-app-restore-latest C.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPod, loadRawJob, podEnv, runPod, specFiles, startCluster, type Cluster, type PodResult, type PodSpec } from '../support/pod.js';
import {
  backupSnapshotId,
  checkEveryRun,
  checkRestoreLines,
  checkSuccess,
  chownTree,
  controllerDiscovery,
  controllerRestoreFilter,
  controllerTail,
  describeTree,
  excludedByAppPolicy,
  flagValues,
  hostKopia,
  maintenanceOwner,
  plainLines,
  specEnv,
  summaryField,
  type RepositoryRef,
} from './checks.js';

// ---------------------------------------------------------------------------
// Test data

function put(root: string, rel: string, content: string | Buffer, mode = 0o644): void {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

/** Tree A: modes, symlinks (relative, absolute, dangling), odd names, a large file, and files the app policy ignores. */
function writeTreeA(root: string): void {
  put(root, 'README.md', '# app data, version A\n');
  put(root, 'config/app.yaml', 'replicas: 1\n', 0o640);
  put(root, 'config/secret.key', randomBytes(64), 0o600);
  put(root, 'bin/run.sh', '#!/bin/sh\necho run\n', 0o755);
  put(root, 'empty', '');
  put(root, 'big.bin', randomBytes(3 * 1024 * 1024));
  put(root, 'nested/a/b/deep.txt', 'deep\n', 0o444);
  put(root, 'private/notes.txt', 'only mine\n', 0o600);
  put(root, 'with space/données été.txt', 'unicode name\n');
  symlinkSync('nested/a/b/deep.txt', path.join(root, 'link-to-deep'));
  symlinkSync('/data/README.md', path.join(root, 'absolute-link'));
  symlinkSync('does/not/exist', path.join(root, 'dangling'));
  // What both the pods' global policy and the --ignore=*.log of src-full and src-args leave out.
  // (The policy's other rules get a test of their own.)
  put(root, 'app.log', 'a log line\n');
  put(root, 'nested/a/debug.log', 'debug\n');
  chmodSync(path.join(root, 'config'), 0o750);
  chmodSync(path.join(root, 'private'), 0o700);
}

/** Tree B: A changed, with entries that C no longer has. */
function changeToTreeB(root: string): void {
  put(root, 'README.md', '# app data, version B\n');
  put(root, 'config/app.yaml', 'replicas: 2\n', 0o640);
  rmSync(path.join(root, 'big.bin'));
  put(root, 'only-in-b.txt', 'B only\n');
  put(root, 'only-in-b-dir/x.txt', 'B only, in a folder\n');
  put(root, 'app.log', 'another log line\n');
}

/** Tree C: B changed; B's own entries gone, a new large file, a mode change. */
function changeToTreeC(root: string): void {
  put(root, 'README.md', '# app data, version C\n');
  rmSync(path.join(root, 'only-in-b.txt'));
  rmSync(path.join(root, 'only-in-b-dir'), { recursive: true });
  put(root, 'only-in-c.txt', 'C only\n');
  put(root, 'big.bin', randomBytes(1024 * 1024 + 17));
  chmodSync(path.join(root, 'bin/run.sh'), 0o700);
  put(root, 'private/notes.txt', 'only mine, changed\n', 0o600);
}

/** A database volume: 0700 folders, 0600 files, a relative symlink between folders. */
function writeDbTree(root: string): void {
  put(root, 'pgdata/PG_VERSION', '16\n', 0o600);
  put(root, 'pgdata/base/1/1259', randomBytes(256 * 1024), 0o600);
  put(root, 'pgdata/postmaster.opts', '/usr/lib/postgresql/16/bin/postgres\n', 0o600);
  put(root, 'wal/000000010000000000000001', randomBytes(1024 * 1024), 0o600);
  symlinkSync('../wal', path.join(root, 'pgdata/pg_wal'));
  for (const dir of ['pgdata', 'pgdata/base', 'pgdata/base/1', 'wal']) chmodSync(path.join(root, dir), 0o700);
}

/** The restore PVC's content as the comparison sees it: owners included (the unprivileged mover's). */
const tree = (root: string, exclude?: (rel: string, isDir: boolean) => boolean) => describeTree(root, { owners: true, exclude });

// ---------------------------------------------------------------------------

const S3_REPO: RepositoryRef = { kind: 's3', prefix: 'team-a/app/', password: specEnv(loadPod('src-full'), 'KOPIA_PASSWORD')! };

describe('every pod the VolSync controller builds', () => {
  let cluster: Cluster;
  /** Snapshot ids and the trees they must hold, by backup pod. */
  const backups: Record<string, { id: string; tree: Record<string, string> }> = {};
  const s3SnapshotIds: string[] = [];

  const run = async (spec: PodSpec, name: string, options: Parameters<typeof runPod>[2] = {}) => {
    const result = await runPod(cluster, spec, { name, ...options });
    checkEveryRun(result);
    return result;
  };

  beforeAll(async () => {
    cluster = await startCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('has all 16 pod files: 14 resolved pods and the raw output of the two KopiaMaintenance pods', () => {
    expect(specFiles()).toEqual([
      'dst-app-restore',
      'dst-app-restore-latest',
      'dst-db-restore',
      'dst-fs-restore',
      'dst-ghost-restore',
      'maint-crd-fs',
      'maint-crd-fs.raw',
      'maint-crd-s3',
      'maint-crd-s3.raw',
      'maint-legacy-app-backup',
      'maint-legacy-fs-backup',
      'src-args',
      'src-db',
      'src-fs',
      'src-full',
      'src-noargs',
    ]);
  });

  it.each(['maint-crd-fs', 'maint-crd-s3'])('%s.raw.json describes the same container as the resolved pod', (name) => {
    const resolved = loadPod(name);
    const job = loadRawJob(name);
    const spec = job.podTemplate.spec;
    expect(spec.containers).toHaveLength(1);
    const container = spec.containers[0]!;
    expect(container.command ?? null).toEqual(resolved.command);
    expect(container.args ?? null).toEqual(resolved.args);
    expect(container.securityContext).toEqual(resolved.securityContext);
    expect(spec.securityContext).toEqual(resolved.podSecurityContext);
    expect(spec.restartPolicy).toBe(resolved.restartPolicy);
    expect(job.backoffLimit).toBe(resolved.backoffLimit);
    // Mounts: same paths, read-only flags and volume kinds; projected items under the same names.
    const mounts = container.volumeMounts.map((m) => {
      const volume = spec.volumes.find((v) => v.name === m.name)!;
      const kind = volume.emptyDir ? 'emptyDir' : volume.persistentVolumeClaim ? 'pvc' : volume.configMap ? 'configMap' : 'secret';
      const source = volume.persistentVolumeClaim?.claimName ?? volume.configMap?.name ?? volume.secret?.secretName;
      const items = (volume.configMap?.items ?? volume.secret?.items)?.map((i) => i.path);
      return { name: m.name, mountPath: m.mountPath, readOnly: m.readOnly ?? false, kind, source, items };
    });
    expect(mounts).toEqual(
      resolved.mounts.map((m) => ({
        name: m.name,
        mountPath: m.mountPath,
        readOnly: m.readOnly,
        kind: m.kind,
        source: m.source,
        items: m.files?.map((f) => f.path),
      })),
    );
    // Env: the container's own variables by name and value, in order, after the Secret's (envFrom) keys.
    const own = (container.env ?? []).map((e) => [e.name, e.value]);
    expect(resolved.env.slice(resolved.env.length - own.length)).toEqual(own);
    expect(container.envFrom).toEqual(resolved.rawEnvFrom);
    const fromSecret = resolved.env.slice(0, resolved.env.length - own.length).map(([k]) => k);
    expect(fromSecret.length).toBeGreaterThan(0);
    expect(fromSecret).toContain('KOPIA_PASSWORD');
    expect(fromSecret).toContain('KOPIA_REPOSITORY');
  });

  // -------------------------------------------------------------------------
  // Backups

  it('src-fs backs up the app volume into the filesystem repository, every file kept', async () => {
    const data = cluster.pvc('app-data');
    writeTreeA(data);
    chownTree(data);
    const expected = tree(data);
    const result = await run(loadPod('src-fs'), 'src-fs');
    checkSuccess(result);
    backups['src-fs'] = { id: backupSnapshotId(result), tree: expected };
    expect(existsSync(path.join(cluster.pvc('repo-pvc'), 'kopia.repository.f'))).toBe(true);
  });

  it('src-full backs up tree A; --parallel=4 from KOPIA_ADDITIONAL_ARGS wins over KOPIA_PARALLELISM=2, once, with a warning', async () => {
    const data = cluster.pvc('app-data');
    const expected = tree(data, excludedByAppPolicy);
    const result = await run(loadPod('src-full'), 'src-full');
    checkSuccess(result);
    expect(result.stdout).toContain('BEFORE_ACTION_RAN');
    expect(result.stdout).toContain('AFTER_ACTION_RAN');
    const create = result.kopiaCalls.find((c) => c.argv[0] === 'snapshot' && c.argv[1] === 'create');
    expect(create, 'a snapshot create call').toBeDefined();
    expect(flagValues(create!.argv, 'parallel')).toEqual(['4']);
    const warnings = result.stdout.split('\n').filter((l) => (l.includes('"level":40') || l.startsWith('WARNING:')) && /parallel/.test(l));
    expect(warnings.join('\n'), 'a warning naming the --parallel value used').toMatch(/4/);
    // The additional args belong to snapshot create only.
    for (const call of result.kopiaCalls.filter((c) => c.argv[0] === 'repository')) expect(call.argv.join(' ')).not.toContain('--parallel');
    backups['src-full'] = { id: backupSnapshotId(result), tree: expected };
    s3SnapshotIds.push(backups['src-full'].id);
  });

  it('src-db backs up the database volume under KOPIA_SOURCE_PATH_OVERRIDE', async () => {
    const data = cluster.pvc('db-data');
    writeDbTree(data);
    chownTree(data);
    const expected = tree(data);
    const result = await run(loadPod('src-db'), 'src-db');
    checkSuccess(result);
    backups['src-db'] = { id: backupSnapshotId(result), tree: expected };
    s3SnapshotIds.push(backups['src-db'].id);
  });

  it('src-noargs backs up tree B', async () => {
    const data = cluster.pvc('app-data');
    changeToTreeB(data);
    chownTree(data);
    const expected = tree(data, excludedByAppPolicy);
    const result = await run(loadPod('src-noargs'), 'src-noargs');
    checkSuccess(result);
    expect(result.stdout).toContain('BEFORE_ACTION_RAN');
    expect(result.stdout).toContain('AFTER_ACTION_RAN');
    backups['src-noargs'] = { id: backupSnapshotId(result), tree: expected };
    s3SnapshotIds.push(backups['src-noargs'].id);
  });

  it('src-args backs up tree C, its additional args applied to the snapshot only', async () => {
    const data = cluster.pvc('app-data');
    changeToTreeC(data);
    chownTree(data);
    const expected = tree(data, excludedByAppPolicy);
    const result = await run(loadPod('src-args'), 'src-args');
    checkSuccess(result);
    expect(result.stdout).toContain('BEFORE_ACTION_RAN');
    const create = result.kopiaCalls.find((c) => c.argv[0] === 'snapshot' && c.argv[1] === 'create');
    expect(flagValues(create!.argv, 'parallel')).toEqual(['2']);
    backups['src-args'] = { id: backupSnapshotId(result), tree: expected };
    s3SnapshotIds.push(backups['src-args'].id);
  });

  it('src-args keeps the global policy\'s ignore rules (*.tmp, .cache/, node_modules/) next to its --ignore=*.log', async () => {
    // Another client name, so the alice@prod-cluster:/data snapshots the restores count stay as they are.
    const data = cluster.pvc('app-data');
    put(data, 'scratch.tmp', 'scratch\n');
    put(data, '.cache/blob', randomBytes(1024));
    put(data, 'node_modules/pkg/index.js', 'module.exports = 1;\n');
    chownTree(data);
    const result = await run(loadPod('src-args'), 'src-args-policy', { env: { KOPIA_OVERRIDE_USERNAME: 'alice-policy' } });
    checkSuccess(result);
    const id = summaryField(result, 'SNAPSHOT_ID')!;
    s3SnapshotIds.push(id);
    // `kopia ls -r` prints `<id>/path`, with a trailing `/` for folders.
    const listed = hostKopia(cluster, S3_REPO, ['ls', '-r', id]).split('\n').filter(Boolean).map((p) => p.replace(`${id}/`, ''));
    expect(listed).toContain('README.md');
    const ignored = listed.filter((p) => {
      const parts = p.replace(/\/$/, '').split('/');
      return parts.some((part, i) => excludedByAppPolicy(part, i < parts.length - 1 || p.endsWith('/')));
    });
    expect(ignored, 'entries the global policy ignores').toEqual([]);
  });

  it('a backup with a wrong password fails with exit 3 before any snapshot, the summary in the last 1024 bytes', async () => {
    const result = await run(loadPod('src-db'), 'src-db-wrong-password', { env: { KOPIA_PASSWORD: 'not the password at all' } });
    expect(result.exitCode, result.log).toBe(3);
    expect(summaryField(result, 'OPERATION_RESULT')).toBe('FAILURE');
    expect(result.kopiaCalls.map((c) => c.argv.slice(0, 2).join(' '))).not.toContain('repository create');
    expect(result.kopiaCalls.map((c) => c.argv.slice(0, 2).join(' '))).not.toContain('snapshot create');
  });

  // -------------------------------------------------------------------------
  // Restores

  const restoreInto = async (spec: string, name: string, backup: string, options: Parameters<typeof runPod>[2] = {}) => {
    const expected = backups[backup];
    expect(expected, `the ${backup} backup this restore needs`).toBeDefined();
    const result = await run(loadPod(spec), name, options);
    checkSuccess(result);
    checkRestoreLines(result, expected!.id, expected!.tree);
    expect(tree(result.volumes['/restore/data']!)).toEqual(expected!.tree);
    return result;
  };

  it('dst-fs-restore restores the src-fs snapshot byte for byte', async () => {
    cluster.resetPvc('restore-pvc');
    await restoreInto('dst-fs-restore', 'dst-fs-restore', 'src-fs');
  });

  it('dst-db-restore restores the src-db snapshot byte for byte', async () => {
    cluster.resetPvc('restore-pvc');
    await restoreInto('dst-db-restore', 'dst-db-restore', 'src-db');
  });

  it('dst-app-restore (KOPIA_PREVIOUS=1) restores the second newest snapshot of alice@prod-cluster:/data (tree B)', async () => {
    cluster.resetPvc('restore-pvc');
    expect(backups['src-noargs']?.tree).not.toEqual(backups['src-args']?.tree);
    await restoreInto('dst-app-restore', 'dst-app-restore', 'src-noargs');
  });

  it('dst-app-restore-latest restores the newest (tree C) over tree B, removing what C lacks', async () => {
    const before = tree(cluster.pvc('restore-pvc'));
    expect(Object.keys(before)).toContain('only-in-b.txt');
    await restoreInto('dst-app-restore-latest', 'dst-app-restore-latest', 'src-args');
  });

  it('dst-app-restore with KOPIA_PREVIOUS=2 restores the oldest, src-full (tree A without what the policy ignores)', async () => {
    cluster.resetPvc('restore-pvc');
    await restoreInto('dst-app-restore', 'dst-app-restore-previous-2', 'src-full', { env: { KOPIA_PREVIOUS: '2' } });
  });

  it('dst-ghost-restore finds no snapshot: exit 0, the discovery block, the data untouched', async () => {
    // A destination that already holds data (dst-ghost-restore does not delete, but must not restore either).
    const data = cluster.resetPvc('restore-pvc');
    writeDbTree(data);
    put(data, 'app.log', 'kept\n');
    chownTree(data);
    const before = describeTree(data, { owners: true, mtimes: true });
    const result = await run(loadPod('dst-ghost-restore'), 'dst-ghost-restore');
    expect(result.exitCode, result.log).toBe(0);
    expect(summaryField(result, 'OPERATION_RESULT')).toBe('SUCCESS');
    const lines = plainLines(result);
    expect(lines).toContain('No snapshots found for ghost-app@ns1:/data');
    expect(lines).toContain('No eligible snapshots found');
    const start = lines.indexOf('=== Discovery Mode: Available Snapshots ===');
    const end = lines.indexOf('=== End Discovery Mode ===');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const listed = lines.slice(start + 1, end).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(listed.map((s) => s['id']).sort()).toEqual([...s3SnapshotIds].sort());
    for (const s of listed) expect(Object.keys(s)).toEqual(expect.arrayContaining(['id', 'userName', 'hostName', 'path', 'startTime']));
    // What the controller keeps and parses from it.
    const kept = controllerRestoreFilter(result.log);
    const discovery = controllerDiscovery(kept);
    expect(discovery.missing).toBe('ghost-app@ns1:/data');
    expect(discovery.snapshots.map((s) => s.id).sort()).toEqual([...s3SnapshotIds].sort());
    expect(kept).toContain('=== Discovery Mode: Available Snapshots ===');
    expect(kept).toContain('No eligible snapshots found');
    expect(describeTree(data, { owners: true, mtimes: true })).toEqual(before);
  });

  it('a backup that fails with a long kopia error still ends with OPERATION_RESULT and EXIT_CODE in the last 1024 bytes', async () => {
    // Files the mover (UID 1000) cannot read: kopia names each one in its error output.
    const data = cluster.pvc('db-data');
    mkdirSync(path.join(data, 'unreadable'));
    chownTree(data);
    for (let i = 0; i < 40; i++) {
      const file = path.join(data, 'unreadable', `table-${String(i).padStart(3, '0')}-${'x'.repeat(80)}.dat`);
      writeFileSync(file, `row ${i}\n`);
      chmodSync(file, 0o600);
    }
    // Another client name, so the db-backup@ns1 snapshots the restores use stay as they are.
    const result = await run(loadPod('src-db'), 'src-db-unreadable', { env: { KOPIA_OVERRIDE_USERNAME: 'db-unreadable' } });
    expect(result.exitCode, result.log).not.toBe(0);
    expect(summaryField(result, 'OPERATION_RESULT')).toBe('FAILURE');
    expect(Buffer.byteLength(result.log), 'a log longer than what the controller keeps').toBeGreaterThan(4096);
    const snapshotId = summaryField(result, 'SNAPSHOT_ID');
    if (snapshotId) s3SnapshotIds.push(snapshotId);
    rmSync(path.join(data, 'unreadable'), { recursive: true });
  });

  it('a restore with a wrong password fails with exit 3, the data untouched, the failure kept by the controller', async () => {
    const data = cluster.pvc('restore-pvc');
    const before = describeTree(data, { owners: true, mtimes: true });
    const result = await run(loadPod('dst-db-restore'), 'dst-db-restore-wrong-password', { env: { KOPIA_PASSWORD: 'not the password at all' } });
    expect(result.exitCode, result.log).toBe(3);
    expect(summaryField(result, 'OPERATION_RESULT')).toBe('FAILURE');
    const kept = controllerRestoreFilter(result.log);
    expect(kept.some((l) => /error|failed|unable to/i.test(l))).toBe(true);
    expect(describeTree(data, { owners: true, mtimes: true })).toEqual(before);
  });

  // -------------------------------------------------------------------------
  // Maintenance

  const fsRepo = (): RepositoryRef => ({ kind: 'filesystem', folder: cluster.pvc('repo-pvc'), password: specEnv(loadPod('src-fs'), 'KOPIA_PASSWORD')! });

  const checkMaintenance = (result: PodResult, repo: RepositoryRef) => {
    checkSuccess(result);
    expect(summaryField(result, 'MAINTENANCE_STATUS')).toBe('SUCCESS');
    expect(result.kopiaCalls.map((c) => c.argv.slice(0, 2).join(' '))).not.toContain('repository create');
    expect(maintenanceOwner(cluster, repo)).toBe('maintenance@volsync');
  };

  it('maint-crd-fs maintains the filesystem repository as maintenance@volsync', async () => {
    const result = await run(loadPod('maint-crd-fs'), 'maint-crd-fs');
    checkMaintenance(result, fsRepo());
  });

  it('maint-crd-s3 maintains the S3 repository, trusting the CA it names KOPIA_CUSTOM_CA', async () => {
    const spec = loadPod('maint-crd-s3');
    expect(podEnv(spec)['CUSTOM_CA']).toBeUndefined();
    const result = await run(spec, 'maint-crd-s3');
    checkMaintenance(result, S3_REPO);
    const connect = result.kopiaCalls.find((c) => c.argv[0] === 'repository' && c.argv[1] === 'connect');
    expect(flagValues(connect!.argv, 'root-ca-pem-path')).toEqual(['/etc/ssl/custom-ca-from-configmap/ca-bundle.crt']);
  });

  it('maint-legacy-app-backup maintains the S3 repository as maintenance@volsync', async () => {
    const result = await run(loadPod('maint-legacy-app-backup'), 'maint-legacy-app-backup');
    checkMaintenance(result, S3_REPO);
  });

  it('maint-legacy-fs-backup (the controller mounts no repository there) fails with exit 3 and says so', async () => {
    const result = await run(loadPod('maint-legacy-fs-backup'), 'maint-legacy-fs-backup');
    expect(result.exitCode, result.log).toBe(3);
    expect(summaryField(result, 'OPERATION_RESULT')).toBe('FAILURE');
    expect(controllerTail(result.log)).toContain('repository volume is not mounted at /mnt/repo');
    expect(result.kopiaCalls.map((c) => c.argv.slice(0, 2).join(' '))).not.toContain('repository create');
    expect(result.log).not.toMatch(/read-only file system/i);
  });

  it('maint-legacy-fs-backup creates nothing at /mnt/repo even where /mnt is writable', async () => {
    const result = await run(loadPod('maint-legacy-fs-backup'), 'maint-legacy-fs-backup-writable-mnt', {
      extraMounts: [{ name: 'writable-mnt', mountPath: '/mnt', readOnly: false, kind: 'emptyDir' }],
    });
    expect(result.exitCode, result.log).toBe(3);
    expect(controllerTail(result.log)).toContain('repository volume is not mounted at /mnt/repo');
    expect(readdirSync(result.volumes['/mnt']!)).toEqual([]);
  });
});
