import { join } from 'node:path';

/** What decides kopia's paths and global flags. */
export interface KopiaSettings {
  cacheDir: string;
  /** kopia's config would hold storage secrets it cannot read from its environment. */
  privateConnection: boolean;
  kopiaLogging: { level?: string; fileLevel?: string };
}

/** Where kopia keeps its config file and writes its logs during one run. */
export interface KopiaPaths {
  configFile: string;
  logDir: string;
}

/**
 * kopia's config lives on the cache volume, so a later run can reuse the connection, unless kopia
 * would store storage secrets in it that it cannot take from its environment instead: then it
 * lives in the run's private folder (gone with the run, even one killed by SIGKILL) and every run
 * connects again. kopia's logs go to the run folder first and reach the cache volume redacted.
 */
export function kopiaPaths(config: KopiaSettings, runDir: string): KopiaPaths {
  return {
    configFile: join(config.privateConnection ? runDir : config.cacheDir, 'kopia.config'),
    logDir: join(runDir, 'logs'),
  };
}

/** The saved connection a run may reuse, when there is one. */
export function savedConfigFile(config: KopiaSettings): string | undefined {
  return config.privateConnection ? undefined : join(config.cacheDir, 'kopia.config');
}

/**
 * Flags every kopia process gets. `--no-auto-maintenance` (a hidden kopia flag): without it every
 * writing command of the maintenance owner (`snapshot create`, `policy set`) also runs the
 * maintenance that is due. Maintenance runs only in its own job, by its explicit `maintenance run`.
 */
export function globalFlags(config: KopiaSettings, paths: KopiaPaths): string[] {
  const log = config.kopiaLogging;
  const flags = [`--config-file=${paths.configFile}`, `--log-dir=${paths.logDir}`, '--no-auto-maintenance'];
  if (log.level) flags.push(`--log-level=${log.level}`);
  if (log.fileLevel) flags.push(`--file-log-level=${log.fileLevel}`);
  return flags;
}
