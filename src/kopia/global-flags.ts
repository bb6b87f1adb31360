import { join } from 'node:path';
import type { MoverConfig } from '../config/types.js';

export function kopiaConfigFile(config: MoverConfig): string {
  return join(config.cacheDir, 'kopia.config');
}

/** Flags every kopia process gets: its config and logs live in the cache dir. */
export function globalFlags(config: MoverConfig): string[] {
  const log = config.kopiaLogging;
  const flags = [
    `--config-file=${kopiaConfigFile(config)}`,
    `--log-dir=${join(config.cacheDir, 'logs')}`,
    `--log-dir-max-files=${log.maxFiles}`,
    `--log-dir-max-age=${log.maxAge}`,
    `--content-log-dir-max-files=${log.contentMaxFiles}`,
    `--content-log-dir-max-age=${log.contentMaxAge}`,
  ];
  if (log.level) flags.push(`--log-level=${log.level}`);
  if (log.fileLevel) flags.push(`--file-log-level=${log.fileLevel}`);
  return flags;
}
