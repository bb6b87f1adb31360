// `npm run bench -- --latency`: the S3 scenarios of bench/run.mjs with MinIO at a distance.
// kopia reaches MinIO through toxiproxy (bench/toxiproxy.mjs), which delays every byte by the
// same time each way; A (kopia-mover), B (the original script's sequence) and C (the fewest kopia
// commands) run in alternation at each delay. What a variant's time grows by from one delay to
// the next, divided by the round trip it added, is how many round trips it waits for one after
// another. See docs/performance.md.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureSmallFiles } from './dataset.mjs';
import { preflight } from './load.mjs';
import { median, stopOnSignals } from './measure.mjs';
import { benchFlags } from './options.mjs';
import { SCENARIOS, createRepository, machine, runScenario, s3Backend } from './run.mjs';
import { loadServers, repoRoot } from './servers.mjs';
import { requireToxiproxy, startToxiproxy } from './toxiproxy.mjs';

const BUCKET = 'latency';
const S3_SCENARIOS = ['backup-empty-cache', 'backup-repeat', 'restore-empty-cache', 'maintenance-empty-cache', 'maintenance-repeat'];
// The issue's targets at the largest delay.
const TARGETS = { 'backup-repeat': 0.35, 'restore-empty-cache': 0.6 };
const FIXED_START_S = 0.1;

function readOptions(argv, env) {
  const known = ['latency', 'rounds', 'delays', 'scenarios', 'dir', 'results', 'timeout', 'entry'];
  const { pick, int } = benchFlags(argv, env, known, ' with --latency');
  const delays = String(pick('delays', 'BENCH_LATENCY_DELAYS_MS') ?? '0,10,40').split(',').map((s) => s.trim());
  for (const d of delays) {
    if (!/^\d+$/.test(d)) throw new Error(`BENCH_LATENCY_DELAYS_MS: ${d} is not a whole number of milliseconds`);
  }
  const scenarios = pick('scenarios', 'BENCH_SCENARIOS')?.split(',').map((s) => s.trim()) ?? S3_SCENARIOS;
  for (const s of scenarios) {
    if (!S3_SCENARIOS.includes(s)) throw new Error(`BENCH_SCENARIOS: unknown ${s} with --latency; known: ${S3_SCENARIOS.join(', ')}`);
  }
  const entry = pick('entry', 'BENCH_ENTRY') ?? 'image';
  if (!['image', 'bin'].includes(entry)) throw new Error(`BENCH_ENTRY must be image or bin, got ${entry}`);
  const dir = resolve(pick('dir', 'BENCH_DIR') ?? join(repoRoot, '.bench-data'));
  return {
    delays: [...new Set(delays.map(Number))].sort((a, b) => a - b),
    scenarios,
    entry,
    rounds: int(pick('rounds', 'BENCH_ROUNDS'), 'BENCH_ROUNDS', 3),
    dir,
    results: resolve(pick('results', 'BENCH_LATENCY_RESULTS') ?? join(dir, 'latency-results.json')),
    timeoutMs: int(pick('timeout', 'BENCH_RUN_TIMEOUT_SECONDS'), 'BENCH_RUN_TIMEOUT_SECONDS', 600) * 1000,
  };
}

/** Median time of an unsigned HTTP request to MinIO through the proxy, on a new connection each. */
async function probeRoundTripMs(url) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const res = await fetch(`${url}/minio/health/live`, { headers: { connection: 'close' } });
    await res.arrayBuffer();
    times.push(performance.now() - t);
  }
  return Math.round(median(times) * 10) / 10;
}

const sec = (ms) => ms / 1000;
const r2 = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);

/**
 * Per scenario and delay: medians, A/B, A−C, and for each variant the round trips it waited
 * for one after another: (time at this delay − time at no delay) / the round trip added.
 */
function analyse(results, delays) {
  const rows = [];
  for (const r of results) {
    const base = results.find((x) => x.scenario === r.scenario && x.delayMs === delays[0]);
    const w = (x, v) => sec(x.summary.wallMs[v].median);
    const addedRtt = sec(2 * (r.delayMs - base.delayMs));
    const trips = (v) => (addedRtt > 0 ? Math.round((w(r, v) - w(base, v)) / addedRtt) : null);
    rows.push({
      delayMs: r.delayMs,
      scenario: r.scenario,
      rounds: r.rounds,
      seconds: { A: r2(w(r, 'A')), B: r2(w(r, 'B')), C: r2(w(r, 'C')) },
      ratioAB: r2(r.summary.ratioAB.median),
      ratioABRange: [r2(r.summary.ratioAB.min), r2(r.summary.ratioAB.max)],
      aMinusC: r2(w(r, 'A') - w(r, 'C')),
      processes: Object.fromEntries(['A', 'B', 'C'].map((v) => [v, r.summary.kopiaProcesses[v].max])),
      roundTrips: Object.fromEntries(['A', 'B', 'C'].map((v) => [v, trips(v)])),
      commands: r.summary.commands,
    });
  }
  return rows;
}

function checkTargets(rows, delays) {
  const top = delays.at(-1);
  const checks = [];
  for (const [scenario, limit] of Object.entries(TARGETS)) {
    const row = rows.find((x) => x.scenario === scenario && x.delayMs === top);
    if (row) checks.push({ target: `${top} ms ${scenario}: A/B <= ${limit}`, value: row.ratioAB, met: row.ratioAB <= limit });
  }
  const allowance = r2(2 * sec(2 * top) + FIXED_START_S);
  for (const row of rows.filter((x) => x.delayMs === top)) {
    checks.push({ target: `${top} ms ${row.scenario}: A - C <= 2 round trips + ${FIXED_START_S} s = ${allowance} s`, value: row.aMinusC, met: row.aMinusC <= allowance });
  }
  return checks;
}

function markdown(rows) {
  const lines = [
    '| one-way delay ms | scenario | A s | B s | C s | A/B median (min-max) | A − C s | kopia processes A / B / C | round trips waited A / B / C |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const t = (x) => (x === null ? '-' : String(x));
  for (const r of rows) {
    lines.push(
      `| ${r.delayMs} | ${r.scenario} | ${r.seconds.A.toFixed(2)} | ${r.seconds.B.toFixed(2)} | ${r.seconds.C.toFixed(2)} ` +
        `| ${r.ratioAB.toFixed(2)} (${r.ratioABRange[0].toFixed(2)}-${r.ratioABRange[1].toFixed(2)}) | ${r.aMinusC.toFixed(2)} ` +
        `| ${r.processes.A} / ${r.processes.B} / ${r.processes.C} | ${t(r.roundTrips.A)} / ${t(r.roundTrips.B)} / ${t(r.roundTrips.C)} |`,
    );
  }
  return lines.join('\n');
}

export async function main(argv = process.argv.slice(2)) {
  stopOnSignals('bench --latency');
  const options = readOptions(argv, process.env);
  const kopiaVersion = preflight();
  requireToxiproxy();
  const started = Date.now();
  const log = (s) => process.stderr.write(`bench --latency: ${s}\n`);
  const work = join(options.dir, 'latency');
  rmSync(work, { recursive: true, force: true });
  const ctx = { work, home: join(work, 'home'), smallDir: join(options.dir, 'dataset', 'small'), smallFileCount: 1001, setupCount: 0 };
  mkdirSync(ctx.home, { recursive: true });
  ensureSmallFiles(ctx.smallDir, 1000);
  const runOptions = { rounds: options.rounds, largeRounds: options.rounds, warmup: false, timeoutMs: options.timeoutMs, entry: options.entry };

  const servers = await loadServers();
  const server = await servers.startS3Server();
  let toxiproxy;
  const results = [];
  const probes = {};
  try {
    await server.createBucket(BUCKET);
    toxiproxy = await startToxiproxy(servers);
    const proxy = await toxiproxy.addProxy('minio', server.endpoint);
    // kopia (A, B and C alike) knows MinIO only by the proxy's address.
    const backend = s3Backend({ ...server, url: proxy.url, endpoint: proxy.endpoint }, BUCKET);
    const shared = backend.location('small');
    createRepository(ctx, backend, shared, ctx.smallDir, { snapshot: true });
    for (const delayMs of options.delays) {
      await proxy.clear();
      if (delayMs > 0) await proxy.delay(delayMs);
      probes[delayMs] = await probeRoundTripMs(proxy.url);
      log(`${delayMs} ms each way: an HTTP request through the proxy takes ${probes[delayMs]} ms`);
      for (const id of options.scenarios) {
        const scenario = SCENARIOS.find((s) => s.id === id);
        log(`${delayMs} ms ${id}: ${scenario.what}`);
        const r = await runScenario({ ...ctx, work: join(work, `delay-${delayMs}`) }, backend, scenario, shared, runOptions);
        results.push({ delayMs, ...r });
      }
    }
  } finally {
    await toxiproxy?.stop();
    await server.stop();
  }

  const rows = analyse(results, options.delays);
  const checks = checkTargets(rows, options.delays);
  const report = { machine: machine(kopiaVersion), options, durationSeconds: Math.round((Date.now() - started) / 1000), probeMs: probes, rows, checks, results };
  mkdirSync(dirname(options.results), { recursive: true });
  writeFileSync(options.results, `${JSON.stringify(report, null, 2)}\n`);

  const m = report.machine;
  console.log(`\nkopia-mover latency benchmark, ${m.date}, ${m.nproc} CPUs, kopia ${m.kopia}, node ${m.node}, ${m.kopiaMover}, load ${m.loadAverage.join(' ')}`);
  console.log(`S3 (MinIO) through toxiproxy; A = kopia-mover, B = the original sequence, C = the fewest kopia commands; medians of ${options.rounds} rounds`);
  console.log(`HTTP request through the proxy, median ms: ${options.delays.map((d) => `${d} ms each way: ${probes[d]}`).join(', ')}\n`);
  console.log(markdown(rows));
  console.log('\nkopia commands of the last run of each variant:');
  for (const r of rows.filter((x) => x.delayMs === options.delays.at(-1))) {
    console.log(`  ${r.scenario}`);
    for (const v of ['A', 'B', 'C']) console.log(`    ${v}: ${r.commands[v].join(', ')}`);
  }
  console.log('\ntargets (issue 20):');
  for (const c of checks) console.log(`  ${c.met ? 'met    ' : 'NOT MET'}  ${c.target}: ${c.value}`);
  console.log(`\nresults: ${options.results} (${report.durationSeconds} s)`);
}
