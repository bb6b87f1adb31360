import type { BackendDefinition, StorageTarget } from './types.js';
import { optionalValue, requiredValue, storageMatches } from './shared.js';

/** RCLONE_REMOTE_PATH: kopia starts rclone itself; rclone finds its config through RCLONE_CONFIG. */
export const rcloneBackend: BackendDefinition = {
  name: 'rclone',
  schemes: [],
  selectingVariables: ['RCLONE_REMOTE_PATH'],
  resolve(ctx): StorageTarget | undefined {
    const before = ctx.issues.length;
    const remotePath = requiredValue(ctx, 'RCLONE_REMOTE_PATH', 'the rclone remote:path of the repository');
    if (remotePath !== undefined && !remotePath.includes(':')) {
      ctx.issues.push({ source: 'RCLONE_REMOTE_PATH', message: 'must be remote:path, naming a remote of the rclone config' });
    }
    const exe = optionalValue(ctx, 'RCLONE_EXE');
    const configFile = optionalValue(ctx, 'RCLONE_CONFIG');
    if (configFile !== undefined && !configFile.startsWith('/')) {
      ctx.issues.push({ source: 'RCLONE_CONFIG', message: 'must be an absolute path to the rclone config file' });
    }
    if (ctx.issues.length > before || remotePath === undefined) return undefined;

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
  },
};
