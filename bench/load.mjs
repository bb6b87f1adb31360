// `npm run bench -- --load`: many tenants, one repository. N identities back up into one MinIO
// repository at the same time from an empty bucket; change 10% of each tree and back up again
// while maintenance runs (started first, so its GC overlaps the writers); every identity restores
// into an empty directory and the result is compared byte for byte; a fresh connection then runs
// `kopia snapshot verify --verify-files-percent=100` and lists the snapshots. See docs/performance.md.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { readShimLog, runMeasured, stopOnSignals, writeShim } from './measure.mjs';
import { benchFlags } from './options.mjs';
import { loadServers, repoRoot } from './servers.mjs';

const KOPIA = join(repoRoot, 'tools', 'bin', 'kopia');
const MINIO = join(repoRoot, 'tools', 'bin', 'minio');
const IMAGE_ENTRY = join(repoRoot, 'docker', 'entry.sh');
const PASSWORD = 'kopia-mover load password';
const BUCKET = 'load';
const PREFIX = 'tenants';
// VolSync mounts every tenant's volume at /data: identities tell the snapshots apart.
const SOURCE_PATH = '/data';

function readOptions(argv, env) {
  const known = ['load', 'identities', 'files', 'change-percent', 'dir', 'results', 'timeout'];
  const { pick, int } = benchFlags(argv, env, known, ' with --load');
  const dir = resolve(pick('dir', 'BENCH_DIR') ?? join(repoRoot, '.bench-data'));
  return {
    identities: int(pick('identities', 'BENCH_LOAD_IDENTITIES'), 'BENCH_LOAD_IDENTITIES', 8),
    files: int(pick('files', 'BENCH_LOAD_FILES'), 'BENCH_LOAD_FILES', 2000),
    changePercent: int(pick('change-percent', 'BENCH_LOAD_CHANGE_PERCENT'), 'BENCH_LOAD_CHANGE_PERCENT', 10, 0),
    dir,
    results: resolve(pick('results', 'BENCH_LOAD_RESULTS') ?? join(dir, 'load-results.json')),
    timeoutMs: int(pick('timeout', 'BENCH_RUN_TIMEOUT_SECONDS'), 'BENCH_RUN_TIMEOUT_SECONDS', 600) * 1000,
  };
}

export function preflight() {
  for (const [file, hint] of [[KOPIA, 'bash scripts/install-kopia.sh'], [MINIO, 'bash scripts/install-test-servers.sh']]) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      throw new Error(`${file} not found: run \`${hint}\``);
    }
  }
  if (!existsSync(join(repoRoot, 'dist', 'kopia-mover.mjs'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does it)');
  const version = spawnSync(KOPIA, ['--version'], { encoding: 'utf8' }).stdout?.split(/\s/)[0] ?? '';
  return version;
}

// ---------------------------------------------------------------------------
// Data: per identity, `files` files of 1-8 KB of random bytes in directories of 100.

export function makeTree(dir, files, seed) {
  rmSync(dir, { recursive: true, force: true });
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.bin`), randomBytes(1024 + ((i * 7919 + seed) % 7168)));
  }
}

/** Rewrites every (100/percent)th file with new random content of a new size. */
export function changeTree(dir, files, percent) {
  if (percent === 0) return 0;
  const step = Math.max(1, Math.round(100 / percent));
  let changed = 0;
  for (let i = 0; i < files; i += step) {
    writeFileSync(join(dir, `d${Math.floor(i / 100)}`, `f${i}.bin`), randomBytes(512 + ((i * 104729) % 7680)));
    changed++;
  }
  return changed;
}

export function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Byte-for-byte comparison of two trees: missing, extra and differing files. */
export function compareTrees(expectedDir, actualDir) {
  const expected = listFiles(expectedDir);
  const actual = existsSync(actualDir) ? listFiles(actualDir) : [];
  const actualSet = new Set(actual);
  const expectedSet = new Set(expected);
  const missing = expected.filter((f) => !actualSet.has(f));
  const extra = actual.filter((f) => !expectedSet.has(f));
  const differing = expected.filter((f) => actualSet.has(f) && !readFileSync(join(expectedDir, f)).equals(readFileSync(join(actualDir, f))));
  return { files: expected.length, missing: missing.length, extra: extra.length, differing: differing.length, same: missing.length + extra.length + differing.length === 0 };
}

// ---------------------------------------------------------------------------
// Movers: the real program as the image starts it, one cache dir per identity and role.

export function moverSpec(ctx, op, run) {
  const env = {
    PATH: process.env.PATH,
    HOME: ctx.home,
    TMPDIR: run.tmp,
    KOPIA_PASSWORD: PASSWORD,
    KOPIA_REPOSITORY: `s3://${BUCKET}/${PREFIX}`,
    KOPIA_S3_ENDPOINT: ctx.server.url,
    AWS_ACCESS_KEY_ID: ctx.server.accessKey,
    AWS_SECRET_ACCESS_KEY: ctx.server.secretKey,
    KOPIA_CACHE_DIR: run.cache,
    KOPIA_BIN: run.shim,
    KOPIA_MOVER_HOME: repoRoot,
    KOPIA_MOVER_LOG_FORMAT: 'json',
    KOPIA_MOVER_TERMINATION_LOG: run.termination,
    KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG: join(run.dir, 'no-legacy-repository.config'),
    // Settings of the benchmark that uses these movers (the soak's retention and cache limits).
    ...ctx.moverEnv,
  };
  if (op !== 'maintenance') {
    Object.assign(env, {
      DATA_DIR: run.data,
      KOPIA_SOURCE_PATH_OVERRIDE: SOURCE_PATH,
      KOPIA_OVERRIDE_USERNAME: run.user,
      KOPIA_OVERRIDE_HOSTNAME: run.host,
    });
  }
  if (op === 'restore') env.KOPIA_ENABLE_FILE_DELETION = 'true';
  return { command: IMAGE_ENTRY, args: [op], env, pollRss: true };
}

let runCounter = 0;
const slug = (label) => label.replace(/[^a-z0-9]+/gi, '-');

export async function runMover(ctx, op, identity, { cache, data, label, tmp }) {
  const dir = join(ctx.work, 'runs', `${slug(label)}-${identity.name}-${runCounter++}`);
  mkdirSync(dir, { recursive: true });
  const run = {
    dir,
    // A TMPDIR kept from run to run (the soak's) shows what runs leave behind.
    tmp: tmp ?? join(dir, 'tmp'),
    cache,
    data,
    user: identity.user,
    host: identity.host,
    shim: join(dir, 'kopia'),
    shimLog: join(dir, 'kopia-calls.log'),
    termination: join(dir, 'termination-log'),
  };
  mkdirSync(run.tmp, { recursive: true });
  writeFileSync(run.termination, '');
  writeShim(run.shim, run.shimLog, KOPIA);
  const spec = moverSpec(ctx, op, run);
  const started = Date.now();
  const result = await runMeasured({ ...spec, cwd: dir, shimLog: run.shimLog, timeoutMs: ctx.options.timeoutMs });
  let summary;
  try {
    summary = JSON.parse(readFileSync(run.termination, 'utf8'));
  } catch {
    summary = undefined;
  }
  const failure = result.stdout.split('\n').filter((l) => /^(FAILURE_REASON|FAILURE_CLASS|MAINTENANCE_FAILURE_REASON):/.test(l));
  return {
    identity: identity.name,
    op,
    label,
    startMs: started - ctx.started,
    wallMs: Math.round(result.wallMs),
    exitCode: result.exitCode,
    kopiaProcesses: result.kopiaProcesses,
    kopiaCommands: result.kopiaCommands.map(shortCommand),
    kopiaStartsMs: readShimLog(run.shimLog).map((c) => Math.round(c.timeMs - ctx.started)),
    peakRssMb: result.peakRssKb === null ? null : Math.round(result.peakRssKb / 102.4) / 10,
    snapshotId: summary?.snapshot?.id ?? summary?.restoredSnapshot?.id,
    failure: failure.join(' | ') || (result.exitCode !== 0 ? (summary?.reason ?? result.stderr.slice(-300)) : undefined),
    tail: result.exitCode !== 0 ? result.stdout.slice(-3000) : undefined,
  };
}

function shortCommand(argv) {
  const words = argv.split(' ');
  const verb = words.filter((w) => !w.startsWith('-')).slice(0, 2).join(' ');
  return words.includes('--full') ? `${verb} --full` : verb;
}

// ---------------------------------------------------------------------------
// A fresh look at the repository with bare kopia: its own config file and cache dir.

export function freshKopia(ctx) {
  const dir = join(ctx.work, `fresh-${runCounter++}`);
  mkdirSync(dir, { recursive: true });
  const env = {
    PATH: process.env.PATH,
    HOME: ctx.home,
    KOPIA_PASSWORD: PASSWORD,
    KOPIA_CHECK_FOR_UPDATES: 'false',
    AWS_ACCESS_KEY_ID: ctx.server.accessKey,
    AWS_SECRET_ACCESS_KEY: ctx.server.secretKey,
  };
  const k = (args) =>
    spawnSync(KOPIA, [...args, `--config-file=${join(dir, 'kopia.config')}`, `--log-dir=${join(dir, 'logs')}`], {
      env,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
  const connect = k(['repository', 'connect', 's3', `--bucket=${BUCKET}`, `--prefix=${PREFIX}/`, `--endpoint=${ctx.server.endpoint}`, '--disable-tls',
    `--cache-directory=${join(dir, 'cache')}`, '--no-persist-credentials', '--override-username=load-check', '--override-hostname=bench']);
  return { connect, k };
}

const lastLine = (text) => text.trim().split('\n').filter(Boolean).at(-1) ?? '';

// ---------------------------------------------------------------------------

function table(rows) {
  const lines = [
    '| phase | identity | wall s | exit | kopia processes | peak RSS MB | snapshot |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.label} | ${r.identity} | ${(r.wallMs / 1000).toFixed(2)} | ${r.exitCode} | ${r.kopiaProcesses} | ${r.peakRssMb ?? '-'} | ${r.snapshotId ? r.snapshotId.slice(0, 12) : '-'} |`);
  }
  return lines.join('\n');
}

function phaseSummary(label, rows, wallMs) {
  const ok = rows.filter((r) => r.exitCode === 0).length;
  const exits = [...new Set(rows.map((r) => r.exitCode))].sort((a, b) => a - b).join(',');
  const procs = rows.map((r) => r.kopiaProcesses);
  const rss = rows.map((r) => r.peakRssMb).filter((x) => x !== null);
  return {
    label,
    movers: rows.length,
    exit0: ok,
    exitCodes: exits,
    wallMs: Math.round(wallMs),
    moverWallMs: { min: Math.min(...rows.map((r) => r.wallMs)), max: Math.max(...rows.map((r) => r.wallMs)) },
    kopiaProcesses: { min: Math.min(...procs), max: Math.max(...procs), total: procs.reduce((a, b) => a + b, 0) },
    peakRssMb: rss.length ? Math.max(...rss) : null,
  };
}

export async function main(argv = process.argv.slice(2)) {
  stopOnSignals('bench --load');
  const options = readOptions(argv, process.env);
  const kopiaVersion = preflight();
  const work = join(options.dir, 'load');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'home'), { recursive: true });
  const ctx = { options, work, home: join(work, 'home'), started: Date.now() };
  const identities = Array.from({ length: options.identities }, (_, i) => ({
    name: `t${i + 1}`,
    user: `tenant${i + 1}`,
    host: `ns${i + 1}`,
    data: join(work, 'data', `t${i + 1}`),
    backupCache: join(work, 'cache', `backup-t${i + 1}`),
    restoreCache: join(work, 'cache', `restore-t${i + 1}`),
    restoreDir: join(work, 'restore', `t${i + 1}`),
  }));
  const log = (s) => process.stderr.write(`bench --load: ${s}\n`);
  let t = Date.now();
  for (const [i, id] of identities.entries()) makeTree(id.data, options.files, i * 131);
  log(`${options.identities} trees of ${options.files} files generated in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  const servers = await loadServers();
  ctx.server = await servers.startS3Server();
  const problems = [];
  const phases = [];
  const rows = [];
  const phase = async (label, what, fn) => {
    log(`${label}: ${what}`);
    const start = Date.now();
    const out = await fn();
    const wall = Date.now() - start;
    rows.push(...out);
    const s = phaseSummary(label, out, wall);
    phases.push({ ...s, what });
    for (const r of out) {
      if (r.exitCode !== 0) problems.push(`${label} ${r.identity} (${r.op}) exited ${r.exitCode}: ${r.failure ?? ''}`.trim());
    }
    log(`${label}: ${s.exit0}/${s.movers} exit 0 (exit codes ${s.exitCodes}) in ${(wall / 1000).toFixed(1)} s`);
    return out;
  };
  let final = {};
  try {
    await ctx.server.createBucket(BUCKET);

    // 1. Every identity's first backup at once, into an empty bucket.
    const first = await phase('1 first backup', `${options.identities} backups at once into an empty bucket`, () =>
      Promise.all(identities.map((id) => runMover(ctx, 'backup', id, { cache: id.backupCache, data: id.data, label: '1 first backup' }))));

    // 2. 10% changed, maintenance started first, then every identity backs up again.
    const changed = identities.map((id) => changeTree(id.data, options.files, options.changePercent));
    const maintenanceIdentity = { name: 'maintenance', user: 'maintenance', host: 'volsync' };
    const second = await phase('2 backup + maintenance', `${changed[0]} files changed per identity; maintenance started first, then ${options.identities} backups`, async () => {
      const maintenance = runMover(ctx, 'maintenance', maintenanceIdentity, { cache: join(work, 'cache', 'maintenance'), label: '2 backup + maintenance' });
      // Start the writers when maintenance starts its quick cycle: their start-up and upload then
      // span the full cycle that follows, whose snapshot GC runs first (at most 60 s of waiting).
      let done = false;
      maintenance.finally(() => (done = true));
      const deadline = Date.now() + 60_000;
      const maintenanceLog = () => readdirSync(join(work, 'runs')).find((d) => d.startsWith(`${slug('2 backup + maintenance')}-maintenance-`));
      while (Date.now() < deadline && !done) {
        const d = maintenanceLog();
        if (d && readShimLog(join(work, 'runs', d, 'kopia-calls.log')).some((c) => c.argv.startsWith('maintenance run'))) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const backups = identities.map((id) => runMover(ctx, 'backup', id, { cache: id.backupCache, data: id.data, label: '2 backup + maintenance' }));
      return Promise.all([maintenance, ...backups]);
    });

    // 3. Every identity restores its newest snapshot into an empty directory, at once.
    const restores = await phase('3 restore', `${options.identities} restores at once, each with an empty cache`, () =>
      Promise.all(identities.map((id) => {
        rmSync(id.restoreDir, { recursive: true, force: true });
        mkdirSync(id.restoreDir, { recursive: true });
        return runMover(ctx, 'restore', id, { cache: id.restoreCache, data: id.restoreDir, label: '3 restore' });
      })));
    const comparisons = identities.map((id) => ({ identity: id.name, ...compareTrees(id.data, id.restoreDir) }));
    for (const c of comparisons) {
      if (!c.same) problems.push(`restore of ${c.identity} differs from its source: ${c.missing} missing, ${c.extra} extra, ${c.differing} differing of ${c.files}`);
    }
    const secondBackups = second.filter((r) => r.op === 'backup');
    for (const r of restores) {
      const expected = secondBackups.find((b) => b.identity === r.identity)?.snapshotId;
      if (r.exitCode === 0 && expected && r.snapshotId !== expected) problems.push(`${r.identity} restored ${r.snapshotId}, not its newest snapshot ${expected}`);
    }

    // 4. A fresh connection: every reported snapshot is there, and every file verifies.
    log('4 verify: fresh connect, snapshot list, snapshot verify --verify-files-percent=100');
    const fresh = freshKopia(ctx);
    final = { connect: fresh.connect.status === 0 ? 'ok' : `exit ${fresh.connect.status}: ${lastLine(fresh.connect.stderr)}` };
    if (fresh.connect.status !== 0) {
      problems.push(`a fresh connect cannot open the repository: ${lastLine(fresh.connect.stderr)}`);
    } else {
      const status = fresh.k(['repository', 'status', '--json']);
      final.uniqueID = status.status === 0 ? JSON.parse(status.stdout).uniqueIDHex : undefined;
      const list = fresh.k(['snapshot', 'list', '--all', '--json']);
      const snapshots = list.status === 0 ? JSON.parse(list.stdout) : [];
      if (list.status !== 0) problems.push(`snapshot list failed: ${lastLine(list.stderr)}`);
      final.snapshots = snapshots.map((s) => ({ id: s.id, source: `${s.source.userName}@${s.source.host}:${s.source.path}`, startTime: s.startTime, files: s.rootEntry?.summ?.files }));
      const listed = new Set(snapshots.map((s) => s.id));
      for (const r of [...first, ...secondBackups]) {
        if (r.exitCode === 0 && r.snapshotId && !listed.has(r.snapshotId)) problems.push(`lost snapshot: ${r.identity} reported ${r.snapshotId} (${r.label}), the repository does not list it`);
      }
      const t0 = Date.now();
      const verify = fresh.k(['snapshot', 'verify', '--verify-files-percent=100']);
      final.verify = { exitCode: verify.status, seconds: Math.round((Date.now() - t0) / 100) / 10, last: lastLine(verify.stderr) };
      if (verify.status !== 0) problems.push(`snapshot verify exited ${verify.status}: ${lastLine(verify.stderr)}`);
      const info = fresh.k(['maintenance', 'info', '--json']);
      final.maintenanceOwner = info.status === 0 ? JSON.parse(info.stdout).owner : `error: ${lastLine(info.stderr)}`;
    }
    final.comparisons = comparisons;
  } finally {
    await ctx.server.stop();
  }

  const totalSeconds = Math.round((Date.now() - ctx.started) / 1000);
  const machine = {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    kopia: kopiaVersion,
    kopiaMover: spawnSync('git', ['-C', repoRoot, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout?.trim() || 'unknown',
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  const report = { machine, options: { identities: options.identities, files: options.files, changePercent: options.changePercent }, totalSeconds, phases, runs: rows, final, problems };

  console.log(`\nkopia-mover load benchmark, ${machine.date}, ${machine.nproc} CPUs, kopia ${machine.kopia}, node ${machine.node}, ${machine.kopiaMover}`);
  console.log(`${options.identities} identities x ${options.files} files, one MinIO repository; movers started as the image starts them (docker/entry.sh)\n`);
  console.log('| phase | movers | exit 0 | exit codes | phase wall s | mover wall s (min-max) | kopia processes per mover (min-max, total) | max peak RSS MB |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const p of phases) {
    console.log(`| ${p.label} | ${p.movers} | ${p.exit0} | ${p.exitCodes} | ${(p.wallMs / 1000).toFixed(1)} | ${(p.moverWallMs.min / 1000).toFixed(1)}-${(p.moverWallMs.max / 1000).toFixed(1)} | ${p.kopiaProcesses.min}-${p.kopiaProcesses.max}, ${p.kopiaProcesses.total} | ${p.peakRssMb ?? '-'} |`);
  }
  console.log(`\n${table(rows)}`);
  const maint = rows.find((r) => r.op === 'maintenance');
  if (maint) {
    const writers = rows.filter((r) => r.label === maint.label && r.op === 'backup');
    const full = maint.kopiaCommands.findIndex((c) => c === 'maintenance run --full');
    const fullStart = full >= 0 ? maint.kopiaStartsMs[full] : undefined;
    const maintEnd = maint.startMs + maint.wallMs;
    // Each writer's `snapshot create` runs from its start to the writer's end (it is the last kopia process).
    const creates = writers
      .map((w) => ({ start: w.kopiaStartsMs[w.kopiaCommands.indexOf('snapshot create')], end: w.startMs + w.wallMs }))
      .filter((c) => c.start !== undefined);
    const overlapping = fullStart === undefined ? 0 : creates.filter((c) => c.start < maintEnd && c.end > fullStart).length;
    const sec = (ms) => (ms / 1000).toFixed(1);
    console.log(`\nmaintenance: ${maint.kopiaCommands.join(', ')}; ran ${sec(maint.startMs)}-${sec(maintEnd)} s` +
      (fullStart !== undefined ? `, full cycle ${sec(fullStart)}-${sec(maintEnd)} s` : '') +
      `; the backups' snapshot create ran ${sec(Math.min(...creates.map((c) => c.start)))}-${sec(Math.max(...creates.map((c) => c.end)))} s,` +
      ` ${overlapping} of ${writers.length} while the full cycle ran (times since the benchmark started)`);
    report.maintenanceOverlap = { fullStartMs: fullStart, endMs: maintEnd, writersDuringFullCycle: overlapping, writers: writers.length };
  }
  const firstRun = rows.find((r) => r.label === '1 first backup' && r.exitCode === 0) ?? rows[0];
  if (firstRun) console.log(`kopia commands of ${firstRun.identity}'s first backup: ${firstRun.kopiaCommands.join(', ')}`);
  console.log(`\nfresh connect: ${final.connect ?? '-'}${final.uniqueID ? ` (unique ID ${final.uniqueID.slice(0, 16)}...)` : ''}`);
  if (final.verify) console.log(`snapshot verify --verify-files-percent=100: exit ${final.verify.exitCode} in ${final.verify.seconds} s: ${final.verify.last}`);
  if (final.maintenanceOwner) console.log(`maintenance owner: ${final.maintenanceOwner}`);
  if (final.comparisons) console.log(`restores byte-identical: ${final.comparisons.filter((c) => c.same).length}/${final.comparisons.length}`);
  if (final.snapshots) {
    console.log(`snapshots (${final.snapshots.length}):`);
    for (const s of final.snapshots) console.log(`  ${s.id}  ${s.source}  ${s.startTime}  ${s.files ?? '?'} files`);
  }
  for (const r of rows.filter((x) => x.exitCode !== 0)) {
    console.log(`\n--- ${r.label} ${r.identity} exit ${r.exitCode}: kopia ${r.kopiaCommands.join(', ')}\n${(r.tail ?? '').split('\n').filter((l) => !l.startsWith('{')).slice(-14).join('\n')}`);
  }
  mkdirSync(dirname(options.results), { recursive: true });
  writeFileSync(options.results, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nresults: ${options.results} (${totalSeconds} s)`);
  if (problems.length) {
    console.log(`\nFAILED (${problems.length}):`);
    for (const p of problems) console.log(`  ${p}`);
    process.exitCode = 1;
  } else {
    console.log('\nall checks passed: every mover exited 0, no snapshot lost, every restore byte-identical, verify clean');
  }
}
