import type * as z from 'zod';
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

/** What a target depends on besides the backend's own variables. */
export interface TargetContext {
  /** The CA file (CUSTOM_CA or KOPIA_CUSTOM_CA) for TLS to the storage, already checked. */
  customCa?: string;
}

/**
 * One storage backend: the variables it reads, as one zod schema, and one function from their
 * parsed values to the target. Every check is in the schema, so the function cannot fail.
 */
export interface BackendDefinition<Values = unknown> {
  name: string;
  /** URL schemes of KOPIA_REPOSITORY that select this backend. */
  schemes: readonly string[];
  /** Variables whose presence selects this backend when KOPIA_REPOSITORY is not set. */
  selectingVariables: readonly string[];
  /**
   * The environment as this backend reads it: the keys are the variable names (KOPIA_REPOSITORY
   * among them when a scheme selects the backend), so each issue's path is the variable to fix.
   * Rules between variables are part of it. Built on first use: a run builds only the schema of
   * the backend it uses.
   */
  variables(): z.ZodType<Values>;
  /** The target from the parsed values: kopia arguments, the child's environment, secret files, warnings. */
  target(values: Values, context: TargetContext): StorageTarget;
}
