// `npm run bench -- --first-backup`: the first backup of a new repository. kopia-mover (A) against
// bare kopia (B: `repository create`, then `snapshot create`), whole processes in alternation, each
// round on a new repository with an empty cache; and how long `kopia repository create
// --create-only` takes, alone and with many at once, which bounds the creation race's settle time.
// See docs/performance.md ("First backup of a new repository").
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ensureSmallFiles } from './dataset.mjs';
import { killActiveRuns, runMeasured, spread, writeShim } from './measure.mjs';
import { benchFlags } from './options.mjs';
import { filesystemBackend, kopiaEnv, s3Backend } from './run.mjs';
import { loadServers, repoRoot } from './servers.mjs';

const KOPIA = join(repoRoot, 'tools', 'bin', 'kopia');
const MINIO = join(repoRoot, 'tools', 'bin', 'minio');
const IMAGE_ENTRY = join(repoRoot, 'docker', 'entry.sh');
const USER = 'bench';
const HOST = 'bench-host';
const BUCKET = 'first-backup';

function readOptions(argv, env) {
  const known = ['first-backup', 'rounds', 'files', 'backends', 'create-rounds', 'at-once', 'dir', 'results', 'timeout'];
  const { pick, int } = benchFlags(argv, env, known, ' with --first-backup');
  const dir = resolve(pick('dir', 'BENCH_DIR') ?? join(repoRoot, '.bench-data'));
  const backends = String(pick('backends', 'BENCH_BACKENDS') ?? 'filesystem,s3').split(',').map((s) => s.trim()).filter(Boolean);
  for (const b of backends) if (!['filesystem', 's3'].includes(b)) throw new Error(`BENCH_BACKENDS: unknown ${b}; known: filesystem, s3`);
  return {
    rounds: int(pick('rounds', 'BENCH_ROUNDS'), 'BENCH_ROUNDS', 5),
    files: int(pick('files', 'BENCH_FIRST_BACKUP_FILES'), 'BENCH_FIRST_BACKUP_FILES', 200),
    backends,
    createRounds: int(pick('create-rounds', 'BENCH_CREATE_ROUNDS'), 'BENCH_CREATE_ROUNDS', 5),
    atOnce: int(pick('at-once', 'BENCH_CREATE_AT_ONCE'), 'BENCH_CREATE_AT_ONCE', 8),
    dir,
    results: resolve(pick('results', 'BENCH_FIRST_BACKUP_RESULTS') ?? join(dir, 'first-backup-results.json')),
    timeoutMs: int(pick('timeout', 'BENCH_RUN_TIMEOUT_SECONDS'), 'BENCH_RUN_TIMEOUT_SECONDS', 600) * 1000,
  };
}

function preflight(options) {
  const needed = [[KOPIA, 'bash scripts/install-kopia.sh']];
  if (options.backends.includes('s3')) needed.push([MINIO, 'bash scripts/install-test-servers.sh, or --backends=filesystem']);
  for (const [file, hint] of needed) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      throw new Error(`${file} not found: run \`${hint}\``);
    }
  }
  if (!existsSync(join(repoRoot, 'dist', 'kopia-mover.mjs'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does it)');
  return spawnSync(KOPIA, ['--version'], { encoding: 'utf8' }).stdout?.split(/\s/)[0] ?? '';
}

// ---------------------------------------------------------------------------
// Where each new repository lives: the main benchmark's backends, with kopia's arguments as a list.

function backendFor(name, work, server) {
  if (name === 's3') return withArgs(s3Backend(server, BUCKET));
  const root = join(work, 'repositories');
  // The program creates a filesystem repository only inside an existing folder.
  mkdirSync(root, { recursive: true });
  return withArgs(filesystemBackend(root));
}

function withArgs(backend) {
  return { ...backend, location: (name) => ({ ...backend.location(name), args: backend.location(name).repoArgs.split(' ') }) };
}

// ---------------------------------------------------------------------------
// One first backup: A (the program, as the image starts it, with its own creation timings) or B.

function firstBackupProcess(variant, run) {
  if (variant === 'A') {
    return {
      command: IMAGE_ENTRY,
      args: ['backup'],
      env: {
        PATH: process.env.PATH,
        HOME: run.home,
        KOPIA_MOVER_HOME: repoRoot,
        // The main benchmark's password, which B gets from kopiaEnv.
        KOPIA_PASSWORD: kopiaEnv(run, run.backend).KOPIA_PASSWORD,
        KOPIA_CACHE_DIR: run.cache,
        KOPIA_BIN: run.shim,
        KOPIA_MOVER_LOG_FORMAT: 'json',
        KOPIA_MOVER_TERMINATION_LOG: join(run.dir, 'termination-log'),
        KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG: join(run.dir, 'no-legacy-repository.config'),
        KOPIA_OVERRIDE_USERNAME: USER,
        KOPIA_OVERRIDE_HOSTNAME: HOST,
        DATA_DIR: run.source,
        ...run.location.moverEnv,
      },
      pollRss: true,
    };
  }
  const global = [`--config-file=${join(run.cache, 'kopia.config')}`, `--log-dir=${join(run.cache, 'logs')}`];
  const create = ['repository', 'create', ...run.location.args, `--override-username=${USER}`, `--override-hostname=${HOST}`,
    `--cache-directory=${run.cache}`, '--no-persist-credentials', ...global];
  const snapshot = ['snapshot', 'create', run.source, ...global];
  const quote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
  const line = (argv) => [quote(run.shim), ...argv.map(quote)].join(' ');
  return {
    command: 'bash',
    args: ['-c', `set -e; ${line(create)} >/dev/null; ${line(snapshot)} >/dev/null`],
    env: kopiaEnv(run, run.backend),
    pollRss: false,
  };
}

/**
 * What A's log says that a person would notice: warnings, and kopia's own lines about maintenance
 * (those records name kopia's command in one word) but the hand-over's `Setting maintenance owner`.
 */
function readLog(stdout) {
  const records = stdout.split('\n').flatMap((line) => {
    try {
      const r = JSON.parse(line);
      return r && typeof r === 'object' && 'level' in r ? [r] : [];
    } catch {
      return [];
    }
  });
  return {
    warnings: records.filter((r) => r.level === 40 || r.level === 'warn').length,
    maintenanceLines: records.filter(
      (r) => typeof r.kopia === 'string' && !r.kopia.includes(' ') && /maintenance(?!@)|GC found|epoch/i.test(String(r.msg)) && !/^Setting maintenance owner to /.test(String(r.msg)),
    ).length,
  };
}

async function firstBackups(ctx, backend, options) {
  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    const line = [];
    // Alternating which goes first spreads any drift of the machine's load over both.
    const order = round % 2 === 1 ? ['A', 'B'] : ['B', 'A'];
    for (const variant of order) {
      const name = `fb-${variant}-${round}-${Date.now().toString(36)}`;
      const dir = join(ctx.work, backend.name, name);
      mkdirSync(dir, { recursive: true });
      const shim = join(dir, 'kopia');
      const shimLog = join(dir, 'kopia-calls.log');
      writeShim(shim, shimLog, KOPIA);
      const run = { dir, shim, home: ctx.home, cache: join(dir, 'cache'), source: ctx.source, backend, location: backend.location(name) };
      const spec = firstBackupProcess(variant, run);
      const r = await runMeasured({ ...spec, cwd: dir, shimLog, timeoutMs: options.timeoutMs });
      if (r.exitCode !== 0) {
        throw new Error(`${backend.name} first backup ${variant} (round ${round}) exited ${r.exitCode}\n--- kopia calls ---\n${r.kopiaCommands.join('\n')}\n` +
          `--- stdout (tail) ---\n${r.stdout.slice(-3000)}\n--- stderr (tail) ---\n${r.stderr.slice(-3000)}`);
      }
      const log = variant === 'A' ? readLog(r.stdout) : { warnings: null, maintenanceLines: null };
      runs.push({ round, variant, wallMs: round2(r.wallMs), kopiaProcesses: r.kopiaProcesses, ...log, kopiaCommands: r.kopiaCommands.map(shortCommand) });
      line.push(`${variant} ${(r.wallMs / 1000).toFixed(2)}s/${r.kopiaProcesses}p`);
      rmSync(dir, { recursive: true, force: true });
    }
    process.stderr.write(`  ${backend.name} first backup round ${round}/${options.rounds}: ${line.join('  ')}\n`);
  }
  const of = (v) => runs.filter((r) => r.variant === v);
  const ratios = [...new Set(runs.map((r) => r.round))].map((i) => {
    const a = runs.find((r) => r.round === i && r.variant === 'A');
    const b = runs.find((r) => r.round === i && r.variant === 'B');
    return a.wallMs / b.wallMs;
  });
  return {
    backend: backend.name,
    rounds: options.rounds,
    wallMs: { A: spread(of('A').map((r) => r.wallMs)), B: spread(of('B').map((r) => r.wallMs)) },
    ratioAB: spread(ratios),
    kopiaProcesses: { A: spread(of('A').map((r) => r.kopiaProcesses)), B: spread(of('B').map((r) => r.kopiaProcesses)) },
    warningsA: Math.max(...of('A').map((r) => r.warnings)),
    maintenanceLinesA: Math.max(...of('A').map((r) => r.maintenanceLines)),
    commands: { A: of('A').at(-1)?.kopiaCommands ?? [], B: of('B').at(-1)?.kopiaCommands ?? [] },
    runs,
  };
}

// ---------------------------------------------------------------------------
// `repository create --create-only`, whole process: alone, and `atOnce` at the same moment (the
// load a creation race puts on a node), each on its own new location.

async function createTimes(ctx, backend, options) {
  const result = [];
  for (const atOnce of [1, options.atOnce]) {
    const times = [];
    for (let round = 1; round <= options.createRounds; round++) {
      const started = Array.from({ length: atOnce }, (_, i) => {
        const name = `co-${atOnce}-${round}-${i}-${Date.now().toString(36)}`;
        const dir = join(ctx.work, backend.name, name);
        mkdirSync(dir, { recursive: true });
        const args = ['repository', 'create', ...backend.location(name).args, '--create-only', '--no-persist-credentials',
          `--config-file=${join(dir, 'kopia.config')}`, `--log-dir=${join(dir, 'logs')}`];
        return runMeasured({ command: KOPIA, args, env: kopiaEnv(ctx, backend), cwd: dir, shimLog: join(dir, 'unused.log'), timeoutMs: options.timeoutMs })
          .then((r) => {
            if (r.exitCode !== 0) throw new Error(`${backend.name} create --create-only exited ${r.exitCode}: ${r.stderr.slice(-2000)}`);
            return r.wallMs;
          });
      });
      times.push(...(await Promise.all(started)));
    }
    const s = spread(times);
    result.push({ backend: backend.name, atOnce, processes: times.length, medianMs: round2(s.median), maxMs: round2(s.max) });
    process.stderr.write(`  ${backend.name} create --create-only, ${atOnce} at once: median ${s.median.toFixed(0)} ms, max ${s.max.toFixed(0)} ms\n`);
  }
  return result;
}

// ---------------------------------------------------------------------------

/** "repository connect filesystem --path=..." -> "repository connect". */
function shortCommand(argv) {
  return argv.split(' ').filter((w) => !w.startsWith('-')).slice(0, 2).join(' ');
}

const round2 = (x) => Math.round(x * 100) / 100;
const secs = (ms) => (ms / 1000).toFixed(2);
const count = (s) => (s.min === s.max ? String(s.min) : `${s.min}-${s.max}`);

export function firstBackupTable(results) {
  const rows = [
    '| backend | rounds | A s | B s | A/B median (min-max) | kopia processes A / B | WARN lines in A | kopia maintenance lines in A |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    rows.push(`| ${r.backend} | ${r.rounds} | ${secs(r.wallMs.A.median)} | ${secs(r.wallMs.B.median)} | ` +
      `${r.ratioAB.median.toFixed(2)} (${r.ratioAB.min.toFixed(2)}-${r.ratioAB.max.toFixed(2)}) | ` +
      `${count(r.kopiaProcesses.A)} / ${count(r.kopiaProcesses.B)} | ${r.warningsA} | ${r.maintenanceLinesA} |`);
  }
  return rows.join('\n');
}

export function createTable(results) {
  const rows = ['| backend | at once | processes | median ms | max ms |', '|---|---|---|---|---|'];
  for (const r of results) rows.push(`| ${r.backend} | ${r.atOnce} | ${r.processes} | ${r.medianMs.toFixed(0)} | ${r.maxMs.toFixed(0)} |`);
  return rows.join('\n');
}

export async function main(argv) {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.once(signal, () => {
      killActiveRuns();
      process.stderr.write(`bench: stopped by ${signal}\n`);
      process.exit(code);
    });
  }
  const options = readOptions(argv, process.env);
  const kopiaVersion = preflight(options);
  const started = Date.now();
  const work = join(options.dir, 'first-backup-work');
  rmSync(work, { recursive: true, force: true });
  const ctx = { work, home: join(work, 'home'), source: join(options.dir, 'dataset', `first-backup-${options.files}`) };
  mkdirSync(ctx.home, { recursive: true });
  ensureSmallFiles(ctx.source, options.files);
  const loadAtStart = os.loadavg().map(round2);

  const backups = [];
  const creates = [];
  let server;
  try {
    for (const name of options.backends) {
      if (name === 's3') {
        const servers = await loadServers(join(repoRoot, '.bench-data', 'build'));
        server = await servers.startS3Server();
        await server.createBucket(BUCKET);
      }
      const backend = backendFor(name, work, server);
      process.stderr.write(`bench: ${name}: first backup of ${options.files} small files, A then B alternating\n`);
      backups.push(await firstBackups(ctx, backend, options));
      process.stderr.write(`bench: ${name}: repository create --create-only\n`);
      creates.push(...(await createTimes(ctx, backend, options)));
      await server?.stop();
      server = undefined;
    }
  } finally {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  }

  const git = spawnSync('git', ['-C', repoRoot, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  const report = {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    kopia: kopiaVersion,
    node: process.version,
    kopiaMover: git.status === 0 ? git.stdout.trim() : 'unknown',
    loadAverage: { atStart: loadAtStart, atEnd: os.loadavg().map(round2) },
    options: { rounds: options.rounds, files: options.files, createRounds: options.createRounds, atOnce: options.atOnce },
    durationSeconds: Math.round((Date.now() - started) / 1000),
    backups,
    creates,
  };
  mkdirSync(dirname(options.results), { recursive: true });
  writeFileSync(options.results, `${JSON.stringify(report, null, 2)}\n`);

  console.log(`\nfirst backup of a new repository, ${report.date}, ${report.nproc} CPUs, kopia ${report.kopia}, node ${report.node}, ${report.kopiaMover}`);
  console.log(`load average ${report.loadAverage.atStart.join(' ')} at start, ${report.loadAverage.atEnd.join(' ')} at the end`);
  console.log(`A = kopia-mover backup (docker/entry.sh, empty cache, its own creation timings), B = kopia repository create + snapshot create; times are medians\n`);
  console.log(firstBackupTable(backups));
  console.log('\nkopia commands of the last run:');
  for (const r of backups) for (const v of ['A', 'B']) console.log(`  ${r.backend} ${v}: ${r.commands[v].join(', ')}`);
  console.log(`\n\`kopia repository create --create-only\`, whole process, ${options.createRounds} round(s):\n`);
  console.log(createTable(creates));
  console.log(`\nresults: ${options.results} (${report.durationSeconds} s)`);
  const noisy = backups.filter((r) => r.maintenanceLinesA > 0);
  if (noisy.length > 0) {
    process.stderr.write(`bench: kopia ran maintenance inside a first backup on ${noisy.map((r) => r.backend).join(', ')}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
