import type { StorageTarget } from '../backends/types.js';
import type { Secret } from '../secret.js';
import type { ManualConfig } from '../policy/manual-config.js';
import type { LOG_LEVELS } from '../kopia/vocabulary.js';
import type { Compressor } from '../kopia/vocabulary.js';
export type { Compressor };

export type Operation = 'backup' | 'restore' | 'maintenance';
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Identity {
  username: string;
  hostname: string;
}

export interface Retention {
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  latest?: number;
}

/** Everything the program needs, validated once at the edge. Nothing below config/ reads process.env. */
export interface MoverConfig {
  operation?: Operation;
  dataDir?: string;
  cacheDir: string;
  /** The program's default cache under HOME (XDG), used when KOPIA_CACHE_DIR is not set. */
  homeCacheDir: string;
  /** Where this run keeps its temp files (TMPDIR). */
  tmpDir: string;
  password: Secret;
  /** The repository to use first (structured config, legacy mounted config, or KOPIA_REPOSITORY). */
  storage?: StorageTarget;
  /** Further sources, tried in order when connecting with the first fails. */
  storageFallbacks: StorageTarget[];
  /**
   * kopia would store storage secrets in its config that it cannot read from its environment:
   * its config then stays in the run's private folder, never on the cache volume.
   */
  privateConnection: boolean;
  identity: Identity;
  maintenanceIdentity: Identity;
  /** The path snapshots are recorded under and looked up by. */
  sourcePath?: string;
  backup: {
    compression?: Compressor;
    parallelism?: number;
    retention: Retention;
    beforeSnapshot?: string;
    afterSnapshot?: string;
    actionTimeoutMs: number;
  };
  restore: {
    asOf?: Date;
    shallow?: number;
    previous: number;
    enableFileDeletion: boolean;
    discoverSnapshots: boolean;
  };
  /** KOPIA_ADDITIONAL_ARGS that go to `snapshot create` / `snapshot restore`. */
  additionalArgs: string[];
  /** The docs' --upload-speed / --download-speed from KOPIA_ADDITIONAL_ARGS, as the repository throttle. */
  throttleArgs: { uploadBytesPerSecond?: number; downloadBytesPerSecond?: number };
  /** KOPIA_ADDITIONAL_ARGS that are kopia policy settings: policy JSON sections for the snapshot path. */
  pathPolicyArgs: { files?: Record<string, unknown>; errorHandling?: Record<string, unknown> };
  files: {
    configPath?: string;
    globalPolicyFile?: string;
    repositoryConfigFile?: string;
    legacyRepositoryConfig: string;
    customCa?: string;
  };
  /** KOPIA_MANUAL_CONFIG, split into create-time flags, policy and cache. */
  manual?: ManualConfig;
  /** The `policies` section of KOPIA_STRUCTURED_REPOSITORY_CONFIG, in kopia's spelling. */
  structuredPolicy?: Record<string, unknown>;
  /** Fields of the JSON env configs that were not applied, with reasons. */
  configWarnings: string[];
  cache: {
    metadataLimitMb?: number;
    contentLimitMb?: number;
    skip: boolean;
    capacityBytes?: number;
    /** Soft cache sizes from a structured or manual config. */
    contentSoftMb?: number;
    metadataSoftMb?: number;
    forceRebuild: boolean;
  };
  kopiaLogging: {
    level?: LogLevel;
    fileLevel?: LogLevel;
    maxFiles: number;
    maxAge: string;
    contentMaxFiles: number;
    contentMaxAge: string;
  };
  output: {
    format: 'json' | 'pretty';
    terminationLog: string;
    progressIntervalMs: number;
    signalGraceMs: number;
  };
  /** First creation of a repository that other movers may be creating at the same moment. */
  creation: { jitterMs: number; settleMs: number };
  debugMover: boolean;
  /** PRIVILEGED_MOVER=1: the controller runs the mover as root with CHOWN/FOWNER, so owners can be restored. */
  privilegedMover: boolean;
}
