// `npm run bench -- --soak`: many cycles against one MinIO repository reached through toxiproxy.
// Each cycle changes every tenant's tree and backs all of them up at once; every 5th cycle one
// tenant restores (and is compared byte for byte), every 10th maintenance runs beside the backups;
// in one cycle of every 5 (chosen by the seed) a fault hits the wire while they run: added
// latency, connections reset, or a short outage. At the end a fresh bare kopia, straight to MinIO,
// restores every snapshot a mover reported and compares it with the tree it was taken from, and
// verifies every file; the caches are measured against their limits, and the runs' TMPDIRs and
// the process table are searched for anything left behind. See docs/performance.md.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { changeTree, freshKopia, listFiles, makeTree, preflight, runMover } from './load.mjs';
import { median, stopOnSignals } from './measure.mjs';
import { benchFlags } from './options.mjs';
import { machine } from './run.mjs';
import { loadServers, repoRoot } from './servers.mjs';
import { requireToxiproxy, startToxiproxy } from './toxiproxy.mjs';

const BUCKET = 'load';
const CACHE_LIMIT_MB = 10;
const FAULTS = ['latency', 'reset', 'outage'];

function readOptions(argv, env) {
  const known = ['soak', 'cycles', 'seed', 'tenants', 'files', 'dir', 'results', 'timeout'];
  const { pick, int } = benchFlags(argv, env, known, ' with --soak');
  const dir = resolve(pick('dir', 'BENCH_DIR') ?? join(repoRoot, '.bench-data'));
  return {
    cycles: int(pick('cycles', 'BENCH_SOAK_CYCLES'), 'BENCH_SOAK_CYCLES', 100),
    seed: int(pick('seed', 'BENCH_SOAK_SEED'), 'BENCH_SOAK_SEED', 1, 0),
    tenants: int(pick('tenants', 'BENCH_SOAK_TENANTS'), 'BENCH_SOAK_TENANTS', 8),
    files: int(pick('files', 'BENCH_SOAK_FILES'), 'BENCH_SOAK_FILES', 200),
    dir,
    results: resolve(pick('results', 'BENCH_SOAK_RESULTS') ?? join(dir, 'soak-results.json')),
    timeoutMs: int(pick('timeout', 'BENCH_RUN_TIMEOUT_SECONDS'), 'BENCH_RUN_TIMEOUT_SECONDS', 600) * 1000,
  };
}

/** mulberry32: the same seed gives the same faults in the same cycles. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Per cycle, its fault or none: one cycle of every block of 5, a kind, when it starts and how long it lasts. */
function planFaults(cycles, seed) {
  const rnd = seeded(seed);
  const plan = new Map();
  for (let block = 0; block * 5 < cycles; block++) {
    const cycle = block * 5 + 1 + Math.floor(rnd() * 5);
    const kind = FAULTS[Math.floor(rnd() * FAULTS.length)];
    const fault = { kind, startMs: Math.round(rnd() * 800), durationMs: Math.round(1000 + rnd() * 3000) };
    if (kind === 'latency') fault.delayMs = 50;
    if (kind === 'reset') fault.resetAfterMs = Math.round(100 + rnd() * 700);
    if (cycle <= cycles) plan.set(cycle, fault);
  }
  return plan;
}

async function applyFault(proxy, fault) {
  if (fault.kind === 'latency') await proxy.delay(fault.delayMs);
  else if (fault.kind === 'reset') await proxy.resetPeers(fault.resetAfterMs);
  else await proxy.outage();
}

/** relative path -> sha256 of every file: what a snapshot of the tree must restore to. */
function manifest(dir) {
  const out = {};
  for (const f of listFiles(dir)) out[f] = createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  return out;
}

function sameTree(expected, dir) {
  const actual = existsSync(dir) ? manifest(dir) : {};
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  return [...keys].filter((k) => expected[k] !== actual[k]).length;
}

function sizeMb(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.size / 1024 ** 2;
  return readdirSync(path).reduce((n, e) => n + sizeMb(join(path, e)), 0);
}

/** Processes whose command line or environment names the soak's work dir (kopia's flags do, the mover's TMPDIR does). */
function leftoverProcesses(work) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
    for (const file of ['cmdline', 'environ']) {
      try {
        if (readFileSync(`/proc/${pid}/${file}`, 'utf8').includes(work)) {
          found.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 120)}`);
          break;
        }
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return found;
}

const classOf = (r) => /FAILURE_CLASS: (\S+) \(retryable: (yes|no)\)/.exec(r.failure ?? '');

/** One cycle: every tenant backs up (maintenance beside them every 10th); the fault, if any, hits while they run. */
async function runCycle(ctx, cycle, fault) {
  const { tenants, proxy, problems } = ctx;
  const label = `cycle ${cycle}`;
  const expected = tenants.map((t) => {
    if (cycle > 1) changeTree(t.data, ctx.options.files, 10);
    return manifest(t.data);
  });
  let faultDone = Promise.resolve();
  if (fault) {
    faultDone = (async () => {
      await new Promise((r) => setTimeout(r, fault.startMs));
      await applyFault(proxy, fault);
      await new Promise((r) => setTimeout(r, fault.durationMs));
      await proxy.clear();
    })();
  }
  const runs = tenants.map((t) => runMover(ctx, 'backup', t, { cache: t.cache, data: t.data, tmp: t.tmp, label }));
  if (cycle % 10 === 0) runs.push(runMover(ctx, 'maintenance', ctx.maintenance, { cache: ctx.maintenance.cache, tmp: ctx.maintenance.tmp, label }));
  const rows = await Promise.all(runs);
  await faultDone;
  for (const r of rows) {
    const t = tenants.find((x) => x.name === r.identity);
    r.cycle = cycle;
    r.fault = fault?.kind;
    const cls = classOf(r);
    r.failureClass = cls?.[1];
    if (r.exitCode === 0 && r.op === 'backup') {
      if (!r.snapshotId) problems.push(`${label} ${r.identity}: exit 0 without a snapshot id`);
      else {
        ctx.snapshots.push({ id: r.snapshotId, identity: r.identity, cycle, expected: expected[tenants.indexOf(t)] });
        t.newest = ctx.snapshots.at(-1);
      }
    } else if (r.exitCode !== 0) {
      // Under a fault a run may fail, but only as retryable; without one it must not fail at all.
      if (!fault) problems.push(`${label} ${r.identity} (${r.op}) failed without a fault: exit ${r.exitCode} ${r.failure ?? ''}`);
      else if (cls?.[2] !== 'yes') problems.push(`${label} ${r.identity} (${r.op}) under ${fault.kind} failed non-retryable: exit ${r.exitCode} ${r.failure ?? ''}`);
    }
  }
  if (cycle % 5 === 0) rows.push(await restoreOne(ctx, cycle));
  for (const dir of [...tenants.map((t) => t.tmp), ctx.maintenance.tmp, ctx.restoreTmp]) {
    const left = existsSync(dir) ? readdirSync(dir) : [];
    if (left.length) problems.push(`${label}: ${dir} holds ${left.join(', ')} after the runs`);
  }
  const procs = leftoverProcesses(ctx.work);
  if (procs.length) problems.push(`${label}: processes left: ${procs.join('; ')}`);
  return rows;
}

/** The cycle's tenant restores its newest snapshot into an empty directory; it must be the one reported last, byte for byte. */
async function restoreOne(ctx, cycle) {
  const t = ctx.tenants[(cycle / 5 - 1) % ctx.tenants.length];
  rmSync(t.restoreDir, { recursive: true, force: true });
  mkdirSync(t.restoreDir, { recursive: true });
  const r = await runMover(ctx, 'restore', t, { cache: t.restoreCache, data: t.restoreDir, tmp: ctx.restoreTmp, label: `cycle ${cycle} restore` });
  r.cycle = cycle;
  if (r.exitCode !== 0) ctx.problems.push(`cycle ${cycle} restore of ${t.name} failed: exit ${r.exitCode} ${r.failure ?? ''}`);
  else if (!t.newest) ctx.problems.push(`cycle ${cycle} restore of ${t.name} succeeded, but no backup of it had`);
  else {
    if (r.snapshotId !== t.newest.id) ctx.problems.push(`cycle ${cycle} restore of ${t.name} chose ${r.snapshotId}, not its newest reported ${t.newest.id}`);
    const diff = sameTree(t.newest.expected, t.restoreDir);
    if (diff) ctx.problems.push(`cycle ${cycle} restore of ${t.name}: ${diff} files differ from snapshot ${t.newest.id}`);
    r.identical = diff === 0;
  }
  return r;
}

/** Bare kopia, straight to MinIO: every reported snapshot listed and restored identically, every file verified. */
function finalCheck(ctx, server) {
  const fresh = freshKopia({ ...ctx, server });
  const { problems } = ctx;
  const out = { restored: 0, identical: 0 };
  if (fresh.connect.status !== 0) {
    problems.push(`a fresh connect cannot open the repository: ${fresh.connect.stderr.trim().split('\n').at(-1)}`);
    return out;
  }
  const list = fresh.k(['snapshot', 'list', '--all', '--json']);
  const listed = new Set(list.status === 0 ? JSON.parse(list.stdout).map((s) => s.id) : []);
  out.listed = listed.size;
  const target = join(ctx.work, 'final-restore');
  for (const s of ctx.snapshots) {
    if (!listed.has(s.id)) {
      problems.push(`lost snapshot: ${s.identity} cycle ${s.cycle} reported ${s.id}, the repository does not list it`);
      continue;
    }
    rmSync(target, { recursive: true, force: true });
    const r = fresh.k(['snapshot', 'restore', s.id, target]);
    out.restored++;
    const diff = r.status === 0 ? sameTree(s.expected, target) : -1;
    if (diff === 0) out.identical++;
    else problems.push(`snapshot ${s.id} (${s.identity} cycle ${s.cycle}) ${diff < 0 ? `does not restore: ${r.stderr.trim().split('\n').at(-1)}` : `restores with ${diff} files differing`}`);
  }
  rmSync(target, { recursive: true, force: true });
  const t0 = Date.now();
  const verify = fresh.k(['snapshot', 'verify', '--verify-files-percent=100']);
  out.verify = { exitCode: verify.status, seconds: Math.round((Date.now() - t0) / 100) / 10, last: verify.stderr.trim().split('\n').at(-1) };
  if (verify.status !== 0) problems.push(`snapshot verify exited ${verify.status}: ${out.verify.last}`);
  return out;
}

/** The largest content and metadata cache of any mover, against the limits it was given. */
function cacheCheck(ctx) {
  const caches = [...ctx.tenants.flatMap((t) => [t.cache, t.restoreCache]), ctx.maintenance.cache];
  const max = { contents: 0, metadata: 0, whole: 0 };
  for (const c of caches) {
    max.contents = Math.max(max.contents, sizeMb(join(c, 'contents')));
    max.metadata = Math.max(max.metadata, sizeMb(join(c, 'metadata')));
    max.whole = Math.max(max.whole, sizeMb(c));
  }
  for (const part of ['contents', 'metadata']) {
    if (max[part] > CACHE_LIMIT_MB) ctx.problems.push(`a ${part} cache holds ${max[part].toFixed(1)} MB, over its limit of ${CACHE_LIMIT_MB} MB`);
  }
  return Object.fromEntries(Object.entries(max).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

/** Peak RSS of the backups' Node processes, first fifth of the cycles against the last. */
function rssTrend(ctx, rows) {
  const fifth = Math.max(1, Math.floor(ctx.options.cycles / 5));
  const of = (from, to) => median(rows.filter((r) => r.op === 'backup' && r.cycle > from && r.cycle <= to).map((r) => r.peakRssMb));
  const trend = { firstMb: of(0, fifth), lastMb: of(ctx.options.cycles - fifth, ctx.options.cycles) };
  if (trend.firstMb && trend.lastMb > trend.firstMb * 1.2) ctx.problems.push(`peak RSS grew from ${trend.firstMb} MB to ${trend.lastMb} MB`);
  return trend;
}

function setup(options, work) {
  const tenants = Array.from({ length: options.tenants }, (_, i) => ({
    name: `t${i + 1}`,
    user: `tenant${i + 1}`,
    host: `ns${i + 1}`,
    data: join(work, 'data', `t${i + 1}`),
    cache: join(work, 'cache', `backup-t${i + 1}`),
    restoreCache: join(work, 'cache', `restore-t${i + 1}`),
    restoreDir: join(work, 'restore', `t${i + 1}`),
    tmp: join(work, 'tmp', `t${i + 1}`),
  }));
  tenants.forEach((t, i) => makeTree(t.data, options.files, i * 131 + options.seed));
  const maintenance = { name: 'maintenance', user: 'maintenance', host: 'volsync', cache: join(work, 'cache', 'maintenance'), tmp: join(work, 'tmp', 'maintenance') };
  return { tenants, maintenance, restoreTmp: join(work, 'tmp', 'restore') };
}

export async function main(argv = process.argv.slice(2)) {
  stopOnSignals('bench --soak');
  const options = readOptions(argv, process.env);
  const kopiaVersion = preflight();
  requireToxiproxy();
  const work = join(options.dir, 'soak');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'home'), { recursive: true });
  const log = (s) => process.stderr.write(`bench --soak: ${s}\n`);
  const faults = planFaults(options.cycles, options.seed);
  const ctx = {
    options,
    work,
    home: join(work, 'home'),
    started: Date.now(),
    problems: [],
    snapshots: [],
    // Every snapshot is kept, so every one a mover reported can be restored at the end.
    moverEnv: { KOPIA_RETAIN_LATEST: '1000000', KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB: String(CACHE_LIMIT_MB), KOPIA_METADATA_CACHE_SIZE_LIMIT_MB: String(CACHE_LIMIT_MB) },
    ...setup(options, work),
  };
  const servers = await loadServers();
  const server = await servers.startS3Server();
  let toxiproxy;
  const rows = [];
  let final = {};
  try {
    await server.createBucket(BUCKET);
    toxiproxy = await startToxiproxy(servers);
    ctx.proxy = await toxiproxy.addProxy('minio', server.endpoint);
    ctx.server = { ...server, url: ctx.proxy.url, endpoint: ctx.proxy.endpoint };
    for (let cycle = 1; cycle <= options.cycles; cycle++) {
      const fault = faults.get(cycle);
      const t = Date.now();
      const out = await runCycle(ctx, cycle, fault);
      rows.push(...out);
      const failed = out.filter((r) => r.exitCode !== 0).map((r) => `${r.identity} ${r.op} exit ${r.exitCode} ${r.failureClass ?? ''}`.trim());
      log(`cycle ${cycle}/${options.cycles}${fault ? ` (${fault.kind})` : ''}: ${out.length} runs in ${((Date.now() - t) / 1000).toFixed(1)} s${failed.length ? `; failed: ${failed.join(', ')}` : ''}`);
    }
    log(`final check: ${ctx.snapshots.length} reported snapshots restored by bare kopia and compared, then verify`);
    final = finalCheck(ctx, server);
    final.cacheMaxMb = cacheCheck(ctx);
    final.rss = rssTrend(ctx, rows);
    const procs = leftoverProcesses(work);
    if (procs.length) ctx.problems.push(`processes left at the end: ${procs.join('; ')}`);
  } finally {
    await toxiproxy?.stop();
    await server.stop();
  }
  const summary = summarize(ctx, rows, faults, final, kopiaVersion);
  mkdirSync(dirname(options.results), { recursive: true });
  writeFileSync(options.results, `${JSON.stringify({ ...summary, runs: rows.map(({ tail, ...r }) => r) }, null, 2)}\n`);
  print(summary, options);
  if (ctx.problems.length) process.exitCode = 1;
}

function summarize(ctx, rows, faults, final, kopiaVersion) {
  const count = (pred) => rows.filter(pred).length;
  const byFault = {};
  for (const kind of FAULTS) {
    const under = rows.filter((r) => r.fault === kind);
    byFault[kind] = { cycles: [...faults.values()].filter((f) => f.kind === kind).length, runs: under.length, failed: under.filter((r) => r.exitCode !== 0).length, classes: [...new Set(under.map((r) => r.failureClass).filter(Boolean))] };
  }
  return {
    machine: machine(kopiaVersion),
    options: ctx.options,
    seconds: Math.round((Date.now() - ctx.started) / 1000),
    faults: Object.fromEntries([...faults].map(([c, f]) => [c, f])),
    counts: {
      backups: count((r) => r.op === 'backup'),
      backupsOk: count((r) => r.op === 'backup' && r.exitCode === 0),
      restores: count((r) => r.op === 'restore'),
      restoresIdentical: count((r) => r.op === 'restore' && r.identical),
      maintenance: count((r) => r.op === 'maintenance'),
      maintenanceOk: count((r) => r.op === 'maintenance' && r.exitCode === 0),
      failedWithoutFault: count((r) => r.exitCode !== 0 && !r.fault),
    },
    byFault,
    final,
    problems: ctx.problems,
  };
}

function print(s, options) {
  const c = s.counts;
  console.log(`\nkopia-mover soak, ${s.machine.date}, ${s.machine.nproc} CPUs, kopia ${s.machine.kopia}, ${s.machine.kopiaMover}: ${options.cycles} cycles, seed ${options.seed}, ${options.tenants} tenants x ${options.files} files, ${s.seconds} s`);
  console.log(`backups ${c.backupsOk}/${c.backups} ok; restores ${c.restoresIdentical}/${c.restores} identical; maintenance ${c.maintenanceOk}/${c.maintenance} ok; failures outside a fault cycle: ${c.failedWithoutFault}`);
  for (const [kind, f] of Object.entries(s.byFault)) console.log(`  ${kind}: ${f.cycles} cycles, ${f.failed}/${f.runs} runs failed${f.classes.length ? ` (${f.classes.join(', ')})` : ''}`);
  const fin = s.final;
  console.log(`final: ${fin.restored ?? 0} reported snapshots restored by bare kopia, ${fin.identical ?? 0} identical (${fin.listed ?? '?'} listed); verify exit ${fin.verify?.exitCode} in ${fin.verify?.seconds} s: ${fin.verify?.last}`);
  console.log(`largest cache: contents ${fin.cacheMaxMb?.contents} MB, metadata ${fin.cacheMaxMb?.metadata} MB (limits ${CACHE_LIMIT_MB} MB each), whole dir ${fin.cacheMaxMb?.whole} MB; backup peak RSS median ${fin.rss?.firstMb} MB (first fifth) -> ${fin.rss?.lastMb} MB (last fifth)`);
  console.log(`results: ${options.results}`);
  if (s.problems.length) {
    console.log(`\nFAILED (${s.problems.length}):`);
    for (const p of s.problems) console.log(`  ${p}`);
  } else {
    console.log('\nall checks passed: no failure outside a fault, every failure retryable, every reported snapshot restores identically, verify clean, caches within limits, nothing left behind');
  }
}
