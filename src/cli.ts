import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { execa } from 'execa';
import type { EnvMap } from './config/env-source.js';
import type { Operation } from './config/types.js';
import { locateKopia } from './kopia/locate.js';
import { ConfigError } from './errors.js';
import { readRegularFile } from './files.js';
import { join, resolve } from 'node:path';
import { readEnvFile } from './config/env-file.js';
import { environmentSecrets } from './kopia/environment.js';
import { validate } from './operations/validate.js';
import { Output } from './report/output.js';
import { run, systemFacts } from './run.js';

/** Read when asked for, from the installed package.json: nothing is read at load time. */
function programVersion(appDir: string | undefined): string {
  if (appDir === undefined) return 'unknown';
  try {
    return (JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Flags for local runs, each overriding the environment variable it names. */
const FLAG_TO_ENV: [string, string, string][] = [
  ['--repository <url>', 'KOPIA_REPOSITORY', 'repository URL, e.g. filesystem:///backups/repo'],
  ['--data-dir <path>', 'DATA_DIR', 'directory to back up or restore into'],
  ['--cache-dir <path>', 'KOPIA_CACHE_DIR', "directory for kopia's config, caches and logs"],
  ['--username <name>', 'KOPIA_OVERRIDE_USERNAME', 'snapshot owner user name'],
  ['--hostname <name>', 'KOPIA_OVERRIDE_HOSTNAME', 'snapshot owner host name'],
  ['--source-path <path>', 'KOPIA_SOURCE_PATH_OVERRIDE', 'path the snapshot is recorded under and looked up by'],
  ['--compression <name>', 'KOPIA_COMPRESSION', 'compressor for the snapshot path'],
  ['--parallel <n>', 'KOPIA_PARALLELISM', 'files uploaded or restored in parallel'],
  ['--keep-latest <n>', 'KOPIA_RETAIN_LATEST', 'retention: latest snapshots'],
  ['--keep-hourly <n>', 'KOPIA_RETAIN_HOURLY', 'retention: hourly snapshots'],
  ['--keep-daily <n>', 'KOPIA_RETAIN_DAILY', 'retention: daily snapshots'],
  ['--keep-weekly <n>', 'KOPIA_RETAIN_WEEKLY', 'retention: weekly snapshots'],
  ['--keep-monthly <n>', 'KOPIA_RETAIN_MONTHLY', 'retention: monthly snapshots'],
  ['--keep-yearly <n>', 'KOPIA_RETAIN_YEARLY', 'retention: yearly snapshots'],
  ['--previous <n>', 'KOPIA_PREVIOUS', 'restore: skip this many of the newest eligible snapshots'],
  ['--shallow <n>', 'KOPIA_SHALLOW', 'restore: consider only the newest n snapshots'],
  ['--as-of <time>', 'KOPIA_RESTORE_AS_OF', 'restore: newest snapshot at or before this RFC 3339 time'],
];

/** A password file holds one password; anything larger is a mistake (or /dev/zero). */
const PASSWORD_FILE_LIMIT = 4096;

interface CommonFlags {
  passwordFile?: string;
  deleteExtra?: boolean;
  discover?: boolean;
  dryRun?: boolean;
  [key: string]: unknown;
}

function camel(flag: string): string {
  return flag
    .replace(/^--/, '')
    .split(' ')[0]!
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Flags win over env: the merged map is what config parsing sees. */
function envWithFlags(env: EnvMap, flags: CommonFlags): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = { ...env };
  for (const [flag, name] of FLAG_TO_ENV) {
    const value = flags[camel(flag)];
    if (typeof value === 'string') merged[name] = value;
  }
  if (flags.passwordFile) {
    const read = readRegularFile(flags.passwordFile, PASSWORD_FILE_LIMIT);
    if ('problem' in read) {
      const why = read.problem.kind === 'too-large' ? `is larger than ${PASSWORD_FILE_LIMIT} bytes` : read.problem.reason;
      throw new ConfigError({ source: '--password-file', message: `${flags.passwordFile} cannot be used: ${why}` });
    }
    merged['KOPIA_PASSWORD'] = read.data.toString('utf8').replace(/\r?\n$/, '');
  }
  if (flags.deleteExtra) merged['KOPIA_ENABLE_FILE_DELETION'] = 'true';
  if (flags.discover) merged['KOPIA_DISCOVER_SNAPSHOTS'] = 'true';
  return merged;
}

function withCommonFlags(command: Command): Command {
  for (const [flag, name, description] of FLAG_TO_ENV) command.option(flag, `${description} (${name})`);
  command.option('--password-file <path>', 'read the repository password from this file (KOPIA_PASSWORD)');
  command.option('--delete-extra', 'restore: remove files absent from the snapshot (KOPIA_ENABLE_FILE_DELETION)');
  command.option('--discover', 'restore: list available snapshots when none is eligible (KOPIA_DISCOVER_SNAPSHOTS)');
  command.option('--dry-run', 'print the kopia commands instead of running them');
  return command;
}

export interface CliIO {
  env: EnvMap;
  onSpawn?: (argv: string[]) => void;
  /** The installed program's root: package.json, dist/ and the project's tools/bin/. */
  appDir?: string;
}

/** Builds the program; `exitCode` is set by whichever action runs. */
export function buildProgram(io: CliIO, result: { exitCode: number }): Command {
  // What every run takes from the entry, whichever command starts it.
  const fromEntry = { onSpawn: io.onSpawn, appDir: io.appDir };
  const program = new Command('kopia-mover')
    .description('Back up, restore and maintain Kopia repositories for VolSync, or from a laptop')
    .addHelpText('after', '\nWith no command, DIRECTION (source, destination, maintenance) chooses the operation.')
    .option('--version', "print kopia-mover's and kopia's versions")
    .exitOverride()
    .action(async (flags: { version?: boolean }) => {
      if (flags.version) {
        const binary = locateKopia(io.env['KOPIA_BIN'], io.env['PATH'], io.appDir);
        const kopia = await execa(binary, ['--version'], { reject: false, env: { PATH: io.env['PATH'] ?? '' }, extendEnv: false });
        process.stdout.write(
          `kopia-mover ${programVersion(io.appDir)}\n` +
            `kopia ${kopia.exitCode === 0 ? kopia.stdout.split('\n')[0] : `not found (${binary})`}\n`,
        );
        result.exitCode = 0;
        return;
      }
      result.exitCode = await run({ ...fromEntry, env: io.env });
    });

  const operations: [Operation, string][] = [
    ['backup', 'snapshot DATA_DIR into the repository (DIRECTION=source)'],
    ['restore', 'restore a snapshot into DATA_DIR (DIRECTION=destination)'],
    ['maintenance', 'claim maintenance ownership and run quick and full maintenance (DIRECTION=maintenance)'],
  ];
  for (const [operation, description] of operations) {
    withCommonFlags(program.command(operation).description(description)).action(async (flags: CommonFlags) => {
      result.exitCode = await run({ ...fromEntry, env: envWithFlags(io.env, flags), operation, dryRun: flags.dryRun });
    });
  }

  withCommonFlags(
    program
      .command('plan')
      .description('print the kopia commands an operation would run, secrets redacted, without running any')
      .addOption(new Option('--operation <name>', 'operation to plan (default: from DIRECTION)').choices(['backup', 'restore', 'maintenance'])),
  ).action(async (flags: CommonFlags & { operation?: Operation }) => {
    result.exitCode = await run({ ...fromEntry, env: envWithFlags(io.env, flags), operation: flags.operation, dryRun: true });
  });

  program
    .command('validate')
    .description('check the environment and every mounted file without touching any repository; lists every problem')
    .option('--env-file <path>', 'read variables from this KEY=VALUE file (over the environment)')
    .option('--policy-dir <dir>', 'directory holding the policy files (KOPIA_CONFIG_PATH)')
    .addOption(new Option('--operation <name>', 'operation to check for (default: from DIRECTION, else backup)').choices(['backup', 'restore', 'maintenance']))
    .action((flags: { envFile?: string; policyDir?: string; operation?: Operation }) => {
      const env: Record<string, string | undefined> = { ...io.env, ...(flags.envFile ? readEnvFile(flags.envFile) : {}) };
      if (flags.policyDir) env['KOPIA_CONFIG_PATH'] = resolve(flags.policyDir);
      const direction = env['DIRECTION'];
      const operation = flags.operation ?? (direction ? undefined : 'backup');
      result.exitCode = validate(env, operation, systemFacts(env), new Output('pretty', environmentSecrets(env)));
    });

  return program;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const result = { exitCode: 0 };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    const code = (error as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (code?.startsWith('commander.')) return 2;
    if (error instanceof ConfigError) {
      process.stderr.write(`kopia-mover: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
  return result.exitCode;
}

/**
 * The process entry: runs main and exits as soon as the run has reported. After a stop, a paused
 * debug wait or a hook's timer must not keep the pod alive; all output is written synchronously.
 */
export function runAndExit(argv: string[], io: CliIO): void {
  main(argv, io).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`kopia-mover: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
