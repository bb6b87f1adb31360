import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageTarget } from '../backends/types.js';
import { storageCandidates } from '../config/candidates.js';
import type { MoverConfig } from '../config/parse.js';
import type { Identity } from '../config/types.js';
import { RepositoryError } from '../errors.js';
import type { Facts, SavedConnection } from '../facts.js';
import type { KopiaCommand } from '../kopia/command.js';
import { classifyKopiaOutput } from '../kopia/failures.js';
import { savedConfigFile } from '../kopia/global-flags.js';
import { kopiaConfigStorageSchema, readKopiaConfig, type KopiaConfigStorage } from '../kopia/models/kopia-config.js';
import type { KopiaResult } from '../kopia/runner.js';
import type { Condition, RunState, Step, StepId } from '../plan/step.js';
import { clearRebuildableCache } from './cache-recovery.js';
import { forgetApplied } from './state.js';

export type ConnectMode = 'connect-or-create' | 'connect-only';

export interface ConnectOptions {
  /**
   * Whether kopia may run policy actions: a setting of the connection, not of the repository.
   * Undefined leaves it as kopia's default (off) and lets any saved connection be reused as it is.
   */
  enableActions?: boolean;
}

/** The flag a plan sets once this run created the repository itself. */
export const CREATED: Condition = { on: 'flag', flag: 'created', describe: 'the repository was created in this run' };

/** How long movers keep connecting while another mover's create is half-written. */
const CREATION_WAIT_MS = 60_000;

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

function connectCommands(config: MoverConfig, storage: StorageTarget, identity: Identity, options: ConnectOptions) {
  const common = [
    `--override-username=${identity.username}`,
    `--override-hostname=${identity.hostname}`,
    `--cache-directory=${config.cacheDir}`,
    '--no-persist-credentials',
    ...cacheFlags(config),
  ];
  if (options.enableActions !== undefined) common.push(options.enableActions ? '--enable-actions' : '--no-enable-actions');
  const connect: KopiaCommand = {
    args: ['repository', 'connect', ...storage.args, ...common],
    purpose: `connect to ${storage.description}`,
    secretFiles: storage.secretFiles,
  };
  // --create-only: the format blobs and nothing else. A creator that loses a race with another
  // must not have written policies or indexes under its own key; everyone connects afterwards.
  const create: KopiaCommand = {
    args: ['repository', 'create', ...storage.args, ...common, '--create-only', ...(config.manual?.createFlags ?? [])],
    purpose: `create ${storage.description}`,
    secretFiles: storage.secretFiles,
  };
  return { connect, create };
}

/**
 * Removes the storage secrets kopia wrote into kopia.config, so the cache volume never keeps them.
 * Rewritten atomically, mode 0600.
 */
export function scrubSavedSecrets(config: MoverConfig): void {
  const keys = storageCandidates(config).flatMap((c) => c.secretConfigKeys ?? []);
  const path = savedConfigFile(config);
  if (keys.length === 0 || path === undefined) return;
  let saved: KopiaConfigStorage;
  try {
    saved = readKopiaConfig(path, kopiaConfigStorageSchema);
  } catch {
    // Missing or unreadable, or without a saved storage: kopia has no storage secret there to keep.
    return;
  }
  const storageConfig = saved.storage.config;
  if (!keys.some((k) => k in storageConfig)) return;
  for (const key of keys) delete storageConfig[key];
  writeFileSync(`${path}.scrub`, JSON.stringify(saved, null, 2), { mode: 0o600 });
  renameSync(`${path}.scrub`, path);
}

function connectFailure(storage: StorageTarget, result: KopiaResult | undefined): RepositoryError {
  // The reason comes from kopia's raw words: redaction may have changed the ones that decide.
  const verdict = classifyKopiaOutput(result?.rawTail ?? []);
  const reason = verdict.class === 'NotInitialized' ? 'the repository does not exist' : verdict.class === 'Unknown' ? 'connect failed' : verdict.what;
  return new RepositoryError(`could not connect to ${storage.description}: ${reason}`, (result?.tail ?? []).join('\n'), verdict.class === 'Unknown' ? undefined : verdict);
}

/**
 * The steps that connect a run to its repository. A saved connection to this repository is reused
 * (with the identity and cache settings brought up to date only when they differ); otherwise each
 * source is tried in the contract's order. With `connect-or-create`, and only when the last source
 * reports that no repository exists, the repository is created, safely when many movers find the
 * same empty repository at once (VolSync users apply many ReplicationSources together).
 *
 * kopia's create checks that the location is empty, spends a key derivation's time (up to seconds
 * under load), then writes kopia.blobcfg and kopia.repository unconditionally: two creators that
 * both checked before either wrote overwrite each other, what one of them wrote under its own key
 * is lost, and a pair left from two creators opens for nobody. How a first creation stays safe is
 * in creationSteps and docs/creation-race.md.
 */
export function connectSteps(config: MoverConfig, facts: Facts, identity: Identity, mode: ConnectMode, options: ConnectOptions = {}): Step[] {
  const candidates = storageCandidates(config);
  if (candidates.length === 0) throw new RepositoryError('no repository configured');
  const steps: Step[] = [];

  if (config.cache.forceRebuild) {
    steps.push({ id: 'force-cache-rebuild', kind: 'internal', describe: 'KOPIA_FORCE_CACHE_REBUILD: clear the rebuildable cache when safe', run: forcedRebuild });
  }

  const saved = facts.savedConnection;
  const reused = candidates.find((c) => reusable(c, saved, options));
  if (reused && saved) {
    if (saved.username !== identity.username || saved.hostname !== identity.hostname) {
      steps.push({
        id: 'set-client',
        kind: 'kopia',
        command: {
          args: ['repository', 'set-client', `--username=${identity.username}`, `--hostname=${identity.hostname}`],
          purpose: `set client identity to ${identity.username}@${identity.hostname}`,
        },
        fail: (result) => new RepositoryError(`setting the client identity to ${identity.username}@${identity.hostname} failed`, result.tail.join('\n')),
      });
    }
    if (!cacheSettings(config).every((s) => saved.caching?.[s.key] === s.mb * 1_000_000)) {
      steps.push({
        id: 'cache-set',
        kind: 'kopia',
        command: { args: ['cache', 'set', ...cacheFlags(config)], purpose: 'set cache limits' },
        fail: (result) => new RepositoryError('setting the cache limits failed', result.tail.join('\n')),
      });
    }
    steps.push({ id: 'connected', kind: 'internal', describe: 'reuse the saved connection', run: connected });
    return steps;
  }

  const ids = candidates.map((_, i): StepId => (i === 0 ? 'connect' : `connect-${i + 1}`));
  candidates.forEach((storage, i) => {
    steps.push({
      id: ids[i]!,
      kind: 'kopia',
      command: connectCommands(config, storage, identity, options).connect,
      when: i === 0 ? undefined : { on: 'outcome', step: ids[i - 1]!, is: ['not-initialized', 'creation-in-flight', 'create-lost', 'failed'] },
      continueOn: ['not-initialized', 'creation-in-flight', 'create-lost', 'failed'],
      expected: i < candidates.length - 1
        ? { 'not-initialized': `no repository through ${storage.description}: trying the next source` }
        : mode === 'connect-or-create' ? { 'not-initialized': 'no repository yet: creating it' } : undefined,
    });
  });

  const last = candidates.at(-1)!;
  const lastId = ids.at(-1)!;
  const firstFailure = (state: RunState) => connectFailure(candidates[0]!, state.results.get(ids[0]!));
  if (mode === 'connect-or-create') steps.push(...creationSteps(config, last, lastId, identity, options));
  steps.push({
    id: 'connected',
    kind: 'internal',
    describe: 'remove the storage secrets kopia wrote into kopia.config; fail with the first source\'s reason if none connected',
    run: (state) => {
      const connects: StepId[] = [...ids, 'connect-created', 'connect-fresh'];
      if (!connects.some((id) => state.outcomes.get(id) === 'ok')) throw firstFailure(state);
      // A new repository has none of the policies this cache remembers applying.
      if (state.found.created) forgetApplied(state.ctx.config);
      connected(state);
    },
  });
  // After `connected`: the storage secrets are off the cache volume before one more process runs.
  if (mode === 'connect-or-create') steps.push(...maintenanceOwnerSteps(config));
  return steps;
}

/** Flags of a filesystem repository's creation: whether this mover holds the creation lock. */
const SOLE: Condition = { on: 'flag', flag: 'creationLockHeld', describe: 'this mover holds the creation lock' };
const ELSEWHERE: Condition = { on: 'flag', flag: 'creationLockElsewhere', describe: 'another mover holds the creation lock' };

/** The file whose exclusive creation makes a mover the only creator of a filesystem repository. */
export const CREATION_LOCK = '.kopia-mover-creating';

/**
 * Takes the creation lock of a filesystem repository: an exclusive create of a file in its
 * directory, which exactly one mover wins, on local disks and NFS alike (kopia lists only its own
 * `.f` blobs, so the file is not data to kopia). The winner is the only mover that creates, so it
 * needs neither the pause nor the settle time; the others only connect, once its blobs are there.
 */
function takeCreationLock(dir: string, state: RunState): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(dir, error);
  }
  try {
    closeSync(openSync(join(dir, CREATION_LOCK), 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(dir, error);
    state.found.creationLockElsewhere = true;
    state.ctx.output.log.info({ lock: join(dir, CREATION_LOCK) }, 'another mover is creating the repository: waiting for it');
    return;
  }
  state.found.creationLockHeld = true;
}

function lockError(dir: string, error: unknown): RepositoryError {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  return new RepositoryError(`could not create ${join(dir, CREATION_LOCK)} to create the repository there (${code})`);
}

/** Gives the lock back once the create is over, so a later mover's create finds the blobs. */
function releaseCreationLock(storage: StorageTarget, state: RunState): void {
  if (state.found.creationLockHeld && storage.localPath !== undefined) rmSync(join(storage.localPath, CREATION_LOCK), { force: true });
}

interface CreationContext {
  storage: StorageTarget;
  connect: KopiaCommand;
  create: KopiaCommand;
  /** The last source's connect found no repository. */
  missing: Condition;
  connectFail: (result: KopiaResult) => RepositoryError;
}

const WAITING = 'the repository is still being created: trying again';
const RETRY = { while: ['not-initialized', 'creation-in-flight', 'create-lost'] as const, forMs: CREATION_WAIT_MS, firstPauseMs: 500 };

/**
 * The steps of a first creation, after the last source's connect found no repository. A
 * filesystem repository has a creation lock that picks its one creator; any other storage takes
 * the shared protocol (sharedCreation). Either way, once connected the creator leaves maintenance
 * to the maintenance identity (maintenanceOwnerSteps), so no backup ever becomes its owner.
 */
function creationSteps(config: MoverConfig, last: StorageTarget, lastId: StepId, identity: Identity, options: ConnectOptions): Step[] {
  const { connect, create } = connectCommands(config, last, identity, options);
  const mismatch = (result: KopiaResult) =>
    new RepositoryError(
      `could not connect to ${last.description}: movers created it at the same moment and its format blobs kopia.repository ` +
        'and kopia.blobcfg do not belong together; nothing was stored. With no snapshot in it yet, delete both blobs and run again',
      result.tail.join('\n'),
    );
  const c: CreationContext = {
    storage: last,
    connect,
    create,
    missing: { on: 'outcome', step: lastId, is: ['not-initialized'] },
    connectFail: (result) => (classifyKopiaOutput(result.rawTail).outcome === 'creation-in-flight' ? mismatch(result) : connectFailure(last, result)),
  };
  return last.localPath === undefined ? sharedCreation(c, config.creation) : lockedCreation(c, last.localPath);
}

function createStep(c: CreationContext, when: Condition): Step {
  return {
    id: 'create',
    kind: 'kopia',
    command: c.create,
    when,
    continueOn: ['create-lost'],
    expected: { 'create-lost': 'another mover created the repository first: connecting to it' },
    after: (_result, state) => {
      state.found.created = true;
    },
    fail: (result, state) => {
      releaseCreationLock(c.storage, state);
      return new RepositoryError(`could not create ${c.storage.description}`, result.tail.join('\n'));
    },
  };
}

function connectFreshStep(c: CreationContext, when: Condition): Step {
  return {
    id: 'connect-fresh',
    kind: 'kopia',
    command: c.connect,
    when,
    retry: RETRY,
    expected: { 'not-initialized': WAITING, 'creation-in-flight': WAITING },
    after: (_result, state) => {
      const created = state.found.created === true;
      state.ctx.output.log.info({ created }, created ? 'repository created and verified by a fresh connect' : 'connected to the repository another mover created');
    },
    fail: c.connectFail,
  };
}

/**
 * A filesystem repository: the mover that wins the creation lock creates and connects; a mover
 * that finds it taken never creates, it connects (retrying) once the holder's blobs are there.
 * With one creator nobody's blobs are overwritten, so nobody pauses or settles.
 */
function lockedCreation(c: CreationContext, dir: string): Step[] {
  const lockFile = join(dir, CREATION_LOCK);
  return [
    { id: 'creation-lock', kind: 'internal', describe: `take the creation lock ${lockFile}`, when: c.missing, run: (state) => takeCreationLock(dir, state) },
    createStep(c, SOLE),
    { id: 'creation-unlock', kind: 'internal', describe: `remove the creation lock ${lockFile}`, when: SOLE, run: (state) => releaseCreationLock(c.storage, state) },
    {
      id: 'connect-created',
      kind: 'kopia',
      command: c.connect,
      when: { on: 'any', of: [ELSEWHERE, { on: 'outcome', step: 'create', is: ['create-lost'] }] },
      retry: RETRY,
      expected: { 'not-initialized': WAITING, 'creation-in-flight': WAITING },
      after: (_result, state) => {
        state.ctx.output.log.info({ created: false }, 'connected to the repository another mover created');
      },
      fail: (result) =>
        classifyKopiaOutput(result.rawTail).outcome === 'not-initialized'
          ? new RepositoryError(
              `no repository appeared within ${CREATION_WAIT_MS / 1000} s while another mover held the creation lock ${lockFile}; ` +
                'remove the lock if no mover is creating the repository',
              result.tail.join('\n'),
            )
          : c.connectFail(result),
    },
    connectFreshStep(c, { on: 'all', of: [SOLE, CREATED] }),
  ];
}

/**
 * Any other storage, where every mover that found no repository takes part: a random pause and a
 * second look (most movers now find the first creator's repository); create only the format
 * blobs (--create-only); a create that finds data there lost the race and connects instead;
 * connecting retries while blobs are half-written; and after the settle time every mover that
 * took part connects afresh, without its cached format blobs, so it writes only into the
 * repository that stands.
 */
function sharedCreation(c: CreationContext, { jitterMs, settleMs }: MoverConfig['creation']): Step[] {
  return [
    { id: 'creation-pause', kind: 'internal', describe: `wait a random 0-${jitterMs / 1000} s: other movers may be creating the same repository`, when: c.missing, run: () => sleep(Math.random() * jitterMs) },
    {
      id: 'connect-again',
      kind: 'kopia',
      command: c.connect,
      when: c.missing,
      continueOn: ['not-initialized', 'creation-in-flight'],
      expected: { 'not-initialized': 'still no repository: creating it', 'creation-in-flight': 'another mover is creating the repository: waiting for it' },
      fail: c.connectFail,
    },
    createStep(c, { on: 'outcome', step: 'connect-again', is: ['not-initialized'] }),
    {
      id: 'connect-created',
      kind: 'kopia',
      command: c.connect,
      when: { on: 'any', of: [{ on: 'outcome', step: 'connect-again', is: ['creation-in-flight'] }, { on: 'outcome', step: 'create', is: ['create-lost'] }] },
      retry: RETRY,
      expected: { 'not-initialized': WAITING, 'creation-in-flight': WAITING },
      fail: c.connectFail,
    },
    {
      id: 'creation-settle',
      kind: 'internal',
      describe: `wait ${settleMs / 1000} s for any other creator, then forget the cached format blobs`,
      when: c.missing,
      run: async (state) => {
        await sleep(settleMs);
        for (const name of ['kopia.repository', 'kopia.blobcfg']) rmSync(join(state.ctx.config.cacheDir, name), { force: true });
      },
    },
    connectFreshStep(c, c.missing),
  ];
}

/** The creator hands maintenance to the maintenance identity; a failure leaves it to the job's claim. */
function maintenanceOwnerSteps(config: MoverConfig): Step[] {
  const owner = `${config.maintenanceIdentity.username}@${config.maintenanceIdentity.hostname}`;
  return [
    {
      id: 'maintenance-owner',
      kind: 'kopia',
      command: { args: ['maintenance', 'set', `--owner=${owner}`], purpose: `leave maintenance of the new repository to ${owner}` },
      when: CREATED,
      continueOn: ['failed'],
      after: (_result, state) => {
        state.ctx.output.log.info({ owner }, `maintenance is left to ${owner}`);
      },
    },
    {
      id: 'maintenance-owner-result',
      kind: 'internal',
      describe: 'a failed hand-over of maintenance is a warning: the maintenance job claims it on its first run',
      when: { on: 'outcome', step: 'maintenance-owner', is: ['failed'] },
      run: (state) => {
        const warning = `maintenance of the new repository could not be left to ${owner}; the maintenance job claims it on its first run`;
        state.ctx.output.log.warn(warning);
        state.ctx.summary.warnings.push(warning);
      },
    },
  ];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function connected(state: RunState): void {
  // Storage secrets kopia just wrote into the cache volume's config go at once, not at the end:
  // a run killed by SIGKILL gets no end.
  scrubSavedSecrets(state.ctx.config);
  state.ctx.output.line('Repository connected');
}

/** KOPIA_FORCE_CACHE_REBUILD: clear before connecting, under the same rules; a refusal is a warning. */
function forcedRebuild(state: RunState): void {
  const { ctx } = state;
  const result = clearRebuildableCache(ctx.config);
  if (result.cleared) {
    ctx.output.log.info({ folders: result.folders }, 'KOPIA_FORCE_CACHE_REBUILD: cache cleared');
    ctx.cacheRecoveryTried = true;
  } else {
    ctx.output.log.warn(`KOPIA_FORCE_CACHE_REBUILD: not cleared: ${result.reason}`);
    ctx.summary.warnings.push(`KOPIA_FORCE_CACHE_REBUILD not applied: ${result.reason}`);
  }
}
