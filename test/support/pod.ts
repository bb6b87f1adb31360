/**
 * Runs one VolSync mover pod spec for real, the way the kubelet and the image would.
 *
 * A pod spec is one of test/pods/specs/*.json: the container the VolSync controller's own job
 * builders produced (command, args, env, volumes, security contexts). runPod() gives it:
 *
 * - its own mount, PID and UTS namespaces (`unshare -m -p -u --fork`, private propagation), so
 *   nothing it mounts is seen outside and every process it starts dies with it; the network is
 *   the host's, so 127.0.0.1 reaches the test MinIO and proxy;
 * - a constructed root: a tmpfs with the host's /usr bound read-only (/bin, /lib, /lib64, /sbin
 *   are the usual merged-/usr symlinks), /etc as an overlay on the host's /etc (so the pod has
 *   its own /etc/hosts, the image's `node` account for UID 1000, and mount points under
 *   /etc/ssl), a fresh /proc, a /dev tmpfs with the usual device nodes, /sys read-only;
 * - the program laid out as the Dockerfile lays it out: the repo's bin/, dist/ and package.json
 *   at /mover-kopia/app, docker/entry.sh at /mover-kopia/entry.sh (0755), kopia at
 *   /usr/local/bin/kopia on a /usr/local tmpfs of its own (the host's /usr/local is hidden);
 * - the pod's volumes at the pod's mount paths, shallowest first: an emptyDir is a fresh host
 *   folder (mode 0777, as the kubelet makes it) or a tmpfs for `medium: Memory`; a PVC is the
 *   cluster's folder for its `source` name, shared by every pod naming that source; a Secret or
 *   ConfigMap is projected in the kubelet's layout (a `..2026_...` folder, `..data` pointing to
 *   it, each key `key -> ..data/key`, file modes from the spec) and, as the kubelet does for
 *   API data volumes, always mounted read-only; `readOnly` is honoured for the others;
 *   with a pod `fsGroup`, volumes get the kubelet's ownership change (group, g+rw, setgid dirs);
 * - a writable /dev/termination-log; then the root, /etc and /usr/local remounted read-only;
 * - the pod's exact command and args, as UID/GID 1000 with supplementary group 1000 (the pod's
 *   fsGroup, else the image's group) and no capability at all, or with `PRIVILEGED_MOVER=1` in
 *   its env as root with only CHOWN, FOWNER and DAC_OVERRIDE (what the controller grants a
 *   privileged mover); no_new_privs always (allowPrivilegeEscalation: false);
 * - exactly the image's environment (the Dockerfile's ENV plus the base image's PATH and
 *   NODE_VERSION/YARN_VERSION), what every container gets from the runtime (HOSTNAME, the
 *   `kubernetes` service variables), then the pod's env in order, then the test's changes;
 *   nothing of the test process's environment.
 *
 * The test world ("cluster") differs from the recorded one in two places only: the S3 endpoint
 * `127.0.0.1:19311` in any env value becomes the test MinIO (TLS with a private CA; optionally
 * under a host name that the pod's /etc/hosts maps to 127.0.0.1), and every projected file that
 * holds a PEM certificate gets the test CA instead. The bucket `volsync-bucket` exists before any
 * pod runs and MinIO takes the credentials the specs carry.
 *
 * For checks, /usr/local/bin/kopia is a two-line shell wrapper that records each kopia
 * process's argv and environment (from /proc/self, exactly what the program gave it) into a
 * harness folder mounted at /run/pod-harness, then execs the real kopia, which keeps its pid.
 *
 * Needs root (mounts, namespaces, chown), util-linux (`unshare`, `setpriv`, `mount`) and overlayfs.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { constants as osConstants } from 'node:os';
import { realKopia, repoRoot } from './fixtures.js';
import { startS3Server, type S3Server } from './servers.js';

export { repoRoot };
/** Verbatim copies of the controller's pod specs (the builders' output), kept in the repo for CI. */
export const podSpecsDir = path.join(repoRoot, 'test', 'pods', 'specs');

/** The S3 endpoint the specs were recorded with; every env value holding it is pointed at the test MinIO. */
export const RECORDED_S3_ENDPOINT = '127.0.0.1:19311';
/** The bucket of the specs' `s3://volsync-bucket/team-a/app`. */
export const POD_BUCKET = 'volsync-bucket';
/** The S3 credentials the specs' Secret held (test values). */
export const POD_S3_ACCESS_KEY = 'harnessadmin';
export const POD_S3_SECRET_KEY = 'harnesssecret123';
/** The image's user (Dockerfile `USER 1000:1000`). */
export const IMAGE_UID = 1000;
export const IMAGE_GID = 1000;

/** Dockerfile ENV lines, plus what the node:20-bookworm-slim base image sets. */
export const IMAGE_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  NODE_VERSION: process.versions.node,
  YARN_VERSION: '1.22.22',
  KOPIA_BIN: '/usr/local/bin/kopia',
  KOPIA_MOVER_HOME: '/mover-kopia/app',
  NODE_ENV: 'production',
  HOME: '/tmp',
  TMPDIR: '/tmp',
  USER: 'kopia-mover',
};

/** What the container runtime and the kubelet add to every container (service links on). */
function runtimeEnv(hostname: string): Record<string, string> {
  return {
    HOSTNAME: hostname,
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
  };
}

// ---------------------------------------------------------------------------
// Specs

export interface ProjectedFile {
  path: string;
  content: string;
  mode: number;
}

export interface PodMount {
  name: string;
  mountPath: string;
  readOnly: boolean;
  kind: 'emptyDir' | 'pvc' | 'secret' | 'configMap';
  source?: string;
  medium?: string;
  sizeLimit?: string;
  files?: ProjectedFile[];
}

export interface SecurityContext {
  capabilities?: { drop?: string[]; add?: string[] };
  privileged?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
}

export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
}

export interface EnvVarSource {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: { name: string; key: string; optional?: boolean } };
}

export interface PodSpec {
  kind: 'source' | 'destination' | 'maintenance';
  command: string[] | null;
  args: string[] | null;
  rawEnv: EnvVarSource[];
  rawEnvFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
  env: [string, string][];
  mounts: PodMount[];
  securityContext: SecurityContext | null;
  podSecurityContext: PodSecurityContext | null;
  restartPolicy: string;
  backoffLimit: number;
}

/** The builder's raw output of a KopiaMaintenance CronJob (`*.raw.json`). */
export interface RawMaintenanceJob {
  backoffLimit: number;
  podTemplate: {
    spec: {
      volumes: { name: string; emptyDir?: { sizeLimit?: string; medium?: string }; persistentVolumeClaim?: { claimName: string }; configMap?: { name: string; items?: { key: string; path: string }[] }; secret?: { secretName: string; items?: { key: string; path: string }[] } }[];
      containers: {
        name: string;
        command?: string[];
        args?: string[];
        env?: EnvVarSource[];
        envFrom?: { secretRef?: { name: string }; configMapRef?: { name: string } }[];
        volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
        securityContext?: SecurityContext;
      }[];
      restartPolicy: string;
      securityContext?: PodSecurityContext;
    };
  };
}

/** Every spec file name without `.json`: the resolved pods and the two `*.raw` ones. */
export function specFiles(): string[] {
  return readdirSync(podSpecsDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** A resolved pod spec by name (e.g. `src-fs`). */
export function loadPod(name: string): PodSpec {
  return JSON.parse(readFileSync(path.join(podSpecsDir, `${name}.json`), 'utf8')) as PodSpec;
}

export function loadRawJob(name: string): RawMaintenanceJob {
  return JSON.parse(readFileSync(path.join(podSpecsDir, `${name}.raw.json`), 'utf8')) as RawMaintenanceJob;
}

/** The pod's env as the container sees it (Kubernetes: a later entry of the same name wins). */
export function podEnv(spec: PodSpec): Record<string, string> {
  return Object.fromEntries(spec.env);
}

// ---------------------------------------------------------------------------
// Cluster: the storage and the PVC folders pods share

export interface Cluster {
  /** Host folder holding PVCs and per-run state. */
  dir: string;
  s3?: S3Server;
  /** PEM of the CA that signed MinIO's certificate (what projected CA files get). */
  caPem?: string;
  caFile?: string;
  /** Host folder of a PVC by its `source` (claim) name; created on first use, owned by the image user. */
  pvc(source: string): string;
  /** Empties a PVC folder (a fresh volume for the next pod), keeping the folder and its owner. */
  resetPvc(source: string): string;
  /** Host name the pods reach MinIO under, unless a run says otherwise. */
  s3Host: string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Start MinIO over TLS with the specs' credentials and create `volsync-bucket` (default true). */
  s3?: boolean;
  /** Extra names MinIO's certificate is valid for (the pods' /etc/hosts maps each to 127.0.0.1). */
  s3Hostnames?: string[];
  /** Host name pods use for MinIO by default: 127.0.0.1 as recorded, or one of s3Hostnames. */
  s3Host?: string;
}

const liveClusters = new Set<string>();
process.on('exit', () => {
  for (const dir of liveClusters) rmSync(dir, { recursive: true, force: true });
});

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  if (process.getuid?.() !== 0) throw new Error('pod tests need root: they mount, unshare and chown');
  if (!existsSync(realKopia)) throw new Error(`kopia is not installed at ${realKopia}: run \`bash scripts/install-kopia.sh\``);
  if (!existsSync(path.join(repoRoot, 'dist', 'kopia-mover.mjs'))) throw new Error('dist/ is missing: run `npm run build`');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'km-cluster-'));
  liveClusters.add(dir);
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'pvc'));
  mkdirSync(path.join(dir, 'runs'));
  let s3: S3Server | undefined;
  let caPem: string | undefined;
  if (options.s3 ?? true) {
    s3 = await startS3Server({
      tls: true,
      hostnames: options.s3Hostnames,
      accessKey: POD_S3_ACCESS_KEY,
      secretKey: POD_S3_SECRET_KEY,
    });
    caPem = readFileSync(s3.caFile!, 'utf8');
    await s3.createBucket(POD_BUCKET);
  }
  const pvc = (source: string) => {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(source)) throw new Error(`not a claim name: ${source}`);
    const folder = path.join(dir, 'pvc', source);
    if (!existsSync(folder)) {
      mkdirSync(folder, { mode: 0o755 });
      chmodSync(folder, 0o755);
      chownSync(folder, IMAGE_UID, IMAGE_GID);
    }
    return folder;
  };
  let stopped: Promise<void> | undefined;
  return {
    dir,
    s3,
    caPem,
    caFile: s3?.caFile,
    s3Host: options.s3Host ?? '127.0.0.1',
    pvc,
    resetPvc: (source) => {
      const folder = pvc(source);
      for (const entry of readdirSync(folder)) rmSync(path.join(folder, entry), { recursive: true, force: true });
      return folder;
    },
    stop: () =>
      (stopped ??= (async () => {
        await s3?.stop();
        rmSync(dir, { recursive: true, force: true });
        liveClusters.delete(dir);
      })()),
  };
}

// ---------------------------------------------------------------------------
// Running a pod

export interface PodRunOptions {
  /** Label of this run (pod hostname, run folder); defaults to the spec name or `pod`. */
  name?: string;
  /** Env changes on top of the pod's env, as the controller would have made them: a value sets, undefined removes. */
  env?: Record<string, string | undefined>;
  /** Host name for the S3 endpoint in this run (default: the cluster's). */
  s3Host?: string;
  /** Extra /etc/hosts entries (name -> address); `minio.test` -> 127.0.0.1 is always there. */
  hosts?: Record<string, string>;
  /** Mounts added to (or, same mountPath, replacing) the spec's. */
  extraMounts?: PodMount[];
  /** Kill the pod after this long (default 150 s). */
  timeoutMs?: number;
}

export interface KopiaCall {
  pid: number;
  argv: string[];
  env: Record<string, string>;
}

export interface PodResult {
  name: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Both streams in arrival order: what `kubectl logs` (and the controller) reads. */
  log: string;
  /** Raw content of /dev/termination-log after the run. */
  terminationMessage: string;
  /** The container's environment, exactly as given to the pod's command. */
  env: Record<string, string>;
  /** Every kopia process in start order, with its argv and environment. */
  kopiaCalls: KopiaCall[];
  /** Host folder of each PVC and disk emptyDir, by mount path. */
  volumes: Record<string, string>;
  /** Who the pod's command ran as. */
  user: { uid: number; gid: number; groups: number[]; capabilities: string[] };
  durationMs: number;
}

/** Shell single-quoting. */
function q(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The kubelet's ownership change for a pod fsGroup (pkg/volume SetVolumeOwnership, policy Always). */
export function applyFsGroup(root: string, fsGroup: number, readOnly: boolean): void {
  const walk = (p: string) => {
    const st = lstatSync(p);
    lchownSync(p, st.uid, fsGroup);
    if (!st.isSymbolicLink()) {
      let mask = readOnly ? 0o440 : 0o660;
      if (st.isDirectory()) mask |= 0o2000 | 0o110;
      chmodSync(p, (st.mode & 0o7777) | mask);
    }
    if (st.isDirectory()) for (const entry of readdirSync(p)) walk(path.join(p, entry));
  };
  walk(root);
}

/** A Secret/ConfigMap volume in the kubelet's atomic-writer layout. */
function project(folder: string, files: ProjectedFile[], caPem: string | undefined): void {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp =
    `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_` +
    `${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.${randomBytes(4).readUInt32BE()}`;
  mkdirSync(path.join(folder, stamp), { recursive: true, mode: 0o755 });
  const tops = new Set<string>();
  for (const file of files) {
    const content = caPem !== undefined && file.content.includes('-----BEGIN CERTIFICATE-----') ? caPem : file.content;
    const target = path.join(folder, stamp, file.path);
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    writeFileSync(target, content);
    chmodSync(target, file.mode);
    tops.add(file.path.split('/')[0]!);
  }
  symlinkSync(stamp, path.join(folder, '..data'));
  for (const top of tops) symlinkSync(path.join('..data', top), path.join(folder, top));
}

/** The kopia stand-in: records argv and environment of each kopia process, then becomes kopia. */
const KOPIA_WRAPPER = `#!/bin/sh
cat /proc/$$/cmdline > /run/pod-harness/kopia-calls/$$.argv
cat /proc/$$/environ > /run/pod-harness/kopia-calls/$$.env
exec /usr/local/libexec/kopia "$@"
`;

const runCounter = { n: 0 };

export async function runPod(cluster: Cluster, spec: PodSpec, options: PodRunOptions = {}): Promise<PodResult> {
  const name = options.name ?? 'pod';
  const runDir = path.join(cluster.dir, 'runs', `${String(++runCounter.n).padStart(3, '0')}-${name.replace(/[^a-z0-9.-]/gi, '_')}`);
  mkdirSync(runDir, { recursive: true });
  const rootMount = path.join(runDir, 'root');
  const etcScratch = path.join(runDir, 'etc-overlay');
  const harness = path.join(runDir, 'harness');
  const calls = path.join(harness, 'kopia-calls');
  mkdirSync(rootMount);
  mkdirSync(etcScratch);
  mkdirSync(calls, { recursive: true });
  chmodSync(harness, 0o755);
  chmodSync(calls, 0o777);
  const wrapper = path.join(runDir, 'kopia-wrapper.sh');
  writeFileSync(wrapper, KOPIA_WRAPPER, { mode: 0o755 });
  const termination = path.join(runDir, 'termination-log');
  writeFileSync(termination, '');
  chmodSync(termination, 0o666);
  const hostsFile = path.join(runDir, 'hosts');
  const hosts = { 'minio.test': '127.0.0.1', ...(options.hosts ?? {}) };
  writeFileSync(
    hostsFile,
    ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `127.0.1.1\t${name}`, ...Object.entries(hosts).map(([h, a]) => `${a}\t${h}`), ''].join('\n'),
  );

  // The image's accounts: node:20-bookworm-slim has UID and GID 1000 as `node`.
  const accounts = (file: string, line: string) =>
    [...readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && l.split(':')[2] !== '1000' && !l.startsWith('node:')), line, ''].join('\n');
  writeFileSync(path.join(runDir, 'passwd'), accounts('/etc/passwd', 'node:x:1000:1000::/home/node:/bin/bash'));
  writeFileSync(path.join(runDir, 'group'), accounts('/etc/group', 'node:x:1000:'));

  // Environment: image, runtime, pod (in order), then the test's changes.
  const s3Host = options.s3Host ?? cluster.s3Host;
  const s3Endpoint = cluster.s3 ? `${s3Host}:${new URL(cluster.s3.url).port}` : undefined;
  const env: Record<string, string> = { ...IMAGE_ENV, ...runtimeEnv(name) };
  for (const [k, v] of spec.env) env[k] = s3Endpoint ? v.split(RECORDED_S3_ENDPOINT).join(s3Endpoint) : v;
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }

  // Identity: the image user (or the spec's) with the pod's fsGroup, or for a privileged mover
  // root with the three capabilities the controller adds; the kubelet adds fsGroup either way.
  const privileged = env['PRIVILEGED_MOVER'] === '1';
  const fsGroup = spec.podSecurityContext?.fsGroup;
  const uid = privileged ? 0 : (spec.securityContext?.runAsUser ?? spec.podSecurityContext?.runAsUser ?? IMAGE_UID);
  const gid = privileged ? 0 : (spec.securityContext?.runAsGroup ?? spec.podSecurityContext?.runAsGroup ?? IMAGE_GID);
  const groups = fsGroup !== undefined ? [fsGroup] : privileged ? [] : [gid];
  const setpriv = [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups',
    '--inh-caps=-all',
    privileged ? '--bounding-set=-all,+chown,+fowner,+dac_override' : '--bounding-set=-all',
    '--no-new-privs',
  ];

  // Volumes, shallowest mount path first so nested ones land inside their parents.
  const mounts = new Map<string, PodMount>();
  for (const m of [...spec.mounts, ...(options.extraMounts ?? [])]) mounts.set(m.mountPath, m);
  const ordered = [...mounts.values()].sort((a, b) => a.mountPath.split('/').length - b.mountPath.split('/').length);
  const volumes: Record<string, string> = {};
  const script: string[] = [];
  for (const m of ordered) {
    if (!path.isAbsolute(m.mountPath) || m.mountPath.split('/').includes('..')) throw new Error(`bad mount path ${m.mountPath}`);
    const target = `"$R"${q(m.mountPath)}`;
    script.push(`mkdir -p ${target}`);
    if (m.kind === 'emptyDir' && m.medium === 'Memory') {
      script.push(`mount -t tmpfs -o mode=0777,nosuid,nodev tmpfs ${target}`);
      if (fsGroup !== undefined) script.push(`chgrp ${fsGroup} ${target}`, `chmod 2777 ${target}`);
    } else if (m.kind === 'emptyDir' || m.kind === 'pvc') {
      let folder: string;
      if (m.kind === 'emptyDir') {
        folder = path.join(runDir, 'emptydir', m.name);
        mkdirSync(folder, { recursive: true });
        chmodSync(folder, 0o777);
      } else {
        folder = cluster.pvc(m.source ?? m.name);
      }
      if (fsGroup !== undefined) applyFsGroup(folder, fsGroup, m.readOnly);
      volumes[m.mountPath] = folder;
      script.push(`mount --bind ${q(folder)} ${target}`);
      if (m.readOnly) script.push(`mount -o remount,bind,ro ${target}`);
    } else {
      const folder = path.join(runDir, 'projected', m.name);
      mkdirSync(folder, { recursive: true, mode: 0o755 });
      project(folder, m.files ?? [], cluster.caPem);
      if (fsGroup !== undefined) applyFsGroup(folder, fsGroup, true);
      script.push(`mount --bind ${q(folder)} ${target}`, `mount -o remount,bind,ro ${target}`);
    }
  }

  const kopiaReal = realpathSync(realKopia);
  const setup = [
    'set -eu',
    'R="$1"; ETC="$2"; shift 2',
    `hostname ${q(name)}`,
    'mount -t tmpfs -o mode=0755 tmpfs "$R"',
    'cd "$R"',
    'mkdir -p usr etc proc dev sys run mnt opt srv home media var tmp',
    'mkdir -m 0700 root',
    'for l in bin lib lib64 sbin; do ln -s "usr/$l" "$l"; done',
    'mount --bind /usr usr && mount -o remount,bind,ro usr',
    // The image's /usr/local: node's folder in the base image, kopia from the Go stage.
    'mount -t tmpfs -o mode=0755 tmpfs usr/local',
    'mkdir -p usr/local/bin usr/local/sbin usr/local/libexec',
    'ln -s /usr/bin/node usr/local/bin/node',
    `touch usr/local/libexec/kopia && mount --bind ${q(kopiaReal)} usr/local/libexec/kopia`,
    `cp ${q(wrapper)} usr/local/bin/kopia && chmod 0755 usr/local/bin/kopia`,
    // The host's /etc underneath, the pod's own files on top.
    'mount -t tmpfs -o mode=0755 tmpfs "$ETC" && mkdir "$ETC/upper" "$ETC/work"',
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$ETC/upper,workdir=$ETC/work" etc',
    `cp ${q(hostsFile)} etc/hosts && echo ${q(name)} > etc/hostname`,
    `cp ${q(path.join(runDir, 'passwd'))} etc/passwd && cp ${q(path.join(runDir, 'group'))} etc/group`,
    // The program as the Dockerfile copies it: root-owned, read-only to the mover.
    'mkdir -p mover-kopia/app/bin mover-kopia/app/dist',
    `mount --bind ${q(path.join(repoRoot, 'bin'))} mover-kopia/app/bin && mount -o remount,bind,ro mover-kopia/app/bin`,
    `mount --bind ${q(path.join(repoRoot, 'dist'))} mover-kopia/app/dist && mount -o remount,bind,ro mover-kopia/app/dist`,
    `cp ${q(path.join(repoRoot, 'package.json'))} mover-kopia/app/package.json`,
    `cp ${q(path.join(repoRoot, 'docker', 'entry.sh'))} mover-kopia/entry.sh && chmod 0755 mover-kopia/entry.sh`,
    'mount -t proc -o nosuid,nodev,noexec proc proc',
    'mount --bind /sys sys && mount -o remount,bind,ro sys',
    'mount -t tmpfs -o mode=0755,nosuid tmpfs dev',
    'for d in null zero full random urandom tty; do touch "dev/$d"; mount --bind "/dev/$d" "dev/$d"; done',
    'ln -s /proc/self/fd dev/fd && ln -s /proc/self/fd/0 dev/stdin && ln -s /proc/self/fd/1 dev/stdout && ln -s /proc/self/fd/2 dev/stderr',
    'mkdir -m 1777 dev/shm && mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs dev/shm',
    `touch dev/termination-log && mount --bind ${q(termination)} dev/termination-log`,
    'mkdir -p run/pod-harness',
    `mount --bind ${q(harness)} run/pod-harness`,
    ...script,
    'mount -o remount,bind,ro usr/local',
    'mount -o remount,ro etc',
    'mount -o remount,ro "$R"',
    'cd /',
    `exec chroot "$R" /usr/bin/setpriv ${setpriv.join(' ')} -- /usr/bin/env -i "$@"`,
  ].join('\n');

  const command = [...(spec.command ?? []), ...(spec.args ?? [])];
  if (command.length === 0) throw new Error('the pod has no command (the image entrypoint would be /mover-kopia/entry.sh)');
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const argv = [
    '--mount', '--pid', '--uts', '--fork', '--kill-child=SIGKILL', '--propagation', 'private', '--',
    '/bin/sh', '-c', setup, 'pod-setup', rootMount, etcScratch, ...envArgs, ...command,
  ];

  const started = Date.now();
  const child = spawn('unshare', argv, {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let log = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    log += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    log += c;
  });
  const timeout = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 150_000);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1)));
  }).finally(() => clearTimeout(timeout));

  const kopiaCalls: KopiaCall[] = readdirSync(calls)
    .filter((f) => f.endsWith('.argv'))
    .map((f) => Number(f.slice(0, -'.argv'.length)))
    .sort((a, b) => a - b)
    .map((pid) => {
      const split = (file: string) => readFileSync(path.join(calls, file)).toString('utf8').split('\0').slice(0, -1);
      const envFile = `${pid}.env`;
      const callEnv = existsSync(path.join(calls, envFile))
        ? Object.fromEntries(split(envFile).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
        : {};
      // /proc cmdline of a script run by its #! line: the interpreter, the script, then the arguments.
      return { pid, argv: split(`${pid}.argv`).slice(2), env: callEnv };
    });

  return {
    name,
    exitCode,
    stdout,
    stderr,
    log,
    terminationMessage: readFileSync(termination, 'utf8'),
    env,
    kopiaCalls,
    volumes,
    user: { uid, gid, groups, capabilities: privileged ? ['chown', 'dac_override', 'fowner'] : [] },
    durationMs: Date.now() - started,
  };
}
