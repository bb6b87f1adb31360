import { readdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StorageTarget } from './backends/types.js';
import { storageCandidates } from './config/candidates.js';
import type { MoverConfig } from './config/parse.js';
import { savedConfigFile } from './kopia/global-flags.js';
import { kopiaConfigSchema, readKopiaConfig, type SavedConnection } from './kopia/models/kopia-config.js';
import { deletionRefusal } from './operations/deletion-guard.js';
import { lastSnapshotRecord } from './operations/snapshot-statistics.js';
import { appliedRecord, type AppliedRecord } from './operations/state.js';
import { loadPolicySettings, type PolicySettings } from './policy/mounted.js';

export type { SavedConnection };

/**
 * Everything a plan depends on besides the configuration, read from disk once, before anything
 * runs: the saved connection, what this cache applied last, the mounted policy files, the source
 * and the repository volume. `plan` and a run read the same facts, so they make the same plan.
 */
export interface Facts {
  savedConnection?: SavedConnection;
  /** `snapshot`: a backup's record of the last snapshot this cache took of the source. */
  applied: { policies?: AppliedRecord; throttle?: AppliedRecord; inputs?: AppliedRecord; snapshot?: AppliedRecord };
  settings: PolicySettings;
  /** Each filesystem repository's directory: missing means its volume is not mounted. */
  repositoryDirs: { storage: StorageTarget; path: string; exists: boolean; parentExists: boolean }[];
  /** Backup: DATA_DIR holds nothing but lost+found. */
  sourceEmpty?: boolean;
  /** Backup: why DATA_DIR cannot be read; the preflight refuses the run. */
  dataDirProblem?: string;
  /** Restore with deletion: why deleting in DATA_DIR would be unsafe, if it would. */
  deletionRefusal?: string;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readSavedConnection(config: MoverConfig): SavedConnection | undefined {
  const file = savedConfigFile(config);
  if (file === undefined) return undefined;
  try {
    return readKopiaConfig(file, kopiaConfigSchema);
  } catch {
    // Missing, garbage after a crash, or not the shape kopia writes: either way there is no connection to reuse.
    return undefined;
  }
}

/** Whether DATA_DIR holds nothing but lost+found (the filesystem's, not the user's), or why it cannot be read. */
function sourceState(dataDir: string): { empty: boolean } | { problem: string } {
  try {
    return { empty: readdirSync(dataDir).filter((name) => name !== 'lost+found').length === 0 };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? `directory ${dataDir} does not exist` : `directory ${dataDir} cannot be read (${code})` };
  }
}

export function loadFacts(config: MoverConfig): Facts {
  const inputs = appliedRecord(config, 'inputs');
  const facts: Facts = {
    savedConnection: readSavedConnection(config),
    applied: { policies: appliedRecord(config, 'policies'), throttle: appliedRecord(config, 'throttle'), inputs },
    settings: loadPolicySettings(config, { sources: inputs?.sources }),
    repositoryDirs: storageCandidates(config).flatMap((storage) =>
      storage.localPath === undefined
        ? []
        : [{ storage, path: storage.localPath, exists: isDirectory(storage.localPath), parentExists: isDirectory(dirname(storage.localPath)) }],
    ),
  };
  if (config.operation === 'backup') facts.applied.snapshot = appliedRecord(config, lastSnapshotRecord(config.sourcePath));
  if (config.operation === 'backup' && config.dataDir !== undefined) {
    const source = sourceState(config.dataDir);
    if ('problem' in source) facts.dataDirProblem = source.problem;
    else facts.sourceEmpty = source.empty;
  }
  if (config.operation === 'restore' && config.restore.enableFileDeletion) facts.deletionRefusal = deletionRefusal(config);
  return facts;
}
