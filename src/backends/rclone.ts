import type * as z from 'zod';
import type { StorageTarget } from './types.js';
import { absolutePath, backendVariables, defineBackend, line, required, storageMatches } from './shared.js';

function variables() {
  return backendVariables({
    RCLONE_REMOTE_PATH: required(
      line().refine((v) => v.includes(':'), 'must be remote:path, naming a remote of the rclone config'),
      'the rclone remote:path of the repository',
    ),
    RCLONE_EXE: line().optional(),
    RCLONE_CONFIG: absolutePath('must be an absolute path to the rclone config file').optional(),
  });
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values): StorageTarget {
  const { RCLONE_REMOTE_PATH: remotePath, RCLONE_EXE: exe, RCLONE_CONFIG: configFile } = values;
  const args = ['rclone', `--remote-path=${remotePath}`];
  if (exe !== undefined) args.push(`--rclone-exe=${exe}`);
  // kopia's rclone child inherits kopia's environment, which is built on purpose: pass the config path on.
  const env: Record<string, string> = configFile !== undefined ? { RCLONE_CONFIG: configFile } : {};
  const warnings = configFile === undefined ? ['RCLONE_CONFIG is not set: rclone looks for its default config file'] : [];
  return {
    backend: 'rclone',
    args,
    env,
    secretFiles: [],
    description: `rclone repository at ${remotePath}`,
    matchesStorage: (storage) => storageMatches(storage, 'rclone', { remotePath, rcloneExe: exe }),
    warnings,
  };
}

/** RCLONE_REMOTE_PATH: kopia starts rclone itself; rclone finds its config through RCLONE_CONFIG. */
export const rcloneBackend = defineBackend({
  name: 'rclone',
  schemes: [],
  selectingVariables: ['RCLONE_REMOTE_PATH'],
  variables,
  target,
});
