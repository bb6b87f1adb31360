/**
 * What the pod tests hold every run to, and the tools they compare data with.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { realKopia } from '../support/fixtures.js';
import { IMAGE_GID, IMAGE_UID, POD_BUCKET, POD_S3_ACCESS_KEY, POD_S3_SECRET_KEY, type Cluster, type PodResult, type PodSpec } from '../support/pod.js';

// ---------------------------------------------------------------------------
// Trees

export interface TreeOptions {
  /** Also record uid:gid of every entry. */
  owners?: boolean;
  /** Also record modification times (to prove a folder was left untouched). */
  mtimes?: boolean;
  /** Leave out entries (and everything under a left-out directory) for which this is true. */
  exclude?: (relative: string, isDirectory: boolean) => boolean;
}

/** Every entry below root (root itself excluded): type, permission bits, content hash or link target. */
export function describeTree(root: string, options: TreeOptions = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const st = lstatSync(full);
      if (options.exclude?.(rel, st.isDirectory())) continue;
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      const owner = options.owners ? ` ${st.uid}:${st.gid}` : '';
      const mtime = options.mtimes && !st.isSymbolicLink() ? ` @${st.mtimeMs}` : '';
      if (st.isSymbolicLink()) out[rel] = `link -> ${readlinkSync(full)}${owner}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${mode}${owner}${mtime}`;
        walk(full);
      } else if (st.isFile()) {
        out[rel] = `file ${mode}${owner}${mtime} ${st.size} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`;
      } else out[rel] = `other ${st.mode.toString(8)}`;
    }
  };
  walk(root);
  return out;
}

/** Regular files and their total size in a described tree (what a restore's "<n> files, <n> bytes" counts). */
export function fileTotals(tree: Record<string, string>): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of Object.values(tree)) {
    const m = /^file \d+(?: \d+:\d+)? (\d+) /.exec(entry);
    if (m) {
      files++;
      bytes += Number(m[1]);
    }
  }
  return { files, bytes };
}

/**
 * The ignore rules of the pods' global-policy.json (`*.log`, `*.tmp`, `.cache/`, `node_modules/`,
 * gitignore-style: at any depth, the `/` ones for directories) and of `--ignore=*.log`.
 */
export function excludedByAppPolicy(relative: string, isDirectory: boolean): boolean {
  const name = path.basename(relative);
  if (name.endsWith('.log') || name.endsWith('.tmp')) return true;
  return isDirectory && (name === '.cache' || name === 'node_modules');
}

export function chownTree(root: string, uid = IMAGE_UID, gid = IMAGE_GID): void {
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) {
      spawnSync('chown', ['-h', `${uid}:${gid}`, p]);
      return;
    }
    chownSync(p, uid, gid);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(path.join(p, e));
  };
  walk(root);
}

// ---------------------------------------------------------------------------
// What the controller reads

/** The controller's restore filter (controller README): the only restore log lines it keeps. */
export function controllerRestoreFilter(log: string): string[] {
  return log.split('\n').filter((line) => {
    const lower = line.toLowerCase();
    if (lower.includes('error') || lower.includes('failed') || lower.includes('unable to')) return true;
    if (line.includes('=== Discovery Mode') || line.includes('Available Snapshots') || line.includes('No snapshots found')) return true;
    if (/^\S+@\S+:\S*\s+\d{4}-\d{2}-\d{2}/.test(line)) return true;
    if (line.includes('"userName"') && line.includes('"hostName"')) return true;
    return ['Snapshot created successfully', 'Snapshot restore completed', 'Repository connected', 'No eligible snapshots'].some((w) =>
      line.includes(w),
    );
  });
}

/** What the controller keeps of a log: the last 1024 bytes. */
export function controllerTail(log: string): string {
  const bytes = Buffer.from(log);
  return bytes.subarray(Math.max(0, bytes.length - 1024)).toString('utf8');
}

/** The controller's discovery parse of a failed/empty restore's (filtered) lines. */
export function controllerDiscovery(lines: string[]): { missing?: string; snapshots: { id: string; userName: string; hostName: string; startTime?: string }[] } {
  let missing: string | undefined;
  const snapshots: { id: string; userName: string; hostName: string; startTime?: string }[] = [];
  for (const line of lines) {
    const m = /No snapshots found for (\S+)/.exec(line);
    if (m) missing = m[1];
    if (line.startsWith('{')) {
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (typeof o['id'] === 'string' && typeof o['userName'] === 'string' && typeof o['hostName'] === 'string') {
          snapshots.push({ id: o['id'], userName: o['userName'], hostName: o['hostName'], startTime: o['startTime'] as string | undefined });
        }
      } catch {
        // not an object line
      }
    }
  }
  return { missing, snapshots };
}

/** Plain (non-JSON) lines of a run: the controller-facing ones. */
export function plainLines(result: PodResult): string[] {
  return result.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('{"level"'));
}

/** The summary block's `KEY: value` lines. */
export function summaryField(result: PodResult, key: string): string | undefined {
  const lines = plainLines(result);
  const start = lines.lastIndexOf('=== OPERATION SUMMARY ===');
  if (start < 0) return undefined;
  const line = lines.slice(start).find((l) => l.startsWith(`${key}: `));
  return line?.slice(key.length + 2);
}

export function summaryBlock(result: PodResult): string[] {
  const lines = plainLines(result);
  const start = lines.lastIndexOf('=== OPERATION SUMMARY ===');
  return start < 0 ? [] : lines.slice(start);
}

// ---------------------------------------------------------------------------
// Checks every run gets

/** Variables whose values are credentials: none may show up in anything the pod printed. */
export const SECRET_VARIABLES = [
  'KOPIA_PASSWORD',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AZURE_ACCOUNT_KEY',
  'AZURE_STORAGE_KEY',
  'KOPIA_AZURE_STORAGE_KEY',
  'AZURE_ACCOUNT_SAS',
  'AZURE_STORAGE_SAS_TOKEN',
  'B2_APPLICATION_KEY',
  'WEBDAV_PASSWORD',
  'SFTP_PASSWORD',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'GOOGLE_DRIVE_CREDENTIALS',
];

/**
 * What kopia may find in its environment: basics, the proxy variables, what the program sets
 * for kopia on purpose, and the credentials kopia's backends read. Nothing else of the pod's env.
 */
export const KOPIA_ENV_ALLOWED = new Set([
  'PATH', 'HOME', 'TMPDIR', 'USER', 'LANG', 'LANGUAGE', 'LC_ALL', 'TZ', 'SSL_CERT_FILE', 'SSL_CERT_DIR',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy',
  'KOPIA_PASSWORD', 'KOPIA_CHECK_FOR_UPDATES', 'KOPIA_PERSIST_CREDENTIALS_ON_CONNECT', 'KOPIA_USE_KEYRING',
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
  'AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_KEY', 'AZURE_STORAGE_SAS_TOKEN',
  'B2_KEY_ID', 'B2_KEY',
  'KOPIA_WEBDAV_USERNAME', 'KOPIA_WEBDAV_PASSWORD',
  'GOOGLE_APPLICATION_CREDENTIALS', 'RCLONE_CONFIG',
]);

/** Pod variables that must never reach kopia (kopia reads several KOPIA_* names as flag defaults). */
export const KOPIA_ENV_FORBIDDEN = [
  'KOPIA_CONFIG_PATH', 'KOPIA_ADDITIONAL_ARGS', 'DATA_DIR', 'DIRECTION', 'KOPIA_GLOBAL_POLICY_FILE',
  'KOPIA_REPOSITORY_CONFIG_FILE', 'KOPIA_CACHE_DIR', 'KOPIA_REPOSITORY', 'KOPIA_PARALLELISM',
  'KOPIA_OVERRIDE_USERNAME', 'KOPIA_OVERRIDE_HOSTNAME', 'KOPIA_BIN', 'KOPIA_MOVER_HOME', 'NODE_ENV',
];

export function secretsOf(result: PodResult): string[] {
  return SECRET_VARIABLES.map((n) => result.env[n]).filter((v): v is string => v !== undefined && v.length >= 4);
}

/** Files below a folder whose bytes contain any of the values. */
function filesHolding(root: string, values: string[]): string[] {
  const hits: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      const st = lstatSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isFile()) {
        const data = readFileSync(full);
        if (values.some((v) => data.includes(v))) hits.push(path.relative(root, full));
      }
    }
  };
  walk(root);
  return hits;
}

/**
 * The contract every pod run keeps, success or failure:
 * - no secret of the pod's env in its stdout, stderr, termination message or any kopia argv;
 * - the last 1024 bytes of the log (what the controller stores) hold OPERATION_RESULT and EXIT_CODE,
 *   and EXIT_CODE and the termination message agree with the exit code;
 * - kopia's environment holds nothing of the pod's env it should not see, and no kopia process
 *   gets a flag twice;
 * - the cache volume holds no credential after the run.
 */
export function checkEveryRun(result: PodResult): void {
  const where = `pod ${result.name}`;
  const secrets = secretsOf(result);
  expect.soft(secrets.length, `${where}: the pod has credentials to check for`).toBeGreaterThan(0);
  const places: [string, string][] = [
    ['stdout', result.stdout],
    ['stderr', result.stderr],
    ['termination message', result.terminationMessage],
    ...result.kopiaCalls.map((c, i): [string, string] => [`argv of kopia process ${i + 1}`, c.argv.join(' ')]),
  ];
  for (const [label, text] of places) {
    for (const secret of secrets) {
      expect.soft(text.includes(secret), `${where}: a secret value appears in the ${label}`).toBe(false);
    }
  }

  const tail = controllerTail(result.log);
  expect.soft(tail, `${where}: the last 1024 bytes of the log lack OPERATION_RESULT:`).toContain('OPERATION_RESULT:');
  expect.soft(tail, `${where}: the last 1024 bytes of the log lack EXIT_CODE:`).toContain('EXIT_CODE:');
  expect.soft(summaryField(result, 'EXIT_CODE'), `${where}: EXIT_CODE line`).toBe(String(result.exitCode));
  let termination: Record<string, unknown> = {};
  expect.soft(() => (termination = JSON.parse(result.terminationMessage) as Record<string, unknown>), `${where}: termination message is JSON`).not.toThrow();
  expect.soft(termination['exitCode'], `${where}: termination message exit code`).toBe(result.exitCode);

  // One check per kind of problem, listing every kopia process it concerns.
  const forbidden: string[] = [];
  const unexpected: string[] = [];
  const proxyLost: string[] = [];
  const repeated: string[] = [];
  for (const call of result.kopiaCalls) {
    const label = `kopia ${call.argv.slice(0, 2).join(' ')}`;
    // kopia refuses a single-value flag given twice ("flag 'parallel' cannot be repeated").
    const flags = call.argv.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!);
    for (const flag of new Set(flags)) if (flags.filter((f) => f === flag).length > 1) repeated.push(`${label}: ${flag}`);
    const names = Object.keys(call.env);
    for (const name of KOPIA_ENV_FORBIDDEN) if (names.includes(name)) forbidden.push(`${label}: ${name}`);
    for (const name of names) if (!KOPIA_ENV_ALLOWED.has(name) && !name.startsWith('LC_')) unexpected.push(`${label}: ${name}`);
    // What the controller gives for a cluster-wide proxy reaches kopia unchanged.
    for (const proxy of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy']) {
      if (result.env[proxy] !== undefined && call.env[proxy] !== result.env[proxy]) proxyLost.push(`${label}: ${proxy}`);
    }
  }
  expect.soft(forbidden, `${where}: pod variables that must never reach kopia`).toEqual([]);
  expect.soft(unexpected, `${where}: variables kopia should not see`).toEqual([]);
  expect.soft(proxyLost, `${where}: proxy variables of the pod missing from (or changed in) kopia's environment`).toEqual([]);
  expect.soft(repeated, `${where}: flags given twice to one kopia process`).toEqual([]);

  const cache = result.volumes['/cache'];
  if (cache) expect.soft(filesHolding(cache, secrets), `${where}: files on the cache volume holding a credential`).toEqual([]);
}

/**
 * A successful run: exit 0 and SUCCESS (or the test stops here), and the `Repository connected`
 * line. Controller-facing lines are soft checks throughout: a missing line fails the test but
 * does not stop the data checks after it.
 */
export function checkSuccess(result: PodResult): void {
  expect(result.exitCode, `${result.name} exit code; log:\n${result.log}`).toBe(0);
  expect(summaryField(result, 'OPERATION_RESULT'), result.name).toBe('SUCCESS');
  expect.soft(plainLines(result), `${result.name}: the controller-facing "Repository connected" line`).toContain('Repository connected');
}

/** A backup's snapshot id, from the controller-facing line (and the summary, which must agree). */
export function backupSnapshotId(result: PodResult): string {
  const id = summaryField(result, 'SNAPSHOT_ID');
  expect(id, `${result.name}: SNAPSHOT_ID`).toMatch(/^[0-9a-f]{16,}$/);
  expect.soft(plainLines(result), `${result.name}: the controller-facing success line`).toContain(`Snapshot created successfully: ${id}`);
  return id!;
}

/** A successful restore as the controller sees it: the filtered log keeps the completion line with id and totals. */
export function checkRestoreLines(result: PodResult, snapshotId: string, expected: Record<string, string>): void {
  const kept = controllerRestoreFilter(result.log);
  const { files, bytes } = fileTotals(expected);
  expect.soft(kept, `${result.name}: restore lines the controller keeps`).toContain(
    `Snapshot restore completed: ${snapshotId}, ${files} files, ${bytes} bytes`,
  );
  expect.soft(kept, `${result.name}: restore lines the controller keeps`).toContain('Repository connected');
  expect.soft(summaryField(result, 'RESTORED_SNAPSHOT_ID'), result.name).toBe(snapshotId);
}

/** Plain kopia's argv flags named `--name` (either `--name=v` or `--name v`), with their values. */
export function flagValues(argv: string[], name: string): string[] {
  const values: string[] = [];
  argv.forEach((arg, i) => {
    if (arg === `--${name}`) values.push(argv[i + 1] ?? '');
    else if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3));
  });
  return values;
}

// ---------------------------------------------------------------------------
// Looking at a repository from outside the pods

export type RepositoryRef = { kind: 's3'; prefix: string; password: string } | { kind: 'filesystem'; folder: string; password: string };

/**
 * Runs the real kopia on the host, connected read-only (so nothing is written into a repository
 * the pods use) and as the image user (a filesystem repository stays theirs), and returns stdout.
 */
export function hostKopia(cluster: Cluster, repo: RepositoryRef, args: string[]): string {
  const dir = mkdtempSync(path.join(cluster.dir, 'host-kopia-'));
  chownSync(dir, IMAGE_UID, IMAGE_GID);
  const common = [`--config-file=${dir}/kopia.config`, `--log-dir=${dir}/logs`];
  const env = {
    PATH: '/usr/bin:/bin',
    HOME: dir,
    KOPIA_PASSWORD: repo.password,
    KOPIA_CHECK_FOR_UPDATES: 'false',
    AWS_ACCESS_KEY_ID: POD_S3_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: POD_S3_SECRET_KEY,
  };
  const run = (argv: string[]) => {
    const r = spawnSync('setpriv', [`--reuid=${IMAGE_UID}`, `--regid=${IMAGE_GID}`, '--clear-groups', realKopia, ...argv, ...common], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kopia ${argv.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  try {
    // MinIO's own folder is private to root; the image user reads a copy of the CA.
    if (cluster.caPem) writeFileSync(path.join(dir, 'ca.pem'), cluster.caPem, { mode: 0o644 });
    const target =
      repo.kind === 's3'
        ? ['s3', `--bucket=${POD_BUCKET}`, `--prefix=${repo.prefix}`, `--endpoint=127.0.0.1:${new URL(cluster.s3!.url).port}`, `--root-ca-pem-path=${dir}/ca.pem`]
        : ['filesystem', `--path=${repo.folder}`];
    run(['repository', 'connect', ...target, '--readonly', '--no-persist-credentials', `--cache-directory=${dir}/cache`]);
    return run(args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function maintenanceOwner(cluster: Cluster, repo: RepositoryRef): string {
  return (JSON.parse(hostKopia(cluster, repo, ['maintenance', 'info', '--json'])) as { owner?: string }).owner ?? '';
}

/** The pod spec's env value (as recorded, before any test change). */
export function specEnv(spec: PodSpec, name: string): string | undefined {
  return spec.env.find(([k]) => k === name)?.[1];
}
