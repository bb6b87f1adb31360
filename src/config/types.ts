import type { StorageTarget } from '../backends/types.js';
import type { Secret } from './secret.js';
import type { COMPRESSORS, LOG_LEVELS } from './validators.js';

export type Operation = 'backup' | 'restore' | 'maintenance';
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Compressor = (typeof COMPRESSORS)[number];

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
  password: Secret;
  /** Undefined when the connection comes from a structured or legacy repository config. */
  storage?: StorageTarget;
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
  additionalArgs: string[];
  files: {
    configPath?: string;
    globalPolicyFile?: string;
    repositoryConfigFile?: string;
    legacyRepositoryConfig: string;
    customCa?: string;
  };
  manualConfigJson?: string;
  structuredRepositoryConfigJson?: Secret;
  cache: {
    metadataLimitMb?: number;
    contentLimitMb?: number;
    skip: boolean;
    capacityBytes?: number;
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
  };
  debugMover: boolean;
  /** Names of variables that hold secrets, so hooks and logs can leave them out. */
  secretVariables: string[];
}
