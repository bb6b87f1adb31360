import type { StorageTarget } from '../backends/types.js';
import type { MoverConfig } from './parse.js';

/** The repositories to try, in the contract's order: structured config, legacy mounted config, KOPIA_REPOSITORY. */
export function storageCandidates(config: MoverConfig): StorageTarget[] {
  return [config.storage, ...config.storageFallbacks].filter((t): t is StorageTarget => t !== undefined);
}
