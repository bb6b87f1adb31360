import type { ConfigIssue } from '../errors.js';
import type { EnvSource } from '../env.js';
import type { Secret } from '../secret.js';

import type { SecretFile } from '../kopia/command.js';
export type { SecretFile };

/** Where the repository lives, resolved from env into what kopia needs. */
export interface StorageTarget {
  backend: string;
  /** kopia arguments after `repository connect|create`, e.g. ['filesystem', '--path=/repo']. No secrets. */
  args: string[];
  /** Secrets and settings for the kopia child's environment. */
  env: Record<string, Secret | string>;
  secretFiles: SecretFile[];
  /**
   * Keys of kopia.config's storage.config that hold secrets. They are removed
   * from the cache volume's kopia.config when the run ends; the next run then
   * connects again instead of reusing the connection.
   */
  secretConfigKeys?: string[];
  /**
   * kopia finds the scrubbed secrets in its own environment when kopia.config
   * lacks them, so a scrubbed connection can still be reused (S3: kopia's
   * credential chain falls through to AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
   */
  secretsFromEnvironment?: boolean;
  /** The repository's directory, for a filesystem repository. */
  localPath?: string;
  /** Human description for logs: no credentials. */
  description: string;
  /** Whether the storage section of an existing kopia.config points at this same repository. */
  matchesStorage(storage: { type?: string; config?: Record<string, unknown> }): boolean;
  warnings: string[];
}

export interface BackendContext {
  env: EnvSource;
  /** The parsed KOPIA_REPOSITORY URL when its scheme selected this backend. */
  url?: URL;
  /** The raw KOPIA_REPOSITORY value. */
  rawUrl?: string;
  customCa?: string;
  issues: ConfigIssue[];
}

export interface BackendDefinition {
  name: string;
  /** URL schemes of KOPIA_REPOSITORY that select this backend. */
  schemes: string[];
  /** Variables whose presence selects this backend when KOPIA_REPOSITORY is not set. */
  selectingVariables: string[];
  /** Build the target, or push issues (naming the variable) and return undefined. */
  resolve(ctx: BackendContext): StorageTarget | undefined;
}
