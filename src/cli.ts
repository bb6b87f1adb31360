import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Command, Option } from 'commander';
import { EnvSource, type EnvMap } from './env.js';
import type { Operation } from './config/types.js';
import type { InputNames } from './config/parse.js';
import { locateKopia } from './kopia/locate.js';
import { ConfigError, ExitCode, exitCodeOf, unexpectedFailure, UsageError } from './errors.js';
import { KopiaRunner } from './kopia/runner.js';
import { KopiaOutputError } from './kopia/models/parse.js';
import { parseKopiaVersion } from './kopia/models/version.js';
import { readRegularFile } from './files.js';
import { passwordFromFile } from './secret-checks.js';
import { closest } from './text.js';
import { join, resolve } from 'node:path';
import { readEnvFile } from './config/env-file.js';
import { environmentSecrets } from './kopia/environment.js';
import { listSnapshots } from './operations/snapshots.js';
import { reportStatus } from './operations/status.js';
import { validate } from './operations/validate.js';
import { Output } from './report/output.js';
import { formatFor, run, systemFacts } from './run.js';

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

/** A typed value as the program reads it: paths as a person types them become what the variable holds. */
type Normalize = (value: string, flag: string) => string;

/** A "~" the shell left as it is (in `--flag=~/x` it does not expand it): never a folder named "~". */
function refuseTilde(value: string, flag: string): void {
  if (!value.startsWith('~')) return;
  throw new ConfigError({ source: flag, message: `${value}: the shell did not expand "~" (it does not after "="): write ${flag} ${value} with a space, or the absolute path` });
}

/** A local directory: relative to where the person is, as every command-line tool reads it. */
const localPath: Normalize = (value, flag) => {
  refuseTilde(value, flag);
  return resolve(value);
};

/** `--repository /abs/path` is a filesystem repository; a relative path is refused with the URL to type instead. */
const repositoryLocation: Normalize = (value, flag) => {
  refuseTilde(value, flag);
  if (value.startsWith('/')) return `filesystem://${value}`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return value;
  throw new ConfigError({ source: flag, message: `${value} is neither a URL nor an absolute path: for a local repository give filesystem://${resolve(value)} (or ${resolve(value)})` });
};

/** Flags for local runs, each overriding the environment variable it names, on the commands that use it. */
const FLAGS: { flags: string; env: string; description: string; on: readonly Scope[]; normalize?: Normalize }[] = [
  { flags: '--repository <url>', env: 'KOPIA_REPOSITORY', description: 'repository URL (filesystem:///path, s3://bucket/prefix, ...) or an absolute path', on: ['backup', 'restore', 'maintenance'], normalize: repositoryLocation },
  { flags: '--cache-dir <path>', env: 'KOPIA_CACHE_DIR', description: "directory for kopia's config, caches and logs", on: ['backup', 'restore', 'maintenance'], normalize: localPath },
  { flags: '--stall-seconds <n>', env: 'KOPIA_MOVER_STALL_SECONDS', description: 'stop kopia and fail (NetworkStalled, retryable) after this many seconds without progress (default 300; 0: never)', on: ['backup', 'restore', 'maintenance'] },
  { flags: '--metrics-pushgateway <url>', env: 'KOPIA_MOVER_METRICS_PUSHGATEWAY', description: "push the run's result to this Prometheus Pushgateway (http:// or https://)", on: ['backup', 'restore', 'maintenance'] },
  { flags: '--data-dir <path>', env: 'DATA_DIR', description: 'directory to back up or restore into (or give it as the path argument)', on: ['backup', 'restore'], normalize: localPath },
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
  { flags: '--verify-percent <p>', env: 'KOPIA_VERIFY_PERCENT', description: "read back this % of the new snapshot's files from the repository's storage (0 to 100, default 0: no verify)", on: ['backup'] },
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
  3      repository connect or create failed (unreachable, denied, wrong password, no folder to create it in)
  4      the before-snapshot action failed or timed out; no snapshot was taken
  5      maintenance ownership could not be claimed
  6      maintenance run failed
  7      status: an identity's newest complete snapshot is older than --max-age, or it has none
  128+n  terminated by signal n (143 for SIGTERM); 137 when the cache volume was found exhausted`;

const PLAN_EXIT_CODES = `
Exit codes:
  0      the plan was printed
  2      configuration or usage error (each problem names its flag, variable or file)
  3      the filesystem repository's folder is missing and cannot be created`;

const VALIDATE_EXIT_CODES = `
Exit codes:
  0      no problem found (warnings may be listed)
  2      at least one problem found, each naming its variable or file`;

const EXAMPLES: Readonly<Record<Scope | 'root' | 'plan' | 'validate', string>> = {
  root: `
Examples:
  kopia-mover backup  --repository ~/kopia-repo --password-file ~/.kopia-pw --source-path /photos ~/photos
  kopia-mover restore --repository ~/kopia-repo --password-file ~/.kopia-pw --source-path /photos /tmp/photos
  kopia-mover help backup               # one command's flags, examples and exit codes
  DIRECTION=source kopia-mover          # as the VolSync pod runs it, every setting from the environment
  kopia-mover validate --env-file secret.env --policy-dir ./kopia-config`,
  backup: `
The directory to back up is the path argument or --data-dir (DATA_DIR). --repository takes a URL or
an absolute path (a filesystem repository, created on the first backup inside an existing folder).
Retention (--keep-*) and compression not given stay what the last backup from this cache applied;
a smaller value given is applied, and the summary says how many snapshots it expired.

Examples:
  kopia-mover backup --repository ~/kopia-repo --password-file ~/.kopia-pw ~/photos --keep-daily 7
  kopia-mover backup --repository s3://bucket/photos --password-file ~/.kopia-pw --data-dir ~/photos
  kopia-mover backup --dry-run --repository ~/kopia-repo ~/photos   # print the kopia commands, run none`,
  restore: `
The directory to restore into is the path argument or --data-dir (DATA_DIR). Snapshots are looked up
by --source-path (KOPIA_SOURCE_PATH_OVERRIDE), else by the directory itself.

Examples:
  kopia-mover restore --repository ~/kopia-repo --password-file ~/.kopia-pw --source-path /photos /tmp/photos
  kopia-mover restore --repository ~/kopia-repo --password-file ~/.kopia-pw --source-path /photos --previous 1 /tmp/photos   # the second newest
  kopia-mover restore --repository ~/kopia-repo --password-file ~/.kopia-pw --as-of 2026-01-31T23:00:00Z --data-dir /tmp/photos`,
  maintenance: `
Examples:
  kopia-mover maintenance --repository ~/kopia-repo --password-file ~/.kopia-pw
  DIRECTION=maintenance kopia-mover     # as the KopiaMaintenance job runs it`,
  plan: `
Runs nothing, so it needs no password: the plan shows KOPIA_PASSWORD=<password>, never the password.
After the commands it says what the run would change (policy fields old → new, snapshots retention
would expire, a restore's files); --read-repository reads the repository for it, read-only.

Examples:
  kopia-mover plan --operation backup --repository ~/kopia-repo --data-dir ~/photos
  kopia-mover plan --operation backup --read-repository --password-file ~/.kopia-password --keep-latest 5 --data-dir ~/photos
  kopia-mover plan --operation restore --repository ~/kopia-repo --data-dir /tmp/photos --source-path /photos
  DIRECTION=source kopia-mover plan     # the plan of a pod, from its environment`,
  validate: `
Reads the environment (and --env-file over it), every mounted file, and runs the run's own preflight;
writes nothing and touches no repository.

Examples:
  kopia-mover validate --env-file secret.env --policy-dir ./kopia-config
  DIRECTION=destination kopia-mover validate`,
};

const SNAPSHOTS_HELP = `
Without --data-dir or --source-path every path of user@host is listed. The table marks snapshots
that are not complete (a stopped or cut short backup): a restore never selects them by time.

Examples:
  kopia-mover snapshots --repository ~/kopia-repo --password-file ~/.kopia-pw --all
  kopia-mover snapshots --repository ~/kopia-repo --password-file ~/.kopia-pw --source-path /photos --json
  kopia-mover restore --repository ~/kopia-repo --password-file ~/.kopia-pw --snapshot 2e7c1b3bde6ee6a2ec8dbb3cdb2a7f1a --source-path /photos /tmp/photos`;

/** What a command line gave: the environment with the typed values over it, and the flag each input was (or could be) given by. */
interface CommandLine {
  env: Record<string, string | undefined>;
  given: Record<string, string>;
  offered: Record<string, string>;
}

/** The variables the command line set, and the flag each came from: typed values only. */
function typedFlags(env: EnvMap, command: Command): CommandLine {
  const merged: Record<string, string | undefined> = { ...env };
  const given: Record<string, string> = {};
  const offered: Record<string, string> = { KOPIA_PASSWORD: '--password-file' };
  const values = command.opts();
  for (const option of command.options) {
    if (option.envVar === undefined) continue;
    const flag = option.long ?? option.flags;
    offered[option.envVar] = flag;
    const key = option.attributeName();
    // Only what was typed overrides: a value commander took from the environment is there already.
    if (command.getOptionValueSource(key) !== 'cli') continue;
    const value = values[key];
    const typed = value === true ? 'true' : String(value);
    const normalize = FLAGS.find((f) => f.env === option.envVar)?.normalize;
    merged[option.envVar] = normalize ? normalize(typed, flag) : typed;
    given[option.envVar] = flag;
  }
  return { env: merged, given, offered };
}

/** The data directory given as the path argument: the same as --data-dir, and refused when both name different ones. */
function withPathArgument(typed: CommandLine, path: string | undefined): void {
  if (path === undefined) return;
  const dir = localPath(path, 'the path argument');
  const flagDir = typed.given['DATA_DIR'] === undefined ? undefined : typed.env['DATA_DIR'];
  if (flagDir !== undefined && flagDir !== dir) {
    throw new UsageError(`the path argument (${dir}) and --data-dir (${flagDir}) name different directories: give one of them`);
  }
  typed.env['DATA_DIR'] = dir;
  typed.given['DATA_DIR'] ??= 'the path argument';
}

/** The environment with what the command line gave over it, and the names each input was given by. */
function envWithFlags(env: EnvMap, command: Command, path?: string): { env: EnvMap; inputs: InputNames } {
  const typed = typedFlags(env, command);
  withPathArgument(typed, path);
  const passwordFile = command.opts()['passwordFile'] as string | undefined;
  if (passwordFile) {
    refuseTilde(passwordFile, '--password-file');
    const read = readRegularFile(passwordFile, PASSWORD_FILE_LIMIT);
    if ('problem' in read) {
      const why = read.problem.kind === 'too-large' ? `is larger than ${PASSWORD_FILE_LIMIT} bytes` : read.problem.reason;
      throw new ConfigError({ source: '--password-file', message: `${passwordFile} cannot be used: ${why}` });
    }
    typed.env['KOPIA_PASSWORD'] = passwordFromFile('--password-file', passwordFile, read.data);
    typed.given['KOPIA_PASSWORD'] = `--password-file ${passwordFile}`;
  }
  return { env: typed.env, inputs: { given: typed.given, offered: typed.offered } };
}

function withFlags(command: Command, scopes: readonly Scope[]): Command {
  for (const f of FLAGS.filter((f) => f.on.some((s) => scopes.includes(s)))) {
    command.addOption(new Option(f.flags, f.description).env(f.env));
  }
  command.option('--password-file <path>', 'read the repository password from this file (KOPIA_PASSWORD)');
  command.option('--dry-run', 'print the kopia commands instead of running them');
  return command;
}

/** A plan (`plan`, or an operation's --dry-run) may read the repository to say what the run would change. */
function withReadRepository(command: Command): Command {
  return command.option('--read-repository', 'with --dry-run or plan: read the repository (read-only, a throwaway connection) to show what the run would change');
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
    return result.exitCode === 0 ? parseKopiaVersion(result.stdout).line : `not found (${binary})`;
  } catch (error) {
    return error instanceof KopiaOutputError ? error.message : `not found (${binary})`;
  } finally {
    closeSync(quiet);
  }
}

export interface CliIO {
  env: EnvMap;
  /** Whether stdout is a terminal (a person is there); process.stdout's own answer when not given. */
  stdoutIsTTY?: boolean;
  onSpawn?: (argv: string[]) => void;
  /** The installed program's root: package.json, dist/ and the project's tools/bin/. */
  appDir?: string;
}

/** kopia-mover's own version and kopia's, for `--version`, `-v` and `version`. */
async function printVersions(io: CliIO): Promise<number> {
  process.stdout.write(`kopia-mover ${programVersion(io.appDir)}\nkopia ${await kopiaVersion(io)}\n`);
  return ExitCode.Success;
}

/**
 * The program with no command: the container's entrypoint, where DIRECTION chooses the operation.
 * A person at a terminal without DIRECTION meant something else: usage, not a pod's summary.
 */
async function entry(program: Command, io: CliIO, word: string | undefined, version: boolean | undefined): Promise<number> {
  if (word !== undefined) {
    // The entry takes no arguments: a word here is a mistyped command.
    const known = program.commands.map((c) => c.name());
    const near = closest(word, known);
    throw new UsageError(`unknown command '${word}'${near ? `, did you mean ${near}?` : ''} (commands: ${known.join(', ')})`);
  }
  if (version) return printVersions(io);
  if (new EnvSource(io.env).get('DIRECTION') === undefined && (io.stdoutIsTTY ?? Boolean(process.stdout.isTTY))) {
    program.outputHelp({ error: true });
    process.stderr.write('\n');
    throw new UsageError('give a command (backup, restore, ...), or set DIRECTION as a pod does');
  }
  // A pod that reports (or probes): its identity's report, as JSON unless the log is read by a person.
  if (new EnvSource(io.env).get('DIRECTION')?.trim() === 'status') {
    return reportStatus({ onSpawn: io.onSpawn, appDir: io.appDir, env: io.env, all: false, json: formatFor(io.env) === 'json' });
  }
  return run({ onSpawn: io.onSpawn, appDir: io.appDir, env: io.env });
}

/** The flags that choose the repository and the identity, for the commands that only read the repository. */
function withReadingFlags(command: Command): void {
  const reading = new Set(['KOPIA_REPOSITORY', 'KOPIA_CACHE_DIR', 'DATA_DIR', 'KOPIA_OVERRIDE_USERNAME', 'KOPIA_OVERRIDE_HOSTNAME', 'KOPIA_SOURCE_PATH_OVERRIDE']);
  for (const f of FLAGS.filter((f) => reading.has(f.env))) command.addOption(new Option(f.flags, f.description).env(f.env));
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
  withReadingFlags(listing);
  listing.addHelpText('after', `${SNAPSHOTS_HELP}\n${EXIT_CODES}`).action(async (flags: { all?: boolean; json?: boolean; dryRun?: boolean }) => {
    result.exitCode = await listSnapshots({ onSpawn: io.onSpawn, appDir: io.appDir, ...envWithFlags(io.env, listing), all: flags.all === true, json: flags.json === true, dryRun: flags.dryRun });
  });
}

const STATUS_HELP = `
Per identity (this user@host, or every source with --all): the snapshot count, the newest and the
oldest, the newest one's size, incomplete snapshots and the retention in force; for the repository:
its format, free space where the storage tells, the maintenance owner and cycles. Writes nothing.

Examples:
  kopia-mover status --repository ~/kopia-repo --password-file ~/.kopia-pw
  kopia-mover status --repository ~/kopia-repo --password-file ~/.kopia-pw --all --max-age 26h --json
  DIRECTION=status KOPIA_MOVER_MAX_AGE=26h kopia-mover     # as a pod (or a probe) runs it

Exit codes:
  0      healthy: every identity has a complete snapshot, younger than --max-age when given
  2      configuration or usage error (a bad --max-age among them), before any repository is touched
  3      repository connect failed (unreachable, denied, wrong password)
  7      an identity's newest complete snapshot is older than --max-age, or it has none`;

/** `status`: the repository report, connecting as `snapshots` does. */
function addStatusCommand(program: Command, io: CliIO, result: { exitCode: number }): void {
  const status = withFlags(
    program
      .command('status')
      .description('report on the repository and its identities; exit 7 when a newest snapshot is older than --max-age (a probe)')
      .option('--all', 'every source in the repository, not only this identity')
      .option('--json', 'print one JSON document (its fields are in the README) instead of text')
      .addOption(new Option('--max-age <duration>', 'the age a newest snapshot may reach: 26h, 90m, 7d, 1d12h').env('KOPIA_MOVER_MAX_AGE')),
    [],
  );
  withReadingFlags(status);
  status.addHelpText('after', STATUS_HELP).action(async (flags: { all?: boolean; json?: boolean; dryRun?: boolean }) => {
    result.exitCode = await reportStatus({ onSpawn: io.onSpawn, appDir: io.appDir, ...envWithFlags(io.env, status), all: flags.all === true, json: flags.json === true, dryRun: flags.dryRun });
  });
}

/** Builds the program; `exitCode` is set by whichever action runs. */
export function buildProgram(io: CliIO, result: { exitCode: number }): Command {
  // What every run takes from the entry, whichever command starts it.
  const fromEntry = { onSpawn: io.onSpawn, appDir: io.appDir };
  const program = new Command('kopia-mover')
    .description('Back up, restore and maintain Kopia repositories for VolSync, or from a laptop')
    .addHelpText('after', `\nWith no command, DIRECTION (source, destination, maintenance, status) chooses the operation.\n${EXAMPLES.root}\n${EXIT_CODES}`)
    .usage('[options] [command]')
    .option('-v, --version', "print kopia-mover's and kopia's versions")
    .argument('[command]')
    .helpCommand('help [command]', 'show the help of a command, with examples and exit codes')
    .exitOverride()
    .action(async (word: string | undefined, flags: { version?: boolean }) => {
      result.exitCode = await entry(program, io, word, flags.version);
    });

  program
    .command('version')
    .description("print kopia-mover's and kopia's versions (the same as --version and -v)")
    .action(async () => {
      result.exitCode = await printVersions(io);
    });

  const operations: [Operation, string][] = [
    ['backup', 'snapshot DATA_DIR into the repository (DIRECTION=source)'],
    ['restore', 'restore a snapshot into DATA_DIR (DIRECTION=destination)'],
    ['maintenance', 'claim maintenance ownership and run quick and full maintenance (DIRECTION=maintenance)'],
  ];
  for (const [operation, description] of operations) {
    const command = withReadRepository(withFlags(program.command(operation).description(description), [operation]));
    // Maintenance has no data directory: a path there is a mistake, refused as an extra argument.
    if (operation !== 'maintenance') command.argument('[path]', `the directory to ${operation === 'backup' ? 'back up' : 'restore into'} (the same as --data-dir)`);
    command.addHelpText('after', `${EXAMPLES[operation]}\n${EXIT_CODES}`).action(async (...args: unknown[]) => {
      const path = operation === 'maintenance' ? undefined : (args[0] as string | undefined);
      const given = envWithFlags(io.env, command, path);
      result.exitCode = await run({ ...fromEntry, ...given, operation, dryRun: command.opts()['dryRun'] === true, readRepository: command.opts()['readRepository'] === true });
    });
  }

  addSnapshotsCommand(program, io, result);
  addStatusCommand(program, io, result);

  const plan = withFlags(
    program
      .command('plan')
      .description('print the kopia commands an operation would run, secrets redacted, without running any')
      .addOption(new Option('--operation <name>', 'operation to plan (default: from DIRECTION)').choices(['backup', 'restore', 'maintenance'])),
    ['backup', 'restore', 'maintenance'],
  );
  withReadRepository(plan);
  plan.addHelpText('after', `${EXAMPLES.plan}\n${PLAN_EXIT_CODES}`).action(async (flags: { operation?: Operation; readRepository?: boolean }) => {
    result.exitCode = await run({ ...fromEntry, ...envWithFlags(io.env, plan), operation: flags.operation, dryRun: true, readRepository: flags.readRepository === true });
  });

  program
    .command('validate')
    .description('check the environment and every mounted file without touching any repository; lists every problem')
    .option('--env-file <path>', 'read variables from this KEY=VALUE file (over the environment)')
    .option('--policy-dir <dir>', 'directory holding the policy files (KOPIA_CONFIG_PATH)')
    .addOption(new Option('--operation <name>', 'operation to check for (default: from DIRECTION, else backup)').choices(['backup', 'restore', 'maintenance']))
    .addHelpText('after', `${EXAMPLES.validate}\n${VALIDATE_EXIT_CODES}`)
    .action((flags: { envFile?: string; policyDir?: string; operation?: Operation }) => {
      const fromFile = flags.envFile ? readEnvFile(flags.envFile) : {};
      const env: Record<string, string | undefined> = { ...io.env, ...fromFile };
      // A value read from the env file is named with the file it is in, so the person knows where to fix it.
      const given: Record<string, string> = Object.fromEntries(Object.keys(fromFile).map((name) => [name, `${name} in ${flags.envFile}`]));
      if (flags.policyDir) {
        env['KOPIA_CONFIG_PATH'] = resolve(flags.policyDir);
        given['KOPIA_CONFIG_PATH'] = '--policy-dir';
      }
      const direction = env['DIRECTION'];
      // DIRECTION=status reads its inputs as maintenance does: no DATA_DIR, the repository and identity only.
      const operation = flags.operation ?? (direction?.trim() === 'status' ? 'maintenance' : direction ? undefined : 'backup');
      result.exitCode = validate(env, operation, systemFacts(env), new Output('pretty', environmentSecrets(env)), { given });
    });

  return program;
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  const result = { exitCode: 0 };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    const commander = error as { code?: string; exitCode?: number; message?: string };
    // Help asked for (--help, help [command]) ends with commander's exit code 0; its errors (which
    // commander has printed) are usage errors.
    if (commander.code?.startsWith('commander.')) return commander.exitCode === 0 ? ExitCode.Success : exitCodeOf(new UsageError(commander.message ?? 'usage'));
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    process.stderr.write(`kopia-mover: ${error.message}\n`);
    return exitCodeOf(error);
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
