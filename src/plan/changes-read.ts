import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MoverConfig } from '../config/parse.js';
import { storageCandidates } from '../config/candidates.js';
import type { EnvMap } from '../env.js';
import { kopiaEnvironment } from '../kopia/environment.js';
import { classifyKopiaOutput } from '../kopia/failures.js';
import { globalFlags } from '../kopia/global-flags.js';
import { claimRunDir, type RunDir } from '../kopia/run-dir.js';
import { KopiaRunner } from '../kopia/runner.js';
import type { Output } from '../report/output.js';

/** What reading the repository for a plan needs from the run. */
export interface ReadSettings {
  config: MoverConfig;
  env: EnvMap;
  binary: string;
  output: Output;
}

/**
 * The repository as a plan reads it: connected read-only (kopia's --readonly refuses any write)
 * through a throwaway kopia config and cache in a folder of its own, never the run's saved
 * connection or caches, so a plan leaves the cache volume and the repository as they were. Only
 * commands that read are ever given to it.
 */
export class RepositoryReader {
  private constructor(
    private readonly runner: KopiaRunner,
    private readonly dir: RunDir,
  ) {}

  /** Connects, trying each configured repository in the run's order; throws the reason none could be read. */
  static async open(settings: ReadSettings): Promise<RepositoryReader> {
    const { config } = settings;
    const dir = await claimRunDir(config.tmpDir);
    const runner = new KopiaRunner({
      binary: settings.binary,
      globalFlags: globalFlags(config, { configFile: join(dir.path, 'kopia.config'), logDir: join(dir.path, 'logs') }),
      env: kopiaEnvironment(config, settings.env),
      output: settings.output,
      progressIntervalMs: config.output.progressIntervalMs,
      tempDir: dir.path,
      stallMs: config.output.stallMs,
    });
    const reader = new RepositoryReader(runner, dir);
    try {
      await reader.connect(config, join(dir.path, 'cache'));
      return reader;
    } catch (error) {
      reader.close();
      throw error;
    }
  }

  private async connect(config: MoverConfig, cacheDir: string): Promise<void> {
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    const { username, hostname } = config.identity;
    let reason = 'no repository is configured';
    for (const storage of storageCandidates(config)) {
      const result = await this.runner.run({
        args: ['repository', 'connect', ...storage.args, `--override-username=${username}`, `--override-hostname=${hostname}`, `--cache-directory=${cacheDir}`, '--no-persist-credentials', '--readonly'],
        purpose: `plan: read ${storage.description} (read-only, a throwaway connection)`,
        secretFiles: storage.secretFiles,
      });
      if (result.exitCode === 0) return;
      const verdict = classifyKopiaOutput(result.rawTail);
      reason = `${storage.description}: ${verdict.class === 'Unknown' ? (result.tail.at(-1) ?? `kopia exit code ${result.exitCode}`) : verdict.what}`;
    }
    throw new Error(reason);
  }

  /** A read command's JSON output; throws naming the command when kopia fails. */
  /** Each read runs once: the parts of the report that need the same document share it. */
  json(args: string[], purpose: string): Promise<unknown> {
    const key = JSON.stringify(args);
    let read = this.reads.get(key);
    if (read === undefined) {
      read = this.readJson(args, purpose);
      this.reads.set(key, read);
    }
    return read;
  }

  private readonly reads = new Map<string, Promise<unknown>>();

  private async readJson(args: string[], purpose: string): Promise<unknown> {
    const result = await this.runner.run({ args, purpose: `plan: ${purpose}`, captureStdout: true });
    if (result.exitCode !== 0) throw new Error(`kopia ${args.slice(0, 2).join(' ')} failed: ${result.tail.at(-1) ?? `exit code ${result.exitCode}`}`);
    return JSON.parse(result.stdout) as unknown;
  }

  /** A read command whose output is handed over line by line, as the bytes kopia printed. */
  async rawLines(args: string[], purpose: string, each: (line: Buffer) => void): Promise<void> {
    const result = await this.runner.run({ args, purpose: `plan: ${purpose}` }, { onStdoutRawLine: each });
    if (result.exitCode !== 0) throw new Error(`kopia ${args.slice(0, 2).join(' ')} failed: ${result.tail.at(-1) ?? `exit code ${result.exitCode}`}`);
  }

  /** The throwaway connection, its cache and any secret files go with the folder. */
  close(): void {
    this.runner.cleanup();
    this.dir.release();
  }
}
