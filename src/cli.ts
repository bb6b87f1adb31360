import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Command, Option } from 'commander';
import type { EnvMap } from './env.js';
import type { Operation } from './config/types.js';
import { locateKopia } from './kopia/locate.js';
import { ConfigError, ExitCode, exitCodeOf, unexpectedFailure, UsageError } from './errors.js';
import { KopiaRunner } from './kopia/runner.js';
import { readRegularFile } from './files.js';
import { passwordFromFile } from './secret-checks.js';
import { closest } from './text.js';
import { join, resolve } from 'node:path';
import { readEnvFile } from './config/env-file.js';
import { environmentSecrets } from './kopia/environment.js';
import { listSnapshots } from './operations/snapshots.js';
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

type Scope = 'backup' | 'restore' | 'maintenance';

/** Flags for local runs, each overriding the environment variable it names, on the commands that use it. */
const FLAGS: { flags: string; env: string; description: string; on: readonly Scope[] }[] = [
  { flags: '--repository <url>', env: 'KOPIA_REPOSITORY', description: 'repository URL, e.g. filesystem:///backups/repo', on: ['backup', 'restore', 'maintenance'] },
  { flags: '--cache-dir <path>', env: 'KOPIA_CACHE_DIR', description: "directory for kopia's config, caches and logs", on: ['backup', 'restore', 'maintenance'] },
  { flags: '--data-dir <path>', env: 'DATA_DIR', description: 'directory to back up or restore into', on: ['backup', 'restore'] },
  { flags: '--username <name>', env: 'KOPIA_OVERRIDE_USERNAME', description: 'snapshot owner user name', on: ['backup', 'restore'] },
  { flags: '--hostname <name>', env: 'KOPIA_OVERRIDE_HOSTNAME', description: 'snapshot owner host name', on: ['backup', 'restore'] },
  { flags: '--source-path <path>', env: 'KOPIA_SOURCE_PATH_OVERRIDE', description: 'path the snapshot is recorded under and looked up by', on: ['backup', 'restore'] },
  { flags: '--parallel <n>', env: 'KOPIA_PARALLELISM', description: 'files uploaded or restored in parallel', on: ['backup', 'restore'] },
  { flags: '--compression <name>', env: 'KOPIA_COMPRESSION', description: 'compressor for the snapshot path', on: ['backup'] },
  { flags: '--keep-latest <n>', env: 'KOPIA_RETAIN_LATEST', description: 'retention: latest snapshots', on: ['backup'] },
  { flags: '--keep-hourly <n>', env: 'KOPIA_RETAIN_HOURLY', description: 'retention: hourly snapshots', on: ['backup'] },
  { flags: '--keep-daily <n>', env: 'KOPIA_RETAIN_DAILY', description: 'retention: daily snapshots', on: ['backup'] },
  { flags: '--keep-weekly <n>', env: 'KOPIA_RETAIN_WEEKLY', description: 'retention: weekly snapshots', on: ['backup'] },
  { flags: '--keep-monthly <n>', env: 'KOPIA_RETAIN_MONTHLY', description: 'retention: monthly snapshots', on: ['backup'] },
  { flags: '--keep-yearly <n>', env: 'KOPIA_RETAIN_YEARLY', description: 'retention: yearly snapshots', on: ['backup'] },
  { flags: '--previous <n>', env: 'KOPIA_PREVIOUS', description: 'skip this many of the newest eligible snapshots', on: ['restore'] },
  { flags: '--shallow <n>', env: 'KOPIA_SHALLOW', description: 'consider only the newest n snapshots', on: ['restore'] },
  { flags: '--as-of <time>', env: 'KOPIA_RESTORE_AS_OF', description: 'newest snapshot at or before this RFC 3339 time', on: ['restore'] },
  { flags: '--delete-extra', env: 'KOPIA_ENABLE_FILE_DELETION', description: 'remove files absent from the snapshot, after the restore completed', on: ['restore'] },
  { flags: '--discover', env: 'KOPIA_DISCOVER_SNAPSHOTS', description: 'list available snapshots when none is eligible', on: ['restore'] },
  { flags: '--snapshot <id>', env: 'KOPIA_RESTORE_SNAPSHOT_ID', description: 'restore this snapshot (an ID from `kopia-mover snapshots`) instead of the newest', on: ['restore'] },
  { flags: '--any-source', env: 'KOPIA_RESTORE_ANY_SOURCE', description: 'let --snapshot restore a snapshot of another user@host:path', on: ['restore'] },
];

/** A password file holds one password; anything larger is a mistake (or /dev/zero). */
const PASSWORD_FILE_LIMIT = 4096;

const EXIT_CODES = `
Exit codes:
  0      success, also "source empty, nothing to back up" and "no eligible snapshot, nothing restored"
  1      the operation itself failed (snapshot create, restore, or an unexpected error)
  2      configuration or usage error, found before any repository was touched
  3      repository connect or create failed (unreachable, denied, wrong password)
  4      the before-snapshot action failed or timed out; no snapshot was taken
  5      maintenance ownership could not be claimed
  6      maintenance run failed
  128+n  terminated by signal n (143 for SIGTERM); 137 when the cache volume was found exhausted`;

const EXAMPLES: Readonly<Record<Scope | 'root', string>> = {
  root: `
Examples:
  kopia-mover backup  --repository filesystem:///backups/repo --password-file ~/.kopia-pw --data-dir ~/photos --source-path /photos
  kopia-mover restore --repository filesystem:///backups/repo --password-file ~/.kopia-pw --data-dir /tmp/photos --source-path /photos
  DIRECTION=source kopia-mover          # as the VolSync pod runs it, every setting from the environment
  kopia-mover validate --env-file secret.env --policy-dir ./kopia-config`,
  backup: `
Retention (--keep-*) and compression not given stay what the last backup from this cache applied;
a smaller value given is applied, and the summary says how many snapshots it expired.

Examples:
  kopia-mover backup --repository filesystem:///backups/repo --password-file ~/.kopia-pw --data-dir ~/photos --keep-daily 7
  kopia-mover backup --dry-run          # print the kopia commands, run none`,
  restore: `
Examples:
  kopia-mover restore --repository filesystem:///backups/repo --password-file ~/.kopia-pw --data-dir /tmp/photos --source-path /photos
  kopia-mover restore --previous 1 --data-dir /tmp/photos --source-path /photos   # the second newest snapshot`,
  maintenance: `
Examples:
  kopia-mover maintenance --repository filesystem:///backups/repo --password-file ~/.kopia-pw`,
};

const SNAPSHOTS_HELP = `
Without --data-dir or --source-path every path of user@host is listed. The table marks snapshots
that are not complete (a stopped or cut short backup): a restore never selects them by time.

Examples:
  kopia-mover snapshots --repository filesystem:///backups/repo --password-file ~/.kopia-pw --all
  kopia-mover snapshots --source-path /photos --json
  kopia-mover restore --snapshot 2e7c1b3bde6ee6a2ec8dbb3cdb2a7f1a --data-dir /tmp/photos --source-path /photos`;

/** The environment with the flags given on the command line over it: what config parsing sees. */
function envWithFlags(env: EnvMap, command: Command): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = { ...env };
  const values = command.opts();
  for (const option of command.options) {
    const key = option.attributeName();
    // Only what was typed overrides: a value commander took from the environment is there already.
    if (option.envVar === undefined || command.getOptionValueSource(key) !== 'cli') continue;
    const value = values[key];
    merged[option.envVar] = value === true ? 'true' : String(value);
  }
  const passwordFile = values['passwordFile'] as string | undefined;
  if (passwordFile) {
    const read = readRegularFile(passwordFile, PASSWORD_FILE_LIMIT);
    if ('problem' in read) {
      const why = read.problem.kind === 'too-large' ? `is larger than ${PASSWORD_FILE_LIMIT} bytes` : read.problem.reason;
      throw new ConfigError({ source: '--password-file', message: `${passwordFile} cannot be used: ${why}` });
    }
    merged['KOPIA_PASSWORD'] = passwordFromFile('--password-file', passwordFile, read.data);
  }
  return merged;
}

function withFlags(command: Command, scopes: readonly Scope[]): Command {
  for (const f of FLAGS.filter((f) => f.on.some((s) => scopes.includes(s)))) {
    command.addOption(new Option(f.flags, f.description).env(f.env));
  }
  command.option('--password-file <path>', 'read the repository password from this file (KOPIA_PASSWORD)');
  command.option('--dry-run', 'print the kopia commands instead of running them');
  return command;
}

/** kopia's own version line, asked through the runner like every kopia process; its log goes nowhere. */
async function kopiaVersion(io: CliIO): Promise<string> {
  const binary = locateKopia(io.env['KOPIA_BIN'], io.env['PATH'], io.appDir);
  const quiet = openSync('/dev/null', 'w');
  try {
    const runner = new KopiaRunner({
      binary,
      globalFlags: [],
      env: { PATH: io.env['PATH'] ?? '' },
      output: new Output('json', [], quiet),
      progressIntervalMs: 0,
      tempDir: tmpdir(),
      onSpawn: io.onSpawn,
    });
    const result = await runner.run({ args: ['--version'], purpose: 'print the kopia version', captureStdout: true });
    return result.exitCode === 0 ? (result.stdout.split('\n')[0] ?? '') : `not found (${binary})`;
  } catch {
    return `not found (${binary})`;
  } finally {
    closeSync(quiet);
  }
}

export interface CliIO {
  env: EnvMap;
  onSpawn?: (argv: string[]) => void;
  /** The installed program's root: package.json, dist/ and the project's tools/bin/. */
  appDir?: string;
}

/** `snapshots`: connects as a restore does, with the flags that choose the repository and the identity. */
function addSnapshotsCommand(program: Command, io: CliIO, result: { exitCode: number }): void {
  const listing = withFlags(
    program
      .command('snapshots')
      .description("list the repository's snapshots of this user@host (and path, when given), or of every source with --all")
      .option('--all', 'every source in the repository, not only this identity')
      .option('--json', 'print a JSON array of snapshots (its fields are in the README) instead of a table'),
    [],
  );
  const listed = new Set(['KOPIA_REPOSITORY', 'KOPIA_CACHE_DIR', 'DATA_DIR', 'KOPIA_OVERRIDE_USERNAME', 'KOPIA_OVERRIDE_HOSTNAME', 'KOPIA_SOURCE_PATH_OVERRIDE']);
  for (const f of FLAGS.filter((f) => listed.has(f.env))) listing.addOption(new Option(f.flags, f.description).env(f.env));
  listing.addHelpText('after', `${SNAPSHOTS_HELP}\n${EXIT_CODES}`).action(async (flags: { all?: boolean; json?: boolean; dryRun?: boolean }) => {
    const env = envWithFlags(io.env, listing);
    result.exitCode = await listSnapshots({ onSpawn: io.onSpawn, appDir: io.appDir, env, all: flags.all === true, json: flags.json === true, dryRun: flags.dryRun });
  });
}

/** Builds the program; `exitCode` is set by whichever action runs. */
export function buildProgram(io: CliIO, result: { exitCode: number }): Command {
  // What every run takes from the entry, whichever command starts it.
  const fromEntry = { onSpawn: io.onSpawn, appDir: io.appDir };
  const program = new Command('kopia-mover')
    .description('Back up, restore and maintain Kopia repositories for VolSync, or from a laptop')
    .addHelpText('after', `\nWith no command, DIRECTION (source, destination, maintenance) chooses the operation.\n${EXAMPLES.root}\n${EXIT_CODES}`)
    .option('--version', "print kopia-mover's and kopia's versions")
    .argument('[command]')
    .exitOverride()
    .action(async (word: string | undefined, flags: { version?: boolean }) => {
      if (word !== undefined) {
        // The entry takes no arguments: a word here is a mistyped command.
        const known = program.commands.map((c) => c.name());
        const near = closest(word, known);
        throw new UsageError(`unknown command '${word}'${near ? `, did you mean ${near}?` : ''} (commands: ${known.join(', ')})`);
      }
      if (flags.version) {
        process.stdout.write(`kopia-mover ${programVersion(io.appDir)}\nkopia ${await kopiaVersion(io)}\n`);
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
    const command = withFlags(program.command(operation).description(description), [operation]);
    command.addHelpText('after', `${EXAMPLES[operation]}\n${EXIT_CODES}`).action(async (flags: { dryRun?: boolean }) => {
      result.exitCode = await run({ ...fromEntry, env: envWithFlags(io.env, command), operation, dryRun: flags.dryRun });
    });
  }

  addSnapshotsCommand(program, io, result);

  const plan = withFlags(
    program
      .command('plan')
      .description('print the kopia commands an operation would run, secrets redacted, without running any')
      .addOption(new Option('--operation <name>', 'operation to plan (default: from DIRECTION)').choices(['backup', 'restore', 'maintenance'])),
    ['backup', 'restore', 'maintenance'],
  );
  plan.action(async (flags: { operation?: Operation }) => {
    result.exitCode = await run({ ...fromEntry, env: envWithFlags(io.env, plan), operation: flags.operation, dryRun: true });
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
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return ExitCode.Success;
    if (code?.startsWith('commander.')) return ExitCode.Config;
    if (error instanceof UsageError || error instanceof ConfigError) {
      process.stderr.write(`kopia-mover: ${error.message}\n`);
      return exitCodeOf(error);
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
      // Not JavaScript's own words: a plain sentence an operator can act on.
      process.stderr.write(`kopia-mover: ${unexpectedFailure(error).reason}\n`);
      process.exit(1);
    },
  );
}
