import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StorageTarget } from '../backends/types.js';
import type { Identity, MoverConfig } from '../config/types.js';
import { RepositoryError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { createLost, creationInFlight, repositoryMissing, wrongPassword } from '../kopia/errors.js';
import { classifyKopiaOutput } from '../kopia/failures.js';
import { savedConfigFile } from '../kopia/global-flags.js';
import { clearRebuildableCache } from './cache-recovery.js';
import { runKopia, type RunContext } from './context.js';
import type { KopiaResult } from '../kopia/runner.js';

interface SavedConnection {
  storage?: { type?: string; config?: Record<string, unknown> };
  enableActions?: boolean;
  username?: string;
  hostname?: string;
  caching?: {
    maxCacheSize?: number;
    maxMetadataCacheSize?: number;
    contentCacheSizeLimitBytes?: number;
    metadataCacheSizeLimitBytes?: number;
  };
}

/** What the cache dir's kopia.config says, if anything. A pure file read: no repository is touched. */
export function readSavedConnection(config: MoverConfig): SavedConnection | undefined {
  const file = savedConfigFile(config);
  if (file === undefined) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SavedConnection;
  } catch {
    return undefined;
  }
}

export type ConnectMode = 'connect-or-create' | 'connect-only';

export interface ConnectOptions {
  /**
   * Whether kopia may run policy actions: a setting of the connection, not of the repository.
   * Undefined leaves it as kopia's default (off) and lets any saved connection be reused as it is.
   */
  enableActions?: boolean;
}

export function storageCandidates(config: MoverConfig): StorageTarget[] {
  return [config.storage, ...config.storageFallbacks].filter((t): t is StorageTarget => t !== undefined);
}

/** Cache settings as kopia flags, with the byte values kopia.config records for them. */
function cacheSettings(config: MoverConfig): { flag: string; key: keyof NonNullable<SavedConnection['caching']>; mb: number }[] {
  const c = config.cache;
  if (c.skip) return [];
  const all = [
    { flag: '--content-cache-size-limit-mb', key: 'contentCacheSizeLimitBytes' as const, mb: c.contentLimitMb },
    { flag: '--metadata-cache-size-limit-mb', key: 'metadataCacheSizeLimitBytes' as const, mb: c.metadataLimitMb },
    { flag: '--content-cache-size-mb', key: 'maxCacheSize' as const, mb: c.contentSoftMb },
    { flag: '--metadata-cache-size-mb', key: 'maxMetadataCacheSize' as const, mb: c.metadataSoftMb },
  ];
  return all.filter((s): s is { flag: string; key: typeof s.key; mb: number } => s.mb !== undefined);
}

function cacheFlags(config: MoverConfig): string[] {
  return cacheSettings(config).map((s) => `${s.flag}=${s.mb}`);
}

function cacheMatches(config: MoverConfig, saved: SavedConnection): boolean {
  return cacheSettings(config).every((s) => saved.caching?.[s.key] === s.mb * 1_000_000);
}

/**
 * A saved connection is reusable only if it is this repository, no secret of it was scrubbed, and
 * it allows policy actions exactly when the repository config asks for them.
 */
function reusable(storage: StorageTarget, saved: SavedConnection | undefined, options: ConnectOptions): boolean {
  if (!saved?.storage || !storage.matchesStorage(saved.storage)) return false;
  if (options.enableActions !== undefined && (saved.enableActions === true) !== options.enableActions) return false;
  if (storage.secretsFromEnvironment) return true;
  return (storage.secretConfigKeys ?? []).every((key) => saved.storage?.config?.[key] !== undefined);
}

function connectCommands(config: MoverConfig, storage: StorageTarget, identity: Identity, mode: ConnectMode, options: ConnectOptions) {
  const common = [
    `--override-username=${identity.username}`,
    `--override-hostname=${identity.hostname}`,
    `--cache-directory=${config.cacheDir}`,
    '--no-persist-credentials',
    ...cacheFlags(config),
  ];
  if (options.enableActions !== undefined) common.push(options.enableActions ? '--enable-actions' : '--no-enable-actions');
  const target = storage.args;
  const files = storage.secretFiles;
  const connect: KopiaCommand = {
    args: ['repository', 'connect', ...target, ...common],
    purpose: `connect to ${storage.description}`,
    secretFiles: files,
  };
  // --create-only: the format blobs and nothing else. A creator that loses a race with another
  // must not have written policies or indexes under its own key; everyone connects afterwards.
  const create: KopiaCommand | undefined =
    mode === 'connect-or-create'
      ? {
          args: ['repository', 'create', ...target, ...common, '--create-only', ...(config.manual?.createFlags ?? [])],
          purpose: `create ${storage.description}`,
          when: 'only if the repository still does not exist after a short random wait; then connect, wait for other creators to settle, and connect again',
          secretFiles: files,
        }
      : undefined;
  return { connect, create };
}

/** Steps after a reused connection: identity and cache settings, only when they differ. */
function reuseSteps(config: MoverConfig, saved: SavedConnection, identity: Identity): KopiaCommand[] {
  const steps: KopiaCommand[] = [];
  if (saved.username !== identity.username || saved.hostname !== identity.hostname) {
    steps.push({
      args: ['repository', 'set-client', `--username=${identity.username}`, `--hostname=${identity.hostname}`],
      purpose: `set client identity to ${identity.username}@${identity.hostname}`,
    });
  }
  if (!cacheMatches(config, saved)) {
    steps.push({ args: ['cache', 'set', ...cacheFlags(config)], purpose: 'set cache limits' });
  }
  return steps;
}

/** The steps connecting needs, given what the cache holds (for plans and for counting). */
export interface ConnectPlan {
  reuse: boolean;
  steps: KopiaCommand[];
  /** Only run when connecting reports that the repository does not exist. */
  create?: KopiaCommand;
}

export function planConnect(config: MoverConfig, identity: Identity, mode: ConnectMode, options: ConnectOptions = {}): ConnectPlan {
  const candidates = storageCandidates(config);
  if (candidates.length === 0) throw new RepositoryError('no repository configured');
  const saved = readSavedConnection(config);
  const reused = candidates.find((c) => reusable(c, saved, options));
  if (reused && saved) return { reuse: true, steps: reuseSteps(config, saved, identity) };
  const commands = candidates.map((c) => connectCommands(config, c, identity, mode, options));
  return {
    reuse: false,
    steps: commands.map((c, i) => (i === 0 ? c.connect : { ...c.connect, when: 'only if the sources before it failed' })),
    create: commands[0]?.create,
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A filesystem repository lives on a mounted volume. When its directory is missing the volume is
 * not mounted: a restore or maintenance stops there, and a backup creates a repository only inside
 * an existing parent, never the whole path on the container's own disk where it would be lost.
 */
function checkRepositoryVolumes(config: MoverConfig, mode: ConnectMode): void {
  for (const storage of storageCandidates(config)) {
    const path = storage.localPath;
    if (path === undefined || isDirectory(path)) continue;
    if (mode === 'connect-only') {
      throw new RepositoryError(`repository volume is not mounted at ${path}: the filesystem repository's directory does not exist`);
    }
    const parent = dirname(path);
    if (!isDirectory(parent)) {
      throw new RepositoryError(
        `repository volume is probably not mounted: ${parent} does not exist, so no repository is created at ${path}`,
      );
    }
  }
}

/**
 * Connects: reuses the cache's connection when it is this repository; otherwise
 * tries each source in order; creates a repository only when none connected and
 * kopia said the repository does not exist. Any other failure (wrong password,
 * unreachable, denied) never leads to a create.
 */
export async function connect(
  ctx: RunContext,
  identity: Identity,
  mode: ConnectMode,
  options: ConnectOptions = {},
): Promise<{ created: boolean; reused: boolean }> {
  const { config } = ctx;
  const run = (command: KopiaCommand) => runKopia(ctx, command);
  checkRepositoryVolumes(config, mode);
  if (config.cache.forceRebuild) forcedRebuild(ctx);
  const plan = planConnect(config, identity, mode, options);
  if (plan.reuse) {
    for (const step of plan.steps) {
      const result = await run(step);
      if (result.exitCode !== 0) throw new RepositoryError(`${step.purpose} failed`, result.tail.join('\n'));
    }
    ctx.output.line('Repository connected');
    return { created: false, reused: true };
  }

  const candidates = storageCandidates(config);
  const failures: { storage: StorageTarget; tail: string[]; missing: boolean }[] = [];
  for (const storage of candidates) {
    const { connect: command } = connectCommands(config, storage, identity, mode, options);
    const result = await run(command);
    if (result.exitCode === 0) {
      // Storage secrets kopia just wrote into the cache volume's config go at once, not at the end:
      // a run killed by SIGKILL gets no end.
      scrubSavedSecrets(config);
      ctx.output.line('Repository connected');
      return { created: false, reused: false };
    }
    failures.push({ storage, tail: result.tail, missing: repositoryMissing(result.tail) });
  }

  const missing = failures.find((f) => f.missing);
  if (missing && mode === 'connect-or-create') {
    const created = await createRepository(ctx, connectCommands(config, missing.storage, identity, mode, options), missing.storage);
    scrubSavedSecrets(config);
    ctx.output.line('Repository connected');
    return { created, reused: false };
  }
  const first = failures[0]!;
  const reason = wrongPassword(first.tail)
    ? 'wrong repository password'
    : first.missing
      ? 'the repository does not exist'
      : (classifyKopiaOutput(first.tail.join('\n'))?.what ?? 'connect failed');
  throw new RepositoryError(
    `could not connect to ${first.storage.description}: ${reason}`,
    failures.map((f) => f.tail.join('\n')).join('\n'),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How long losers of a creation race keep connecting while the winner's blobs land. */
const CREATION_WAIT_MS = 60_000;

/**
 * First creation, safe when many movers find the same empty repository at once (VolSync users
 * apply many ReplicationSources together). kopia's create checks that the location is empty, takes
 * a key derivation's time (up to a second or two under load), then writes kopia.blobcfg and
 * kopia.repository unconditionally: two creators that both checked before either wrote overwrite
 * each other, and what one of them wrote under its own key is lost, or the pair left behind comes
 * from two creators and opens for nobody. So: a random pause, then look again (most movers now find
 * the first creator's repository); create only the format blobs (--create-only); a create that
 * finds data there lost the race and connects instead; connecting retries while a creator's blobs
 * are half-written; and after a settle time longer than a create takes, every mover that took part
 * connects afresh, without its cached copy of the format blobs, so it writes only into the
 * repository that stands. Returns whether this mover's create is the one that stood.
 */
async function createRepository(
  ctx: RunContext,
  commands: { connect: KopiaCommand; create?: KopiaCommand },
  storage: StorageTarget,
): Promise<boolean> {
  const { config, output } = ctx;
  const { jitterMs, settleMs } = config.creation;
  await sleep(Math.random() * jitterMs);
  let result = await runKopia(ctx, commands.connect);
  let created = false;
  if (result.exitCode !== 0) {
    if (!creationInFlight(result.tail)) throw connectFailure(storage, result.tail);
    if (repositoryMissing(result.tail)) {
      const attempt = await runKopia(ctx, commands.create!);
      if (attempt.exitCode === 0) created = true;
      else if (createLost(attempt.tail)) output.log.info('another mover created the repository at the same time: connecting to it');
      else throw new RepositoryError(`could not create ${storage.description}`, attempt.tail.join('\n'));
    }
    result = await connectWhileCreating(ctx, commands.connect, storage);
  }
  // A creator that checked before these blobs were written may still overwrite them: wait longer
  // than a create takes, then connect again from what storage holds now, not from the cache.
  await sleep(settleMs);
  for (const name of ['kopia.repository', 'kopia.blobcfg']) rmSync(join(config.cacheDir, name), { force: true });
  result = await connectWhileCreating(ctx, commands.connect, storage);
  output.log.info({ created }, created ? 'repository created and verified by a fresh connect' : 'connected to the repository another mover created');
  return created;
}

/** Connects, retrying with growing, jittered pauses while another mover's create is in flight. */
async function connectWhileCreating(ctx: RunContext, command: KopiaCommand, storage: StorageTarget): Promise<KopiaResult> {
  const deadline = Date.now() + CREATION_WAIT_MS;
  for (let pause = 500; ; pause = Math.min(pause * 2, 8000)) {
    const result = await runKopia(ctx, command);
    if (result.exitCode === 0) return result;
    if (!creationInFlight(result.tail)) throw connectFailure(storage, result.tail);
    if (Date.now() + pause > deadline) {
      throw new RepositoryError(
        `could not connect to ${storage.description}: movers created it at the same moment and its format blobs ` +
          'kopia.repository and kopia.blobcfg do not belong together; nothing was stored. With no snapshot in it yet, delete both blobs and run again',
        result.tail.join('\n'),
      );
    }
    await sleep(pause / 2 + (Math.random() * pause) / 2);
  }
}

function connectFailure(storage: StorageTarget, tail: string[]): RepositoryError {
  const reason = wrongPassword(tail) ? 'wrong repository password' : (classifyKopiaOutput(tail.join('\n'))?.what ?? 'connect failed');
  return new RepositoryError(`could not connect to ${storage.description}: ${reason}`, tail.join('\n'));
}

/**
 * Removes the storage secrets kopia wrote into kopia.config, so the cache
 * volume never keeps them after the run. Rewritten atomically, mode 0600.
 */
export function scrubSavedSecrets(config: MoverConfig): void {
  const keys = storageCandidates(config).flatMap((c) => c.secretConfigKeys ?? []);
  if (keys.length === 0) return;
  const path = savedConfigFile(config);
  if (path === undefined) return;
  const saved = readSavedConnection(config) as (SavedConnection & Record<string, unknown>) | undefined;
  const storageConfig = saved?.storage?.config;
  if (!saved || !storageConfig || !keys.some((k) => k in storageConfig)) return;
  for (const key of keys) delete storageConfig[key];
  writeFileSync(`${path}.scrub`, JSON.stringify(saved, null, 2), { mode: 0o600 });
  renameSync(`${path}.scrub`, path);
}

/** KOPIA_FORCE_CACHE_REBUILD: clear before connecting, under the same rules; a refusal is a warning. */
function forcedRebuild(ctx: RunContext): void {
  const result = clearRebuildableCache(ctx.config);
  if (result.cleared) {
    ctx.output.log.info({ folders: result.folders }, 'KOPIA_FORCE_CACHE_REBUILD: cache cleared');
    ctx.cacheRecoveryTried = true;
  } else {
    ctx.output.log.warn(`KOPIA_FORCE_CACHE_REBUILD: not cleared: ${result.reason}`);
    ctx.summary.warnings.push(`KOPIA_FORCE_CACHE_REBUILD not applied: ${result.reason}`);
  }
}
