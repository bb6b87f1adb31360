#!/usr/bin/env node
// The first-creation race with bare kopia: N clients find one empty S3 prefix at the same
// moment. Each client talks to MinIO through its own recording proxy, so the order and timing
// of every storage request (the existence checks and the writes of kopia.blobcfg and
// kopia.repository) can be read per client. See docs/performance.md ("Concurrent first creation").
//
//   node bench/creation-race.mjs [--variant=bare|today|recheck|verify|publish] [--create-only]
//                                [--rounds=10] [--clients=8] [--jitter-ms=2000] [--settle-ms=3000]
//                                [--snapshot] [--json=FILE]
//
// Variants (each client is a sequence of bare kopia processes, no kopia-mover):
//   bare     `repository create` at once
//   today    `repository connect`, and `repository create` when kopia says "not initialized"
//   recheck  today, but a jittered pause and a second connect before creating; a client whose
//            create fails because data appeared reconnects (bounded retries with jitter)
//   verify   recheck, then every client that saw the repository missing waits --settle-ms and
//            opens the repository afresh (new config file and cache dir) and compares kopia's
//            unique ID (`repository status --json` .uniqueIDHex) with its own connection's; a
//            client on another repository disconnects and reconnects to the one in storage
//   publish  verify, but the creating client makes the repository in a private filesystem location
//            (`create --create-only`, `connect`) and copies it into the prefix with `repository
//            sync-to`, which checks for kopia.repository and writes it first; if the verify finds
//            kopia.repository and kopia.blobcfg of two creators, the client whose kopia.repository
//            is in storage writes its pair again (`set-parameters` on its copy, `sync-to`)
//   --create-only  `repository create --create-only` (no connect and no default policy written by
//            the create), then a separate `repository connect`
// --snapshot: every client that succeeded snapshots a small tree; the round then lists the
// snapshots and runs `snapshot verify --verify-files-percent=100` from a fresh connection.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadServers, repoRoot } from './servers.mjs';
import { benchFlags } from './options.mjs';

const KOPIA = join(repoRoot, 'tools', 'bin', 'kopia');
const PASSWORD = 'creation race password';
const BUCKET = 'race';

function options(argv) {
  const known = ['variant', 'create-only', 'rounds', 'clients', 'jitter-ms', 'settle-ms', 'snapshot', 'json', 'dir'];
  const { pick, yes, int } = benchFlags(argv, {}, known);
  const o = {
    variant: pick('variant') ?? 'bare',
    'create-only': yes(pick('create-only')),
    rounds: int(pick('rounds'), '--rounds', 10),
    clients: int(pick('clients'), '--clients', 8),
    'jitter-ms': int(pick('jitter-ms'), '--jitter-ms', 2000, 0),
    'settle-ms': int(pick('settle-ms'), '--settle-ms', 3000, 0),
    snapshot: yes(pick('snapshot')),
    json: pick('json'),
    dir: pick('dir') ?? join(repoRoot, '.bench-data', 'creation-race'),
  };
  if (!['bare', 'today', 'recheck', 'verify', 'publish'].includes(o.variant)) throw new Error(`unknown variant ${o.variant}`);
  return o;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// A recording proxy per client: every S3 request with its start and end time.

function startProxy(id, target, events) {
  const server = http.createServer((req, res) => {
    const t0 = now();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, 'http://x');
      const parts = decodeURIComponent(url.pathname).split('/').filter(Boolean); // bucket, prefix, key
      const list = url.searchParams.has('list-type') || (parts.length === 1 && req.method === 'GET');
      const event = {
        client: id,
        method: list ? 'LIST' : req.method,
        prefix: list ? (url.searchParams.get('prefix') ?? '').split('/')[0] : parts[1],
        key: list ? url.searchParams.get('prefix') ?? '' : parts.slice(2).join('/'),
        t0,
      };
      const uid = /"uniqueID":\s*"([^"]+)"/.exec(body.toString('latin1'));
      if (uid) event.uniqueID = uid[1];
      const up = http.request(
        { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
        (upRes) => {
          const out = [];
          upRes.on('data', (c) => out.push(c));
          upRes.on('end', () => {
            event.t1 = now();
            event.status = upRes.statusCode;
            event.etag = upRes.headers.etag?.replaceAll('"', '');
            const resBody = Buffer.concat(out);
            const ruid = /"uniqueID":\s*"([^"]+)"/.exec(resBody.toString('latin1'));
            if (ruid && req.method === 'GET') event.uniqueID = ruid[1];
            if (req.method === 'GET' && upRes.statusCode === 200 && !list) event.md5 = createHash('md5').update(resBody).digest('hex');
            events.push(event);
            res.writeHead(upRes.statusCode, upRes.headers);
            res.end(resBody);
          });
        },
      );
      up.on('error', (err) => {
        event.t1 = now();
        event.status = 0;
        event.error = String(err);
        events.push(event);
        res.destroy();
      });
      up.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port, close: () => server.close() })));
}

// ---------------------------------------------------------------------------
// kopia

function kopia(ctx, args, configDir) {
  const t0 = now();
  const full = [...args, `--config-file=${join(configDir, 'kopia.config')}`, `--log-dir=${join(configDir, 'logs')}`];
  return new Promise((resolve) => {
    const child = spawn(KOPIA, full, {
      env: {
        PATH: process.env.PATH,
        HOME: ctx.home,
        KOPIA_PASSWORD: PASSWORD,
        KOPIA_CHECK_FOR_UPDATES: 'false',
        AWS_ACCESS_KEY_ID: ctx.server.accessKey,
        AWS_SECRET_ACCESS_KEY: ctx.server.secretKey,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => {
      const error = stderr.split('\n').reverse().find((l) => /ERROR|error/.test(l)) ?? '';
      resolve({ cmd: args.slice(0, 2).join(' '), code, stdout, stderr, error: error.trim(), kind: classify(stderr), t0, t1: now() });
    });
  });
}

function classify(stderr) {
  if (/repository not initialized/.test(stderr)) return 'not-initialized';
  if (/found existing data in storage location/.test(stderr)) return 'existing-data';
  if (/repository already initialized/.test(stderr)) return 'already-initialized';
  if (/possible corruption: blobcfg blob exists/.test(stderr)) return 'blobcfg-without-format';
  if (/unable to decrypt repository blobcfg blob/.test(stderr)) return 'blobcfg-mismatch';
  if (/invalid repository password|unable to decrypt repository format/.test(stderr)) return 'format-mismatch';
  if (/unable to decrypt index blob|unable to decrypt/.test(stderr)) return 'undecryptable';
  return stderr.trim() ? 'other' : '';
}

function s3Args(ctx, port, prefix) {
  return ['s3', `--bucket=${BUCKET}`, `--prefix=${prefix}/`, `--endpoint=127.0.0.1:${port}`, '--disable-tls'];
}

function common(dir, user) {
  return [`--cache-directory=${join(dir, 'cache')}`, '--no-persist-credentials', `--override-username=${user}`, '--override-hostname=race'];
}

async function uniqueId(ctx, dir) {
  const r = await kopia(ctx, ['repository', 'status', '--json'], dir);
  if (r.code !== 0) return { id: undefined, result: r };
  return { id: JSON.parse(r.stdout).uniqueIDHex, result: r };
}

/** A fresh look at the repository in storage: a new config file and cache dir. */
async function freshOpen(ctx, prefix, label) {
  const dir = join(ctx.work, prefix, `fresh-${label}-${Math.random().toString(36).slice(2, 8)}`);
  const connect = await kopia(ctx, ['repository', 'connect', ...s3Args(ctx, ctx.verifierPort, prefix), ...common(dir, 'fresh')], dir);
  if (connect.code !== 0) return { ok: false, connect, dir };
  const { id } = await uniqueId(ctx, dir);
  return { ok: true, id, dir, connect };
}

// ---------------------------------------------------------------------------
// One client.

async function client(ctx, o, prefix, i) {
  const dir = join(ctx.work, prefix, `c${i}`);
  const user = `u${i}`;
  const storage = s3Args(ctx, ctx.proxies[i].port, prefix);
  const steps = [];
  const run = async (args, d = dir) => {
    const r = await kopia(ctx, args, d);
    steps.push({ cmd: r.cmd, code: r.code, kind: r.kind, error: r.code === 0 ? '' : r.error, t0: r.t0, t1: r.t1 });
    return r;
  };
  const connect = () => run(['repository', 'connect', ...storage, ...common(dir, user)]);
  const create = () => run(['repository', 'create', ...storage, ...common(dir, user), ...(o['create-only'] ? ['--create-only'] : [])]);
  // publish: the repository is made in a private filesystem location and copied into the shared
  // prefix with `repository sync-to`, which writes kopia.repository first, right after its own check.
  const stage = join(dir, 'stage');
  const stageStorage = ['filesystem', `--path=${join(dir, 'stage-repo')}`];
  const publish = async () => {
    const c = await run(['repository', 'create', ...stageStorage, ...common(stage, user), '--create-only'], stage);
    if (c.code !== 0) return c;
    const k = await run(['repository', 'connect', ...stageStorage, ...common(stage, user)], stage);
    if (k.code !== 0) return k;
    return run(['repository', 'sync-to', ...storage], stage);
  };
  const jitter = (ms) => sleep(Math.random() * ms);
  const state = { i, user, dir, steps, created: false, sawMissing: false, ok: false };

  /** Loser path: the repository appeared (or is being written); connect with bounded retries. */
  const reconnect = async (first = 1) => {
    // Bounded by time, not attempts: a client that repairs the pair may need a few settle periods.
    const deadline = now() + 60_000;
    for (let attempt = 0; now() < deadline; attempt++) {
      if (attempt > 0 || first) await sleep(250 * 2 ** Math.min(attempt, 3) + Math.random() * 500);
      const r = await connect();
      if (r.code === 0) return true;
      if (!['not-initialized', 'blobcfg-mismatch', 'format-mismatch', 'blobcfg-without-format', 'undecryptable'].includes(r.kind)) return false;
    }
    return false;
  };

  if (o.variant === 'bare') {
    const r = await create();
    state.created = r.code === 0;
    state.ok = state.created;
    state.sawMissing = true;
  } else {
    let r = await connect();
    if (r.code === 0) state.ok = true;
    else if (r.kind === 'not-initialized') {
      state.sawMissing = true;
      if (o.variant !== 'today') {
        await jitter(o['jitter-ms']);
        r = await connect();
      }
      if (r.code === 0) state.ok = true;
      else if (r.kind === 'not-initialized') {
        const c = o.variant === 'publish' ? await publish() : await create();
        if (c.code === 0 && (o['create-only'] || o.variant === 'publish')) {
          state.created = true;
          state.ok = await reconnect(0);
        } else if (c.code === 0) state.ok = state.created = true;
        else if (o.variant === 'publish' && /incompatible data/.test(c.stderr)) state.ok = await reconnect();
        else if (o.variant !== 'today' && ['existing-data', 'already-initialized', 'blobcfg-without-format', 'blobcfg-mismatch'].includes(c.kind)) {
          state.ok = await reconnect();
        }
      } else if (o.variant !== 'today') {
        state.ok = await reconnect();
      }
    }
    if (['verify', 'publish'].includes(o.variant) && state.sawMissing && (state.ok || (o.variant === 'publish' && state.created))) {
      // Converge: the repository in storage is the one a fresh connect opens.
      let mismatches = 0;
      for (let attempt = 0; attempt < 6; attempt++) {
        await sleep(o['settle-ms'] * (0.75 + Math.random() * 0.5));
        const fresh = await freshOpen(ctx, prefix, `c${i}-${attempt}`);
        const own = state.ok ? await uniqueId(ctx, dir) : { id: undefined };
        const kind = fresh.ok ? (own.id !== undefined && fresh.id === own.id ? 'same' : 'other-repository') : fresh.connect.kind;
        steps.push({ cmd: 'verify', code: kind === 'same' ? 0 : 1, kind, t0: fresh.connect.t0, t1: now() });
        if (kind === 'same') {
          state.verified = true;
          break;
        }
        const rejoin = async () => {
          // This connection is to a repository that lost (or there is none): join the one in storage.
          if (state.ok) await run(['repository', 'disconnect']);
          rmSync(join(dir, 'cache'), { recursive: true, force: true });
          state.ok = await reconnect();
        };
        if (kind === 'other-repository') await rejoin();
        else if (kind === 'blobcfg-mismatch' && o.variant === 'publish' && state.created && ++mismatches >= 2) {
          // Storage holds kopia.repository and kopia.blobcfg of two creators. If kopia.repository is
          // this client's, write both blobs of its private copy again (newer) and copy them over;
          // sync-to refuses when kopia.repository is someone else's.
          await run(['repository', 'set-parameters', '--max-pack-size-mb=20'], stage);
          const again = await run(['repository', 'sync-to', ...storage], stage);
          state.repaired = again.code === 0;
          await rejoin();
        }
      }
      state.ok = state.ok && state.verified === true;
    }
  }
  if (state.ok) state.uniqueID = (await uniqueId(ctx, dir)).id;
  if (state.ok && o.snapshot) {
    const src = join(dir, 'data');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'file.txt'), `client ${i} ${prefix}\n`);
    const s = await run(['snapshot', 'create', src]);
    state.snapshotOk = s.code === 0;
  }
  return state;
}

// ---------------------------------------------------------------------------

function b64ToHex(b64) {
  return Buffer.from(b64, 'base64').toString('hex');
}

async function round(ctx, o, r) {
  const prefix = `${o.variant}-${r}-${Date.now().toString(36)}`;
  const start = now();
  const clients = await Promise.all(Array.from({ length: o.clients }, (_, i) => client(ctx, o, prefix, i)));
  const wall = now() - start;
  await sleep(200);
  const fresh = await freshOpen(ctx, prefix, 'final');
  const ev = ctx.events.filter((e) => e.prefix === prefix);
  // Which clients wrote which blob, and which write is the one in storage (its ETag).
  const puts = (key) => ev.filter((e) => e.method === 'PUT' && e.key === key && e.status === 200).sort((a, b) => a.t1 - b.t1);
  const repoPuts = puts('kopia.repository');
  const cfgPuts = puts('kopia.blobcfg');
  const finalGet = (key) => ev.filter((e) => e.client === 'v' && e.method === 'GET' && e.key === key && e.status === 200).at(-1);
  const finalRepo = finalGet('kopia.repository');
  const finalCfg = finalGet('kopia.blobcfg');
  const owner = (puts_, get) => (get ? puts_.find((p) => p.etag === get.etag)?.client : undefined);
  const repoOwner = finalRepo ? owner(repoPuts, finalRepo) ?? (repoPuts.at(-1)?.client) : repoPuts.at(-1)?.client;
  const cfgOwner = finalCfg ? owner(cfgPuts, finalCfg) : cfgPuts.at(-1)?.client;
  // The existence checks of each client that wrote kopia.repository, against its writes.
  const timeline = repoPuts.map((p) => {
    const mine = ev.filter((e) => e.client === p.client);
    const list = mine.filter((e) => e.method === 'LIST' && e.t1 <= p.t0).at(-1);
    const getRepo = mine.filter((e) => e.method === 'GET' && e.key === 'kopia.repository' && e.status === 404 && e.t1 <= p.t0).at(-1);
    const getCfg = mine.filter((e) => e.method === 'GET' && e.key === 'kopia.blobcfg' && e.status === 404 && e.t1 <= p.t0).at(-1);
    const putCfg = mine.filter((e) => e.method === 'PUT' && e.key === 'kopia.blobcfg' && e.t1 <= p.t1).at(-1);
    return {
      client: p.client,
      listEnd: list ? Math.round(list.t1 - start) : null,
      lastCheckEnd: getCfg ? Math.round(getCfg.t1 - start) : null,
      cfgPutStart: putCfg ? Math.round(putCfg.t0 - start) : null,
      repoPutEnd: Math.round(p.t1 - start),
      // From the first existence check of this attempt (the LIST of `create`, or the GET of
      // kopia.repository of `sync-to`) to the end of the write of kopia.repository.
      checkToRepoWriteMs: list ? Math.round(p.t1 - list.t1) : getRepo ? Math.round(p.t1 - getRepo.t1) : null,
      keyDerivationGapMs: getCfg && putCfg ? Math.round(putCfg.t0 - getCfg.t1) : null,
      uniqueID: p.uniqueID ? b64ToHex(p.uniqueID) : undefined,
      getRepo404: Boolean(getRepo),
    };
  });
  const finalId = fresh.ok ? fresh.id : undefined;
  const ok = clients.filter((c) => c.ok);
  let snapshots = null;
  let verify = null;
  if (fresh.ok && o.snapshot) {
    const l = await kopia(ctx, ['snapshot', 'list', '--all', '--json'], fresh.dir);
    snapshots = l.code === 0 ? new Set(JSON.parse(l.stdout).map((s) => s.source.userName)).size : `error: ${l.error}`;
    const v = await kopia(ctx, ['snapshot', 'verify', '--verify-files-percent=100'], fresh.dir);
    verify = v.code === 0 ? 'clean' : `exit ${v.code}: ${v.error}`;
  }
  const result = {
    round: r,
    prefix,
    wallMs: Math.round(wall),
    exit0: ok.length,
    created: clients.filter((c) => c.created).length,
    wroteRepositoryBlob: new Set(repoPuts.map((p) => p.client)).size,
    failures: clients.filter((c) => !c.ok).map((c) => c.steps.filter((s) => s.code !== 0).map((s) => `${s.cmd}:${s.kind}`).join(',')),
    freshConnect: fresh.ok ? 'ok' : fresh.connect.kind || fresh.connect.error,
    finalPair: repoOwner === undefined ? 'none' : repoOwner === cfgOwner ? `c${repoOwner} (consistent)` : `repository c${repoOwner}, blobcfg c${cfgOwner} (MISMATCHED)`,
    // Clients that report success on a repository other than the one in storage: their work is lost.
    okOnAnotherRepository: ok.filter((c) => c.uniqueID !== finalId).length,
    snapshotsListed: snapshots,
    verify,
    timeline,
    repaired: clients.filter((c) => c.repaired).length,
    clients: clients.map((c) => ({ i: c.i, ok: c.ok, created: c.created, repaired: c.repaired, uniqueID: c.uniqueID, steps: c.steps.map((s) => ({ ...s, t0: Math.round(s.t0 - start), t1: Math.round(s.t1 - start) })) })),
  };
  return result;
}

async function main() {
  const o = options(process.argv.slice(2));
  rmSync(o.dir, { recursive: true, force: true });
  const ctx = { work: o.dir, home: join(o.dir, 'home'), events: [] };
  mkdirSync(ctx.home, { recursive: true });
  const servers = await loadServers();
  ctx.server = await servers.startS3Server();
  const results = [];
  try {
    await ctx.server.createBucket(BUCKET);
    const minioPort = Number(ctx.server.endpoint.split(':')[1]);
    ctx.proxies = await Promise.all(Array.from({ length: o.clients }, (_, i) => startProxy(i, minioPort, ctx.events)));
    const verifier = await startProxy('v', minioPort, ctx.events);
    ctx.verifierPort = verifier.port;
    for (let r = 1; r <= o.rounds; r++) {
      const res = await round(ctx, o, r);
      results.push(res);
      const t = res.timeline.map((x) => `c${x.client} list@${x.listEnd} check@${x.lastCheckEnd} cfg@${x.cfgPutStart} repo@${x.repoPutEnd} (check->write ${x.checkToRepoWriteMs} ms, key derivation ${x.keyDerivationGapMs} ms)`);
      console.log(
        `round ${r}: ${res.exitCode ?? ''}exit 0: ${res.exit0}/${o.clients}, created: ${res.created}, wrote kopia.repository: ${res.wroteRepositoryBlob}, ` +
          `${res.repaired ? `repaired by ${res.repaired}, ` : ''}fresh connect: ${res.freshConnect}, final pair: ${res.finalPair}, ok on another repository: ${res.okOnAnotherRepository}` +
          (o.snapshot ? `, snapshot sources listed: ${res.snapshotsListed}, verify: ${res.verify}` : '') + `, ${(res.wallMs / 1000).toFixed(1)} s`,
      );
      if (res.failures.length) console.log(`  failed clients: ${res.failures.join(' | ')}`);
      for (const line of t) console.log(`  ${line}`);
    }
    for (const p of ctx.proxies) p.close();
    verifier.close();
  } finally {
    await ctx.server.stop();
  }
  const sum = (f) => results.reduce((n, r) => n + f(r), 0);
  const summary = {
    variant: o.variant,
    rounds: o.rounds,
    clients: o.clients,
    jitterMs: o['jitter-ms'],
    settleMs: o['settle-ms'],
    roundsAllExit0: sum((r) => (r.exit0 === o.clients ? 1 : 0)),
    clientFailures: sum((r) => o.clients - r.exit0),
    roundsUnopenable: sum((r) => (r.freshConnect === 'ok' ? 0 : 1)),
    roundsMismatchedPair: sum((r) => (r.finalPair.includes('MISMATCHED') ? 1 : 0)),
    roundsWithOkOnAnotherRepository: sum((r) => (r.okOnAnotherRepository > 0 ? 1 : 0)),
    roundsWithSeveralCreators: sum((r) => (r.wroteRepositoryBlob > 1 ? 1 : 0)),
    checkToWriteMs: results.flatMap((r) => r.timeline.map((t) => t.checkToRepoWriteMs)).filter((x) => x !== null),
    keyDerivationMs: results.flatMap((r) => r.timeline.map((t) => t.keyDerivationGapMs)).filter((x) => x !== null),
  };
  console.log(JSON.stringify({ ...summary, checkToWriteMs: spreadOf(summary.checkToWriteMs), keyDerivationMs: spreadOf(summary.keyDerivationMs) }));
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ summary, results }, null, 2)}\n`);
}

function spreadOf(v) {
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s.at(-1), n: s.length };
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
