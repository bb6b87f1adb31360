/**
 * Runs the built image as VolSync's mover pods run it (see the controller's pod specs): read-only
 * root, UID/GID 1000, all capabilities dropped, no privilege escalation, an in-memory /tmp, the
 * pod's volume paths, a file at /dev/termination-log, and no network for a filesystem repository.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const IMAGE = process.env['KOPIA_MOVER_IMAGE'] ?? 'localhost/kopia-mover:dev';
/** The UID/GID the image runs as, and that owns every volume a pod gives it. */
export const MOVER_ID = 1000;

// crun 1.8 (Debian bookworm) refuses a hybrid cgroup host; runc works everywhere. Root here has no
// CAP_SYS_RESOURCE to raise the hard nofile limit to podman's default, so name lower limits.
const PODMAN_GLOBAL = ['--runtime', 'runc'];
const ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=8192:8192'];

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function podmanSync(args: string[], input?: string): Result {
  const r = spawnSync('podman', [...PODMAN_GLOBAL, ...args], { encoding: 'utf8', input, maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

export function podman(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn('podman', [...PODMAN_GLOBAL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 128, stdout, stderr }));
  });
}

/** Fails early, and says what to run, when the image has not been built. */
export function requireImage(): void {
  const r = spawnSync('podman', ['image', 'exists', IMAGE]);
  if (r.error || r.status !== 0) throw new Error(`image ${IMAGE} not found: run \`npm run image\` first`);
}

/** A scratch folder under the OS temp dir, removed by the returned function. */
export function scratch(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A folder owned by the mover's UID, as a PVC or emptyDir is for an unprivileged pod. */
export function volume(path: string): string {
  mkdirSync(path, { recursive: true });
  chownSync(path, MOVER_ID, MOVER_ID);
  return path;
}

/** chown -R to the mover's UID/GID (the host side runs as root). */
export function chownTree(path: string): void {
  const r = spawnSync('chown', ['-hR', `${MOVER_ID}:${MOVER_ID}`, path]);
  if (r.status !== 0) throw new Error(`chown ${path} failed`);
}

export interface PodSpec {
  /** Container name; removed before and after the run. */
  name: string;
  /**
   * How the container is started, as the controller's pods do it:
   *  - 'args': `/mover-kopia/entry.sh backup|restore` (backup and restore Jobs)
   *  - 'bash': `/bin/bash -c /mover-kopia/entry.sh` with DIRECTION (the maintenance CronJob)
   *  - 'image': the image's own entrypoint with DIRECTION, no arguments
   */
  form: 'args' | 'bash' | 'image';
  direction: 'source' | 'destination' | 'maintenance';
  env: Record<string, string>;
  /** host path → container path */
  volumes: Array<[string, string]>;
  /** Extra tmpfs mounts (container paths). /tmp always is one. */
  tmpfs?: string[];
  /** Host file bind-mounted at /dev/termination-log. */
  terminationLog: string;
  hostname?: string;
  /** false: a writable root filesystem (only to tell a layout problem from a read-only one). */
  readOnlyRoot?: boolean;
}

export function podArgs(spec: PodSpec): string[] {
  const args = ['run', '--name', spec.name, ...ULIMITS, '--network', 'none'];
  if (spec.readOnlyRoot !== false) args.push('--read-only', '--read-only-tmpfs=false');
  args.push('--user', `${MOVER_ID}:${MOVER_ID}`, '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges');
  // /tmp is a memory-backed emptyDir: writable, executable.
  args.push('--tmpfs', '/tmp:rw,exec,nosuid,nodev,mode=1777');
  for (const path of spec.tmpfs ?? []) args.push('--tmpfs', `${path}:rw,exec,nosuid,nodev,mode=1777`);
  for (const [host, inside] of spec.volumes) args.push('-v', `${host}:${inside}`);
  args.push('-v', `${spec.terminationLog}:/dev/termination-log`);
  if (spec.hostname) args.push('--hostname', spec.hostname);
  const env = { ...spec.env };
  if (spec.form !== 'args') env['DIRECTION'] = spec.direction;
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  if (spec.form === 'args') {
    const op = spec.direction === 'source' ? 'backup' : spec.direction === 'destination' ? 'restore' : 'maintenance';
    args.push('--entrypoint', '/mover-kopia/entry.sh', IMAGE, op);
  } else if (spec.form === 'bash') {
    args.push('--entrypoint', '/bin/bash', IMAGE, '-c', '/mover-kopia/entry.sh');
  } else {
    args.push(IMAGE);
  }
  return args;
}

export interface PodResult extends Result {
  /** The controller-facing lines (everything that is not a JSON log record). */
  plain: string[];
  records: Array<Record<string, unknown>>;
  /** What the program wrote to /dev/termination-log. */
  terminationMessage: string;
}

export function parseOutput(r: Result, terminationLog: string): PodResult {
  const lines = (r.stdout + '\n' + r.stderr).split('\n').filter((l) => l.trim() !== '');
  const records: Array<Record<string, unknown>> = [];
  const plain: string[] = [];
  for (const line of lines) {
    if (line.startsWith('{')) {
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
        continue;
      } catch {
        // not a log record
      }
    }
    plain.push(line);
  }
  return { ...r, plain, records, terminationMessage: readFileSync(terminationLog, 'utf8') };
}

/** Removes every container this test process started that is still there (a test that timed out). */
export function removePods(): void {
  const r = podmanSync(['ps', '-a', '--format', '{{.Names}}', '--filter', `name=^km-test-.*-${process.pid}$`]);
  const names = r.stdout.split('\n').filter(Boolean);
  if (names.length > 0) podmanSync(['rm', '-f', '-t', '0', ...names]);
}

/** Starts a mover container; `started` resolves with the result when it ends. */
export function startPod(spec: PodSpec): { started: Promise<PodResult> } {
  podmanSync(['rm', '-f', spec.name]);
  writeFileSync(spec.terminationLog, '');
  chmodSync(spec.terminationLog, 0o666);
  const started = podman(podArgs(spec)).then((r) => {
    podmanSync(['rm', '-f', spec.name]);
    return parseOutput(r, spec.terminationLog);
  });
  return { started };
}

export function runPod(spec: PodSpec): Promise<PodResult> {
  return startPod(spec).started;
}

/** The value after `KEY: ` in the summary block. */
export function summaryValue(r: PodResult, key: string): string | undefined {
  const line = r.plain.find((l) => l.startsWith(`${key}: `));
  return line?.slice(key.length + 2);
}

/** The summary block is there, whole, and says what the exit code says. */
export function summaryBlock(r: PodResult): string[] {
  const start = r.plain.indexOf('=== OPERATION SUMMARY ===');
  const end = r.plain.indexOf('=== Done ===');
  if (start < 0 || end < start) return [];
  return r.plain.slice(start, end + 1);
}

/** Runs kopia itself in the image against a filesystem repository at /mnt/repo (read-only root, no network). */
export async function kopiaInImage(repo: string, password: string, script: string): Promise<Result> {
  const args = ['run', '--rm', ...ULIMITS, '--network', 'none', '--read-only', '--read-only-tmpfs=false'];
  args.push('--user', `${MOVER_ID}:${MOVER_ID}`, '--tmpfs', '/tmp:rw,exec,mode=1777', '-v', `${repo}:/mnt/repo`);
  args.push('-e', `KOPIA_PASSWORD=${password}`, '-e', 'KOPIA_CHECK_FOR_UPDATES=false');
  args.push('--entrypoint', '/bin/bash', IMAGE, '-c');
  args.push(
    'set -e; export KOPIA_CONFIG_PATH=/tmp/kopia.config; ' +
      'kopia repository connect filesystem --path=/mnt/repo --cache-directory=/tmp/kopia-cache ' +
      '--override-username=check --override-hostname=check >/dev/null 2>&1; ' +
      script,
  );
  return podman(args);
}

// ---------------------------------------------------------------------------------------------
// Trees: what a restore must reproduce.

export interface Entry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  mtime?: number;
}

/**
 * Every entry below `root` (not root itself): type, permission bits, owner, size, content hash,
 * symlink target, and whole-second modification time for files. (A folder's time is not kept:
 * kopia records a non-empty folder with the newest time found inside it.)
 */
export function describeTree(root: string): Entry[] {
  const out: Entry[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(full);
      const base = { path, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid };
      if (st.isSymbolicLink()) {
        out.push({ ...base, type: 'symlink', target: readlinkSync(full) });
      } else if (st.isDirectory()) {
        out.push({ ...base, type: 'dir' });
        walk(full, path);
      } else if (st.isFile()) {
        const sha256 = createHash('sha256').update(readFileSync(full)).digest('hex');
        out.push({ ...base, type: 'file', size: st.size, sha256, mtime: Math.floor(st.mtimeMs / 1000) });
      } else {
        out.push({ ...base, type: 'other' });
      }
    }
  };
  walk(root, '');
  return out;
}

/**
 * The source tree a mover backs up: text and random files, an empty file and folder, odd names,
 * restrictive and executable modes, relative, absolute and dangling symlinks, old timestamps.
 */
export function makeSourceTree(root: string): void {
  const file = (rel: string, content: string | Buffer, mode = 0o644) => {
    const full = join(root, rel);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, content);
    chmodSync(full, mode);
  };
  for (let i = 0; i < 300; i++) file(`docs/f${i}.txt`, `file ${i} line\n`.repeat((i % 50) + 1));
  file('random.bin', randomBytes(8 << 20));
  file('text.log', 'compressible text line\n'.repeat(200_000));
  file('zero-length', '');
  file('sub/deeper/ünïcødé name.txt', 'hi\n', 0o600);
  file('sub/with space & "quotes".txt', 'quoted\n', 0o640);
  file('bin/run.sh', '#!/bin/sh\necho run\n', 0o755);
  file('read-only.txt', 'frozen\n', 0o444);
  file('private/secret.txt', 'mine\n', 0o600);
  chmodSync(join(root, 'private'), 0o700);
  mkdirSync(join(root, 'empty-dir'));
  chmodSync(join(root, 'empty-dir'), 0o750);
  spawnSync('ln', ['-s', '../random.bin', join(root, 'sub', 'link-to-random')]);
  spawnSync('ln', ['-s', '/etc/hostname', join(root, 'absolute-link')]);
  spawnSync('ln', ['-s', 'nowhere', join(root, 'dangling-link')]);
  spawnSync('touch', ['-h', '-d', '2001-02-03T04:05:06Z', join(root, 'read-only.txt'), join(root, 'docs', 'f7.txt')]);
  chownTree(root);
}

/** Random, incompressible files totalling `mb` MiB, in files of `fileMb` MiB each. */
export function makeBigTree(root: string, mb: number, fileMb = 50): void {
  mkdirSync(root, { recursive: true });
  for (let i = 0; i * fileMb < mb; i++) {
    writeFileSync(join(root, `big${i}.bin`), randomBytes(Math.min(fileMb, mb - i * fileMb) << 20));
  }
  chownTree(root);
}

export function duBytes(path: string): number {
  const r = spawnSync('du', ['-sb', path], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0] ?? 0);
}
