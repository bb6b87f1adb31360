import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Identity, MoverConfig } from '../config/types.js';
import { RepositoryError } from '../errors.js';
import type { KopiaCommand } from '../kopia/command.js';
import { repositoryMissing, wrongPassword } from '../kopia/errors.js';
import { kopiaConfigFile } from '../kopia/global-flags.js';
import type { KopiaRunner } from '../kopia/runner.js';

interface SavedConnection {
  storage?: { type?: string; config?: Record<string, unknown> };
  username?: string;
  hostname?: string;
  caching?: { contentCacheSizeLimitBytes?: number; metadataCacheSizeLimitBytes?: number };
}

/** What the cache dir's kopia.config says, if anything. A pure file read: no repository is touched. */
export function readSavedConnection(config: MoverConfig): SavedConnection | undefined {
  try {
    return JSON.parse(readFileSync(kopiaConfigFile(config), 'utf8')) as SavedConnection;
  } catch {
    return undefined;
  }
}

export type ConnectMode = 'connect-or-create' | 'connect-only';

/** The steps connecting needs, given what the cache holds. */
export interface ConnectPlan {
  reuse: boolean;
  steps: KopiaCommand[];
  /** Only run when the connect step reports that the repository does not exist. */
  create?: KopiaCommand;
}

function cacheFlags(config: MoverConfig): string[] {
  if (config.cache.skip) return [];
  const flags: string[] = [];
  if (config.cache.contentLimitMb !== undefined) flags.push(`--content-cache-size-limit-mb=${config.cache.contentLimitMb}`);
  if (config.cache.metadataLimitMb !== undefined) flags.push(`--metadata-cache-size-limit-mb=${config.cache.metadataLimitMb}`);
  return flags;
}

function cacheMatches(config: MoverConfig, saved: SavedConnection): boolean {
  const c = config.cache;
  if (c.skip) return true;
  const bytes = (mb: number | undefined) => (mb === undefined ? undefined : mb * 1_000_000);
  return (
    (c.contentLimitMb === undefined || saved.caching?.contentCacheSizeLimitBytes === bytes(c.contentLimitMb)) &&
    (c.metadataLimitMb === undefined || saved.caching?.metadataCacheSizeLimitBytes === bytes(c.metadataLimitMb))
  );
}

export function planConnect(config: MoverConfig, identity: Identity, mode: ConnectMode): ConnectPlan {
  const storage = config.storage;
  if (!storage) throw new RepositoryError('no repository configured');
  const saved = readSavedConnection(config);

  const secretsScrubbed = (storage.secretConfigKeys ?? []).some((key) => saved?.storage?.config?.[key] === undefined);
  if (saved?.storage && storage.matchesStorage(saved.storage) && !secretsScrubbed) {
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
    return { reuse: true, steps };
  }

  const common = [
    `--override-username=${identity.username}`,
    `--override-hostname=${identity.hostname}`,
    `--cache-directory=${config.cacheDir}`,
    '--no-persist-credentials',
    ...cacheFlags(config),
  ];
  // Secrets kopia reads from no environment variable travel in a 0600 temp file.
  const viaFile = storage.storageConfig !== undefined;
  const target = viaFile ? ['from-config'] : storage.args;
  const files = viaFile
    ? [{ flag: '--file', content: storage.storageConfig!, purpose: `${storage.backend} connection settings` }, ...storage.secretFiles]
    : storage.secretFiles;
  const connect: KopiaCommand = {
    args: ['repository', 'connect', ...target, ...common],
    purpose: `connect to ${storage.description}`,
    secretFiles: files,
  };
  const create: KopiaCommand | undefined =
    mode === 'connect-or-create'
      ? {
          args: ['repository', 'create', ...target, ...common],
          purpose: `create ${storage.description}`,
          when: 'only if the repository does not exist yet',
          secretFiles: files,
        }
      : undefined;
  return { reuse: false, steps: [connect], create };
}

/** Connects (or reuses the connection, or creates the repository) and sets identity and cache limits. */
export async function connect(
  config: MoverConfig,
  runner: KopiaRunner,
  identity: Identity,
  mode: ConnectMode,
): Promise<{ created: boolean; reused: boolean }> {
  const plan = planConnect(config, identity, mode);
  const [first, ...rest] = plan.steps;
  if (!plan.reuse && first) {
    const result = await runner.run(first);
    if (result.exitCode === 0) return { created: false, reused: false };
    if (repositoryMissing(result.tail) && plan.create) {
      const created = await runner.run(plan.create);
      if (created.exitCode === 0) return { created: true, reused: false };
      throw new RepositoryError(`could not create ${config.storage?.description}`, created.tail.join('\n'));
    }
    const reason = wrongPassword(result.tail)
      ? 'wrong repository password'
      : repositoryMissing(result.tail)
        ? 'the repository does not exist'
        : 'connect failed';
    throw new RepositoryError(`could not connect to ${config.storage?.description}: ${reason}`, result.tail.join('\n'));
  }
  for (const step of plan.reuse ? plan.steps : rest) {
    const result = await runner.run(step);
    if (result.exitCode !== 0) {
      throw new RepositoryError(`${step.purpose} failed`, result.tail.join('\n'));
    }
  }
  return { created: false, reused: plan.reuse };
}

/**
 * Removes the storage secrets kopia wrote into kopia.config, so the cache
 * volume never keeps them after the run. Rewritten atomically, mode 0600.
 */
export function scrubSavedSecrets(config: MoverConfig): void {
  const keys = config.storage?.secretConfigKeys ?? [];
  if (keys.length === 0) return;
  const path = kopiaConfigFile(config);
  const saved = readSavedConnection(config) as (SavedConnection & Record<string, unknown>) | undefined;
  const storageConfig = saved?.storage?.config;
  if (!saved || !storageConfig || !keys.some((k) => k in storageConfig)) return;
  for (const key of keys) delete storageConfig[key];
  writeFileSync(`${path}.scrub`, JSON.stringify(saved, null, 2), { mode: 0o600 });
  renameSync(`${path}.scrub`, path);
}
