#!/usr/bin/env node
// `npm run bench`: kopia-mover (A) against the original script's kopia sequence (B,
// bench/baseline.sh) and the fewest kopia commands for the same work (C, bench/minimal.sh),
// run in alternation on a filesystem repository and a local MinIO. See docs/performance.md.
// `npm run bench -- --load` runs the many-tenants load benchmark instead (bench/load.mjs), and
// `npm run bench -- --first-backup` the first backup of a new repository (bench/first-backup.mjs),
// `--latency` the S3 scenarios through a delaying proxy (bench/latency.mjs), and `--soak` many
// cycles of tenants' backups, restores and maintenance with faults on the wire (bench/soak.mjs).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLargeFiles, ensureManyFiles, ensureSmallFiles, touchSmallFiles } from './dataset.mjs';
import { killActiveRuns, runMeasured, spread, writeShim } from './measure.mjs';
import { benchFlags } from './options.mjs';
import { loadServers } from './servers.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KOPIA = join(repoRoot, 'tools', 'bin', 'kopia');
const MINIO = join(repoRoot, 'tools', 'bin', 'minio');
const MOVER = join(repoRoot, 'bin', 'kopia-mover.js');
// How the image starts the program: through its shim, which execs node on bin/kopia-mover.js.
const IMAGE_ENTRY = join(repoRoot, 'docker', 'entry.sh');
const BASELINE = join(repoRoot, 'bench', 'baseline.sh');
const MINIMAL = join(repoRoot, 'bench', 'minimal.sh');

const PASSWORD = 'kopia-mover bench password';
const SNAP_USER = 'bench';
const SNAP_HOST = 'bench-host';
const MAINT_USER = 'maintenance';
const MAINT_HOST = 'volsync';
const COMPRESSION = 'zstd';
const RETAIN_DAILY = '7';
const VARIANTS = ['A', 'B', 'C'];
const MANY_FILES = 200_000;

// ---------------------------------------------------------------------------
// Options: flags win over environment variables.

function readOptions(argv, env) {
  const known = ['rounds', 'quick', 'backends', 'scenarios', 'large-gb', 'large-rounds', 'large-s3', 'dir', 'results', 'timeout', 'entry'];
  const { pick, yes, int } = benchFlags(argv, env, known);
  const quick = yes(pick('quick', 'BENCH_QUICK'));
  const rounds = int(pick('rounds', 'BENCH_ROUNDS'), 'BENCH_ROUNDS', quick ? 1 : 5);
  const largeGb = Number(pick('large-gb', 'BENCH_LARGE_GB') ?? (quick ? 0.25 : 2));
  if (!(largeGb > 0)) throw new Error('BENCH_LARGE_GB must be a positive number');
  const dir = resolve(pick('dir', 'BENCH_DIR') ?? join(repoRoot, '.bench-data'));
  const list = (v, all, name) => {
    if (v === undefined) return all;
    const items = String(v).split(',').map((s) => s.trim()).filter(Boolean);
    for (const item of items) if (!all.includes(item)) throw new Error(`${name}: unknown ${item}; known: ${all.join(', ')}`);
    return items;
  };
  const entry = pick('entry', 'BENCH_ENTRY') ?? 'image';
  if (!['image', 'bin'].includes(entry)) throw new Error(`BENCH_ENTRY must be image or bin, got ${entry}`);
  return {
    quick,
    rounds,
    // A is started the way the image starts it (image), or the way npm installs it (bin).
    entry,
    // Warm-up runs settle caches and the page cache; the connected-cache scenarios always get one.
    warmup: !quick,
    backends: list(pick('backends', 'BENCH_BACKENDS'), ['filesystem', 's3'], 'BENCH_BACKENDS'),
    scenarios: list(pick('scenarios', 'BENCH_SCENARIOS'), SCENARIOS.map((s) => s.id), 'BENCH_SCENARIOS'),
    largeBytes: Math.round(largeGb * 1024 ** 3),
    largeRounds: int(pick('large-rounds', 'BENCH_LARGE_ROUNDS'), 'BENCH_LARGE_ROUNDS', rounds),
    largeS3: yes(pick('large-s3', 'BENCH_LARGE_S3')),
    dir,
    // kopia retries an unreachable server for minutes; a stuck run should fail, not hang.
    timeoutMs: int(pick('timeout', 'BENCH_RUN_TIMEOUT_SECONDS'), 'BENCH_RUN_TIMEOUT_SECONDS', 600) * 1000,
    results: resolve(pick('results', 'BENCH_RESULTS') ?? (quick ? join(dir, 'results-quick.json') : join(repoRoot, 'bench', 'results.json'))),
  };
}

// ---------------------------------------------------------------------------
// Scenarios. `cache: 'empty'` deletes the variant's cache dir before each run; `'keep'`
// keeps it from the variant's previous run (a warm-up run connects it first).

export const SCENARIOS = [
  { id: 'backup-empty-cache', op: 'backup', cache: 'empty', data: 'small', what: 'backup of 1,000 files, one changed; cache dir empty' },
  { id: 'backup-repeat', op: 'backup', cache: 'keep', data: 'small', what: 'repeat backup of 1,000 files, one changed; cache connected' },
  { id: 'restore-empty-cache', op: 'restore', cache: 'empty', data: 'small', what: 'restore of 1,000 files into an empty dir; cache dir empty' },
  { id: 'maintenance-empty-cache', op: 'maintenance', cache: 'empty', what: 'quick + full maintenance, already owner; cache dir empty' },
  { id: 'maintenance-repeat', op: 'maintenance', cache: 'keep', what: 'quick + full maintenance, already owner; cache connected' },
  { id: 'backup-large', op: 'backup', cache: 'empty', data: 'large', freshRepository: true, what: 'backup of the large files into a new repository; cache dir empty' },
  {
    id: 'backup-many-unchanged',
    op: 'backup',
    cache: 'keep',
    data: 'many',
    onlyOn: 'filesystem',
    what: `repeat backup of ${MANY_FILES.toLocaleString('en')} unchanged small files; cache connected`,
  },
];

// ---------------------------------------------------------------------------
// Pre-flight: say what is missing and how to get it.

function preflight(options) {
  const executable = (file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (!executable(KOPIA)) throw new Error(`kopia not found at ${KOPIA}: run \`bash scripts/install-kopia.sh\``);
  const version = spawnSync(KOPIA, ['--version'], { encoding: 'utf8' }).stdout?.split(/\s/)[0] ?? '';
  // The built program is whatever bin/kopia-mover.js imports from dist/.
  const entry = /from '(\.\.\/dist\/[^']+)'/.exec(readFileSync(MOVER, 'utf8'))?.[1];
  if (!entry || !existsSync(resolve(dirname(MOVER), entry))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does it)');
  if (options.backends.includes('s3') && !executable(MINIO)) {
    throw new Error(`minio not found at ${MINIO}: run \`bash scripts/install-test-servers.sh\`, or set BENCH_BACKENDS=filesystem`);
  }
  const bash = spawnSync('bash', ['-c', 'echo "${BASH_VERSINFO[0]}"'], { encoding: 'utf8' });
  if (bash.status !== 0 || Number(bash.stdout.trim()) < 5) throw new Error('bash 5 or newer is required (the kopia shim uses $EPOCHREALTIME)');
  return version;
}

// ---------------------------------------------------------------------------
// Backends: where a named repository lives, for kopia-mover (env) and for kopia (args).

export function filesystemBackend(root) {
  return {
    name: 'filesystem',
    credentials: {},
    location(name) {
      const path = join(root, name);
      return {
        moverEnv: { KOPIA_REPOSITORY: `filesystem://${path}` },
        repoArgs: `filesystem --path=${path}`,
        discard: () => rmSync(path, { recursive: true, force: true }),
      };
    },
  };
}

export function s3Backend(server, bucket) {
  const credentials = { AWS_ACCESS_KEY_ID: server.accessKey, AWS_SECRET_ACCESS_KEY: server.secretKey };
  return {
    name: 's3',
    credentials,
    location(name) {
      return {
        moverEnv: { KOPIA_REPOSITORY: `s3://${bucket}/${name}`, KOPIA_S3_ENDPOINT: server.url, ...credentials },
        repoArgs: `s3 --bucket=${bucket} --prefix=${name}/ --endpoint=${server.endpoint} --disable-tls`,
        // MinIO's data lives in its temp dir and goes when it stops.
        discard: () => {},
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Untimed kopia calls that prepare repositories.

export function kopiaEnv(ctx, backend) {
  return {
    PATH: process.env.PATH,
    HOME: ctx.home,
    KOPIA_PASSWORD: PASSWORD,
    KOPIA_CHECK_FOR_UPDATES: 'false',
    KOPIA_USE_KEYRING: 'false',
    ...backend.credentials,
  };
}

function setupKopia(ctx, backend, configDir, args) {
  const full = [...args, `--config-file=${join(configDir, 'kopia.config')}`, `--log-dir=${join(configDir, 'logs')}`];
  const out = spawnSync(KOPIA, full, { env: kopiaEnv(ctx, backend), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`setup: kopia ${args.join(' ')} failed (exit ${out.status}):\n${out.stderr.slice(-4000)}`);
  return out.stdout;
}

/** A new repository holding the snapshot path's policy (and a first snapshot), owned for maintenance by MAINT. */
export function createRepository(ctx, backend, location, source, { snapshot }) {
  const configDir = join(ctx.work, `setup-${process.pid}-${ctx.setupCount++}`);
  rmSync(configDir, { recursive: true, force: true });
  try {
    setupKopia(ctx, backend, configDir, ['repository', 'create', ...location.repoArgs.split(' '),
      `--override-username=${SNAP_USER}`, `--override-hostname=${SNAP_HOST}`, `--cache-directory=${configDir}`, '--no-persist-credentials']);
    setupKopia(ctx, backend, configDir, ['policy', 'set', source, `--compression=${COMPRESSION}`, `--keep-daily=${RETAIN_DAILY}`]);
    if (snapshot) setupKopia(ctx, backend, configDir, ['snapshot', 'create', source]);
    setupKopia(ctx, backend, configDir, ['maintenance', 'set', `--owner=${MAINT_USER}@${MAINT_HOST}`, '--enable-quick=true', '--enable-full=true']);
  } finally {
    rmSync(configDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// One scenario on one backend: A, B, C in alternation.

function countFiles(dir) {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? countFiles(join(dir, entry.name)) : 1;
  }
  return n;
}

function variantProcess(variant, op, run) {
  if (variant === 'A') {
    const env = {
      PATH: process.env.PATH,
      HOME: run.home,
      KOPIA_PASSWORD: PASSWORD,
      KOPIA_CACHE_DIR: run.cache,
      KOPIA_BIN: run.shim,
      KOPIA_MOVER_LOG_FORMAT: 'json',
      KOPIA_MOVER_TERMINATION_LOG: join(run.dir, 'termination-log'),
      KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG: join(run.dir, 'no-legacy-repository.config'),
      KOPIA_OVERRIDE_USERNAME: SNAP_USER,
      KOPIA_OVERRIDE_HOSTNAME: SNAP_HOST,
      KOPIA_OVERRIDE_MAINTENANCE_USERNAME: `${MAINT_USER}@${MAINT_HOST}`,
      KOPIA_COMPRESSION: COMPRESSION,
      KOPIA_RETAIN_DAILY: RETAIN_DAILY,
      ...run.location.moverEnv,
    };
    if (op === 'backup') env.DATA_DIR = run.source;
    if (op === 'restore') {
      env.DATA_DIR = run.target;
      env.KOPIA_SOURCE_PATH_OVERRIDE = run.source;
    }
    if (run.entry === 'image') return { command: IMAGE_ENTRY, args: [op], env: { ...env, KOPIA_MOVER_HOME: repoRoot }, pollRss: true };
    return { command: process.execPath, args: [MOVER, op], env, pollRss: true };
  }
  const env = {
    ...kopiaEnv(run, run.backend),
    KOPIA: run.shim,
    CACHE_DIR: run.cache,
    REPO_ARGS: run.location.repoArgs,
    SNAP_USER,
    SNAP_HOST,
    SOURCE: run.source ?? '',
    TARGET: run.target,
    COMPRESSION,
    RETAIN_DAILY,
    MAINT_USER,
    MAINT_HOST,
  };
  return { command: 'bash', args: [variant === 'B' ? BASELINE : MINIMAL, op], env, pollRss: false };
}

export async function runScenario(ctx, backend, scenario, sharedLocation, options) {
  const dir = join(ctx.work, backend.name, scenario.id);
  rmSync(dir, { recursive: true, force: true });
  const source = { large: ctx.largeDir, many: ctx.manyDir }[scenario.data] ?? ctx.smallDir;
  const rounds = scenario.data === 'large' ? options.largeRounds : options.rounds;
  const perVariant = {};
  for (const v of VARIANTS) {
    const vdir = join(dir, v);
    mkdirSync(vdir, { recursive: true });
    const shim = join(vdir, 'kopia');
    const log = join(vdir, 'kopia-calls.log');
    writeShim(shim, log, KOPIA);
    perVariant[v] = { dir: vdir, shim, log, cache: join(vdir, 'cache'), target: join(vdir, 'restore') };
  }

  const runOne = async (variant, label) => {
    const p = perVariant[variant];
    let location = sharedLocation;
    if (scenario.freshRepository) {
      location = backend.location(`large-${ctx.setupCount}`);
      createRepository(ctx, backend, location, source, { snapshot: false });
    }
    if (scenario.cache === 'empty') rmSync(p.cache, { recursive: true, force: true });
    if (scenario.op === 'backup' && scenario.data === 'small') touchSmallFiles(source, `${scenario.id} ${variant} ${label}`);
    if (scenario.op === 'restore') {
      rmSync(p.target, { recursive: true, force: true });
      mkdirSync(p.target);
    }
    const run = { ...p, home: ctx.home, backend, location, source, entry: options.entry };
    const spec = variantProcess(variant, scenario.op, run);
    try {
      const result = await runMeasured({ ...spec, cwd: p.dir, shimLog: p.log, timeoutMs: options.timeoutMs });
      if (result.exitCode !== 0) {
        throw new Error(
          `${backend.name} ${scenario.id} ${variant} (${label}) exited ${result.exitCode}\n` +
            `--- kopia calls ---\n${result.kopiaCommands.join('\n')}\n--- stdout (tail) ---\n${result.stdout.slice(-3000)}\n` +
            `--- stderr (tail) ---\n${result.stderr.slice(-3000)}`,
        );
      }
      // Same work for every variant: the restored tree must be complete.
      if (scenario.op === 'restore') {
        const files = countFiles(p.target);
        if (files !== ctx.smallFileCount) throw new Error(`${backend.name} ${scenario.id} ${variant}: restored ${files} files, expected ${ctx.smallFileCount}`);
      }
      return result;
    } finally {
      if (scenario.freshRepository) location.discard();
    }
  };

  const label = `${backend.name} ${scenario.id}`;
  if (scenario.cache === 'keep' || (options.warmup && !scenario.freshRepository)) {
    for (const v of VARIANTS) await runOne(v, 'warm-up');
  }
  const runs = [];
  for (let round = 1; round <= rounds; round++) {
    const line = [];
    for (const v of VARIANTS) {
      const r = await runOne(v, `round ${round}`);
      runs.push({
        round,
        variant: v,
        wallMs: round2(r.wallMs),
        kopiaProcesses: r.kopiaProcesses,
        peakRssMb: r.peakRssKb === null ? null : round2(r.peakRssKb / 1024),
        firstSpawnMs: r.firstSpawnMs === null ? null : round2(r.firstSpawnMs),
        kopiaCommands: r.kopiaCommands.map(shortCommand),
      });
      line.push(`${v} ${(r.wallMs / 1000).toFixed(2)}s/${r.kopiaProcesses}p`);
    }
    process.stderr.write(`  ${label} round ${round}/${rounds}: ${line.join('  ')}\n`);
  }
  return { backend: backend.name, scenario: scenario.id, what: scenario.what, rounds, summary: summarize(runs), runs };
}

/** "repository connect filesystem --path=..." -> "repository connect": the command without its flags. */
function shortCommand(argv) {
  return argv.split(' ').filter((w) => !w.startsWith('-')).slice(0, 2).join(' ') || argv.split(' ')[0];
}

const round2 = (x) => Math.round(x * 100) / 100;

function summarize(runs) {
  const of = (v) => runs.filter((r) => r.variant === v);
  const rounds = [...new Set(runs.map((r) => r.round))];
  const ratio = (x, y) =>
    spread(
      rounds.map((i) => {
        const a = runs.find((r) => r.round === i && r.variant === x);
        const b = runs.find((r) => r.round === i && r.variant === y);
        return a && b ? a.wallMs / b.wallMs : null;
      }),
    );
  const summary = { wallMs: {}, kopiaProcesses: {}, commands: {} };
  for (const v of VARIANTS) {
    summary.wallMs[v] = spread(of(v).map((r) => r.wallMs));
    summary.kopiaProcesses[v] = spread(of(v).map((r) => r.kopiaProcesses));
    summary.commands[v] = of(v).at(-1)?.kopiaCommands ?? [];
  }
  summary.ratioAB = ratio('A', 'B');
  summary.ratioAC = ratio('A', 'C');
  summary.peakRssMbA = spread(of('A').map((r) => r.peakRssMb));
  summary.firstSpawnMsA = spread(of('A').map((r) => r.firstSpawnMs));
  return summary;
}

// ---------------------------------------------------------------------------
// The targets, checked against what was measured.

function checkTargets(results) {
  const checks = [];
  const find = (backend, scenario) => results.find((r) => r.backend === backend && r.scenario === scenario);
  const processTargets = {
    'backup-empty-cache': 3,
    'backup-repeat': 2,
    'restore-empty-cache': 3,
    'maintenance-empty-cache': 3,
    'maintenance-repeat': 3,
    'backup-many-unchanged': 2,
  };
  for (const r of results) {
    const limit = processTargets[r.scenario];
    if (limit !== undefined) {
      const got = r.summary.kopiaProcesses.A.max;
      checks.push({ target: `${r.backend} ${r.scenario}: kopia processes of A <= ${limit}`, value: got, met: got <= limit });
    }
  }
  const ratio = (scenario, key, limit) => {
    const r = find('filesystem', scenario);
    if (!r) return;
    const got = r.summary[key].median;
    checks.push({ target: `filesystem ${scenario}: ${key === 'ratioAB' ? 'A/B' : 'A/C'} (median of pairs) <= ${limit}`, value: round2(got), met: got <= limit });
  };
  ratio('backup-repeat', 'ratioAC', 1.15);
  // Issue 14: on a volume of many unchanged files the mover adds nothing to kopia's own walk.
  ratio('backup-many-unchanged', 'ratioAC', 1.05);
  ratio('backup-repeat', 'ratioAB', 0.6);
  ratio('maintenance-empty-cache', 'ratioAB', 0.6);
  ratio('maintenance-repeat', 'ratioAB', 0.6);
  const spawns = results.flatMap((r) => r.runs.filter((x) => x.variant === 'A').map((x) => x.firstSpawnMs));
  if (spawns.length > 0) {
    const got = spread(spawns).median;
    checks.push({ target: 'A: program start to first kopia spawn, median over all runs < 150 ms', value: round2(got), met: got < 150 });
  }
  for (const r of results.filter((x) => x.scenario === 'backup-large')) {
    const got = r.summary.peakRssMbA.max;
    checks.push({ target: `${r.backend} backup-large: peak RSS of the Node process < 80 MB`, value: got, met: got < 80 });
  }
  return checks;
}

// ---------------------------------------------------------------------------
// Output

function fmt(x, digits = 2) {
  return x === null || x === undefined ? '-' : x.toFixed(digits);
}

function countText(s) {
  return s.min === s.max ? String(s.min) : `${s.min}-${s.max}`;
}

export function markdownTable(results) {
  const rows = [
    '| backend | scenario | rounds | A s | B s | C s | A/B median (min-max) | A/C median (min-max) | kopia processes A / B / C | A peak RSS MB | A start to first kopia ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const s = r.summary;
    const secs = (v) => fmt(s.wallMs[v].median / 1000);
    rows.push(
      `| ${r.backend} | ${r.scenario} | ${r.rounds} | ${secs('A')} | ${secs('B')} | ${secs('C')} ` +
        `| ${fmt(s.ratioAB.median)} (${fmt(s.ratioAB.min)}-${fmt(s.ratioAB.max)}) ` +
        `| ${fmt(s.ratioAC.median)} (${fmt(s.ratioAC.min)}-${fmt(s.ratioAC.max)}) ` +
        `| ${VARIANTS.map((v) => countText(s.kopiaProcesses[v])).join(' / ')} ` +
        `| ${fmt(s.peakRssMbA.max, 1)} | ${fmt(s.firstSpawnMsA.median, 0)} |`,
    );
  }
  return rows.join('\n');
}

/** Bare Node start (`node -e 0`): the part of A's time and RSS no program code can remove. */
async function nodeFloor(work, rounds) {
  const measure = async (code) => {
    const runs = [];
    for (let i = 0; i < Math.max(rounds, 5); i++) {
      runs.push(await runMeasured({ command: process.execPath, args: ['-e', code], env: { PATH: process.env.PATH }, cwd: work, shimLog: join(work, 'node-floor.log'), pollRss: true }));
    }
    return runs;
  };
  // `node -e 0` exits before the 20 ms RSS poll; an idle wait lets the poll see its peak.
  const start = await measure('0');
  const idle = await measure('setTimeout(() => {}, 100)');
  return {
    wallMs: round2(spread(start.map((r) => r.wallMs)).median),
    peakRssMb: round2(spread(idle.map((r) => r.peakRssKb / 1024)).median),
  };
}

export function machine(kopiaVersion) {
  const git = spawnSync('git', ['-C', repoRoot, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  const nproc = spawnSync('nproc', [], { encoding: 'utf8' });
  return {
    date: new Date().toISOString(),
    nproc: Number(nproc.stdout?.trim()) || os.availableParallelism(),
    memoryGiB: round2(os.totalmem() / 1024 ** 3),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    kopia: kopiaVersion,
    kopiaMover: git.status === 0 ? git.stdout.trim() : 'unknown',
    // Other work on the machine shows up here; the alternation of A, B, C spreads it evenly.
    loadAverage: os.loadavg().map(round2),
  };
}

// ---------------------------------------------------------------------------

async function main() {
  // Registered before MinIO starts: exiting runs test/support/servers.ts's exit hook, which kills it.
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.once(signal, () => {
      killActiveRuns();
      process.stderr.write(`bench: stopped by ${signal}\n`);
      process.exit(code);
    });
  }
  const options = readOptions(process.argv.slice(2), process.env);
  const kopiaVersion = preflight(options);
  const started = Date.now();
  const work = join(options.dir, 'work');
  rmSync(work, { recursive: true, force: true });
  const ctx = {
    work,
    home: join(work, 'home'),
    smallDir: join(options.dir, 'dataset', 'small'),
    largeDir: join(options.dir, 'dataset', 'large'),
    manyDir: join(options.dir, 'dataset', 'many'),
    smallFileCount: 1001,
    setupCount: 0,
  };
  mkdirSync(ctx.home, { recursive: true });

  const scenarios = SCENARIOS.filter((s) => options.scenarios.includes(s.id));
  process.stderr.write(`bench: data in ${options.dir}; ${options.rounds} round(s)${options.quick ? ' (quick mode)' : ''}\n`);
  let t = Date.now();
  ensureSmallFiles(ctx.smallDir, 1000);
  if (scenarios.some((s) => s.data === 'many')) {
    t = Date.now();
    if (ensureManyFiles(ctx.manyDir, MANY_FILES)) {
      process.stderr.write(`bench: generated ${MANY_FILES} small files in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    }
  }
  if (scenarios.some((s) => s.data === 'large')) {
    if (ensureLargeFiles(ctx.largeDir, options.largeBytes, 4)) {
      process.stderr.write(`bench: generated ${fmt(options.largeBytes / 1024 ** 3)} GiB of large files in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    }
  }

  const reference = { nodeStart: await nodeFloor(work, options.rounds), loadAverageAtStart: os.loadavg().map(round2) };
  let server;
  const results = [];
  try {
    for (const backendName of options.backends) {
      let backend;
      if (backendName === 's3') {
        const servers = await loadServers(join(repoRoot, '.bench-data', 'build'));
        server = await servers.startS3Server();
        await server.createBucket('bench');
        backend = s3Backend(server, 'bench');
      } else {
        backend = filesystemBackend(join(work, 'repositories'));
      }
      const todo = scenarios.filter((s) => !(s.id === 'backup-large' && backendName === 's3' && !options.largeS3) && (s.onlyOn ?? backendName) === backendName);
      if (todo.length === 0) continue;
      t = Date.now();
      const shared = backend.location('small');
      createRepository(ctx, backend, shared, ctx.smallDir, { snapshot: true });
      process.stderr.write(`bench: ${backendName} repository ready in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
      for (const scenario of todo) {
        process.stderr.write(`bench: ${backendName} ${scenario.id}: ${scenario.what}\n`);
        results.push(await runScenario(ctx, backend, scenario, shared, options));
      }
      if (server) {
        await server.stop();
        server = undefined;
      }
    }
  } finally {
    await server?.stop();
  }

  const checks = checkTargets(results);
  const report = {
    machine: machine(kopiaVersion),
    options: { entry: options.entry, rounds: options.rounds, largeRounds: options.largeRounds, largeBytes: options.largeBytes, quick: options.quick, warmup: options.warmup },
    durationSeconds: Math.round((Date.now() - started) / 1000),
    reference,
    results,
    checks,
  };
  mkdirSync(dirname(options.results), { recursive: true });
  writeFileSync(options.results, `${JSON.stringify(report, null, 2)}\n`);

  const m = report.machine;
  console.log(`\nkopia-mover benchmark, ${m.date}, ${m.nproc} CPUs, ${m.memoryGiB} GiB, kopia ${m.kopia}, node ${m.node}, ${m.kopiaMover}`);
  console.log(`A = kopia-mover (${options.entry === 'image' ? 'docker/entry.sh, as in the image' : 'bin/kopia-mover.js, as npm installs it'}), B = bench/baseline.sh (original sequence), C = bench/minimal.sh (fewest commands); times are medians\n`);
  console.log(markdownTable(results));
  console.log('\nkopia commands of the last run of each variant:');
  for (const r of results) {
    console.log(`  ${r.backend} ${r.scenario}`);
    for (const v of VARIANTS) console.log(`    ${v}: ${r.summary.commands[v].join(', ')}`);
  }
  console.log('\ntargets (issues 6 and 14):');
  for (const c of checks) console.log(`  ${c.met ? 'met    ' : 'NOT MET'}  ${c.target}: ${c.value}`);
  const floor = reference.nodeStart;
  console.log(`\nreference: bare \`node -e 0\` takes ${fmt(floor.wallMs, 0)} ms and peaks at ${fmt(floor.peakRssMb, 1)} MB RSS`);
  const repeat = results.find((r) => r.backend === 'filesystem' && r.scenario === 'backup-repeat');
  if (repeat) {
    const c = repeat.summary.wallMs.C.median;
    console.log(`  so A/C for filesystem backup-repeat cannot go below about ${fmt((c + floor.wallMs) / c)} on this machine (C takes ${fmt(c / 1000)} s)`);
  }
  console.log(`\nresults: ${options.results} (${report.durationSeconds} s)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // `--load`, `--first-backup`, `--latency` and `--soak`: benchmarks of their own, with their own flags.
  const argv = process.argv.slice(2);
  const modes = { '--load': './load.mjs', '--first-backup': './first-backup.mjs', '--latency': './latency.mjs', '--soak': './soak.mjs' };
  const own = Object.entries(modes).find(([flag]) => argv.includes(flag))?.[1];
  const run = own ? import(own).then((m) => m.main(argv)) : main();
  run.catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
