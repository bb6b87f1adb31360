import type { ConfigIssue } from '../errors.js';
import { hasControlCharacter, parseGoDurationMs } from '../text.js';

/** The exact separator VolSync joins additional arguments with. */
export const ADDITIONAL_ARGS_SEPARATOR = '|VOLSYNC_ARG_SEP|';

/**
 * Flags VolSync manages itself or that carry credentials. Accepting them would
 * either fight the program's own settings or put a secret in argv.
 */
export const FORBIDDEN_FLAGS = [
  '--password',
  '--config-file',
  '--config',
  '--repository',
  '--cache-directory',
  '--log-dir',
  '--override-username',
  '--override-hostname',
  '--access-key',
  '--secret-access-key',
  '--session-token',
  '--storage-account',
  '--storage-key',
  '--sas-token',
  '--key-id',
  '--key',
  '--credentials-file',
  '--webdav-password',
  '--sftp-password',
  '--keyfile',
] as const;

/** kopia's one-letter aliases of forbidden flags. */
const FORBIDDEN_SHORT = new Map([['-p', '--password']]);

export function splitAdditionalArgs(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(ADDITIONAL_ARGS_SEPARATOR)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

/** Pushes one issue per forbidden flag; the value after the flag is never quoted back. */
export function checkAdditionalArgs(args: string[], issues: ConfigIssue[]): void {
  for (const arg of args) {
    if (hasControlCharacter(arg)) {
      issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: 'an argument contains control characters or newlines' });
      continue;
    }
    // Both `--flag=value` and `--flag value` (one element holding a space) name the flag first.
    const flag = arg.split(/[=\s]/, 1)[0] ?? arg;
    const short = flag.startsWith('--') ? undefined : FORBIDDEN_SHORT.get(flag.slice(0, 2));
    const forbidden = (FORBIDDEN_FLAGS as readonly string[]).includes(flag) ? flag : short;
    if (forbidden) {
      issues.push({
        source: 'KOPIA_ADDITIONAL_ARGS',
        message: `${forbidden} is not allowed: VolSync manages it or it carries credentials`,
      });
    }
  }
}

/** Flags kopia 0.22.3 accepts on `snapshot create` (besides the global ones below). */
const SNAPSHOT_CREATE_FLAGS = new Set([
  '--all', '--upload-limit-mb', '--description', '--fail-fast', '--force-hash', '--parallel', '--start-time',
  '--end-time', '--tags', '--pin', '--send-snapshot-report', '--log-dir-detail', '--log-entry-detail', '--json',
]);

/** Flags kopia 0.22.3 accepts on `snapshot restore`. */
const SNAPSHOT_RESTORE_FLAGS = new Set([
  '--overwrite-directories', '--overwrite-files', '--overwrite-symlinks', '--write-sparse-files',
  '--consistent-attributes', '--mode', '--parallel', '--skip-owners', '--skip-permissions', '--skip-times',
  '--ignore-permission-errors', '--write-files-atomically', '--ignore-errors', '--skip-existing', '--shallow',
  '--shallow-minsize', '--flush-files',
]);

/** Global kopia flags that are harmless on any command. */
const GLOBAL_FLAGS = new Set(['--progress', '--log-level', '--file-log-level', '--disable-content-log', '--disable-file-logging']);

/**
 * Flags the program itself must give (it reads kopia's JSON output): dropped from the additional
 * args with a warning, so a copied example does not stop the backup.
 */
const PROGRAM_OWNED: Record<string, string> = {
  '--json': 'the mover reads kopia\'s JSON output itself',
  '--json-verbose': 'the mover reads kopia\'s JSON output itself',
};

/** Flags that exist in kopia but conflict with a setting this program manages. */
const MANAGED_ELSEWHERE: Record<string, string> = {
  '--override-source': 'use KOPIA_SOURCE_PATH_OVERRIDE',
  '--delete-extra': 'use KOPIA_ENABLE_FILE_DELETION (it keeps lost+found and deletes only after a completed restore)',
  '--snapshot-time': 'use KOPIA_RESTORE_AS_OF, KOPIA_SHALLOW and KOPIA_PREVIOUS',
  '--stdin-file': 'the mover snapshots DATA_DIR, not stdin',
};

/**
 * Flags the docs show as snapshot arguments that are kopia *policy* settings.
 * They become the snapshot path's policy (kopia's JSON field), imported in the
 * same call as retention and compression.
 */
const POLICY_FLAGS: Record<string, { section: 'files' | 'errorHandling'; field: string; kind: 'boolean' | 'list' | 'bytes' }> = {
  '--one-file-system': { section: 'files', field: 'oneFileSystem', kind: 'boolean' },
  '--ignore-cache-dirs': { section: 'files', field: 'ignoreCacheDirs', kind: 'boolean' },
  '--ignore': { section: 'files', field: 'ignore', kind: 'list' },
  '--add-ignore': { section: 'files', field: 'ignore', kind: 'list' },
  '--add-dot-ignore': { section: 'files', field: 'ignoreDotFiles', kind: 'list' },
  '--max-file-size': { section: 'files', field: 'maxFileSize', kind: 'bytes' },
  '--ignore-file-errors': { section: 'errorHandling', field: 'ignoreFileErrors', kind: 'boolean' },
  '--ignore-dir-errors': { section: 'errorHandling', field: 'ignoreDirectoryErrors', kind: 'boolean' },
};

/**
 * Flags the docs show that kopia 0.22.3 has nowhere and that mean nothing to it: left out with a
 * warning saying what to use instead, so a copied example does not stop every backup.
 */
const NOT_IN_KOPIA: Record<string, string> = {
  '--block-size': 'kopia has no block size; its splitter chooses chunk sizes (set "splitter" in the global policy, or KOPIA_MANUAL_CONFIG splitter.algorithm for a new repository)',
  '--read-buffer-size': 'kopia has no read buffer setting',
};

/**
 * Restore flags that make kopia write less than the snapshot, so a restore that ends 0 would not
 * hold the snapshot. Each decided from kopia 0.22.3's help and a restore of a small snapshot into
 * an empty target and into one holding stale files and a stale symlink:
 *
 * | flag                                   | what kopia did                                                          |
 * | -------------------------------------- | ----------------------------------------------------------------------- |
 * | --shallow=N (any N)                    | wrote `name.kopia-entry` placeholders below depth N, not the data       |
 * | --shallow-minsize                      | only chooses which files --shallow turns into placeholders              |
 * | --skip-existing                        | kept the stale symlink, "skipped 1", exit 0                             |
 * | --ignore-errors                        | leaves out what it could not write and still ends 0                     |
 * | --no-overwrite-files/-directories/-symlinks | stopped at the first existing entry, the tree half written         |
 * | --mode=zip, zip-nocompress, tar, tgz   | writes one archive file instead of the tree                             |
 *
 * Left allowed: --skip-owners, --skip-permissions, --skip-times and --ignore-permission-errors
 * (attributes, every entry is still written), --write-sparse-files, --write-files-atomically,
 * --flush-files, --parallel, --consistent-attributes, and the defaults --no-skip-existing,
 * --no-ignore-errors, --overwrite-*, --mode=auto and --mode=local.
 *
 * Spellings, as kopia's flag parser reads them: long names match exactly (no abbreviation, no
 * other case: `--shal=1`, `--SHALLOW=1` are unknown flags, refused as such); numbers parse with
 * Go's base prefixes (`--shallow=01`, `=0x1`, `=+1` all mean 1); a boolean flag takes no `=value`
 * (`--skip-existing=false` is not read as false). So a refused flag is refused in every spelling
 * but the plain default one.
 */
const INCOMPLETE_RESTORE: Record<string, { does: string; allowed: (negated: boolean, value: string | undefined) => boolean }> = {
  '--shallow': {
    does: 'kopia writes placeholder files (name.kopia-entry) instead of the data below that depth',
    allowed: () => false,
  },
  '--shallow-minsize': { does: 'it only chooses what kopia\'s --shallow leaves as placeholder files', allowed: () => false },
  '--skip-existing': {
    does: 'kopia keeps whatever already stands in DATA_DIR under an entry\'s name instead of the snapshot\'s',
    allowed: (negated, value) => negated && value === undefined,
  },
  '--ignore-errors': {
    does: 'kopia leaves out every entry it could not write and still reports success',
    allowed: (negated, value) => negated && value === undefined,
  },
  '--overwrite-files': {
    does: 'kopia stops at the first file that exists, leaving the tree half written',
    allowed: (negated, value) => !negated && value === undefined,
  },
  '--overwrite-directories': {
    does: 'kopia stops at the first directory that exists, leaving the tree half written',
    allowed: (negated, value) => !negated && value === undefined,
  },
  '--overwrite-symlinks': {
    does: 'kopia stops at the first symlink that exists, leaving the tree half written',
    allowed: (negated, value) => !negated && value === undefined,
  },
  '--mode': {
    does: 'kopia writes an archive file instead of the tree unless the mode is auto or local',
    allowed: (negated, value) => !negated && (value === 'auto' || value === 'local'),
  },
};

/** The refusal of a restore flag that would leave the restore incomplete, if it is one. */
function incompleteRestore(base: string, negated: boolean, value: string | undefined): string | undefined {
  const rule = INCOMPLETE_RESTORE[base];
  if (!rule || rule.allowed(negated, value)) return undefined;
  const spelled = negated ? `--no-${base.slice(2)}` : base;
  return (
    `${spelled} is refused for a restore: ${rule.does}, so the restore would be incomplete. ` +
    'Remove it: the mover restores the whole snapshot and replaces what DATA_DIR holds (KOPIA_ENABLE_FILE_DELETION also removes extras; ' +
    'KOPIA_SHALLOW only picks among the newest snapshots)'
  );
}

/** Byte sizes as the docs write them: 10MB, 512KiB, 1.5GB, or bytes. */
function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?(?:\/s)?$/i.exec(text.trim());
  if (!m) return undefined;
  const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  const value = Number(m[1]) * (m[3] ? 1024 : 1000) ** power;
  return Number.isFinite(value) && value >= 1 && value <= Number.MAX_SAFE_INTEGER ? Math.round(value) : undefined;
}

/**
 * The docs' progress interval: a bare number counts files ("--progress-interval=100 # Report
 * progress every 100 files"), a Go duration with its unit (30s, 1m) is time.
 */
function parseProgressInterval(text: string): { files: number } | { ms: number } | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const files = Number(t);
    return files >= 1 && files <= 1_000_000_000 ? { files } : undefined;
  }
  const ms = parseGoDurationMs(t);
  return ms !== undefined && ms >= 1000 && ms <= 3_600_000 ? { ms } : undefined;
}

export interface ClassifiedArgs {
  /** Passed verbatim to the operation's main command. */
  passThrough: string[];
  /** The docs' --upload-speed / --download-speed, as the repository throttle. */
  throttle: { uploadBytesPerSecond?: number; downloadBytesPerSecond?: number };
  /** The docs' --progress-interval with a unit (30s), as the mover's own progress interval. */
  progressIntervalMs?: number;
  /** The docs' --progress-interval as a bare number: a progress log line every this many files. */
  progressEveryFiles?: number;
  /** Arguments left out, each with the reason; the run goes on. */
  warnings: string[];
  /** kopia policy JSON sections for the snapshot path, e.g. { files: { ignore: ['*.tmp'] } }. */
  pathPolicy: { files?: Record<string, unknown>; errorHandling?: Record<string, unknown> };
}

function flagParts(arg: string): { name: string; value?: string } {
  const eq = arg.indexOf('=');
  if (eq > 0) return { name: arg.slice(0, eq), value: arg.slice(eq + 1) };
  const space = arg.search(/\s/);
  if (space > 0) return { name: arg.slice(0, space), value: arg.slice(space + 1).trim() };
  return { name: arg };
}

/**
 * Sorts additional args into what the operation's kopia command takes and what
 * belongs in the path policy; anything kopia would reject is an issue now, so a
 * copied doc example fails before the repository is touched, not halfway.
 */
export function classifyAdditionalArgs(args: string[], operation: 'backup' | 'restore' | 'maintenance' | undefined, issues: ConfigIssue[]): ClassifiedArgs {
  const result: ClassifiedArgs = { passThrough: [], pathPolicy: {}, warnings: [], throttle: {} };
  const setPolicy = (section: 'files' | 'errorHandling', field: string, value: unknown) => {
    const target = (result.pathPolicy[section] ??= {});
    if (Array.isArray(target[field]) && Array.isArray(value)) (target[field] as unknown[]).push(...value);
    else target[field] = value;
  };
  const accepted = operation === 'restore' ? SNAPSHOT_RESTORE_FLAGS : SNAPSHOT_CREATE_FLAGS;
  const command = operation === 'restore' ? 'snapshot restore' : 'snapshot create';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (!arg.startsWith('--')) {
      // The value is not quoted back: a misplaced secret must not reach the log.
      issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: `argument ${i + 1} is not a --flag; each argument must be one flag, e.g. --tags=env:prod` });
      continue;
    }
    const { name, value } = flagParts(arg);
    const negated = name.startsWith('--no-') ? `--${name.slice(5)}` : undefined;
    const base = negated ?? name;
    if ((FORBIDDEN_FLAGS as readonly string[]).includes(base)) continue; // reported by checkAdditionalArgs
    if (PROGRAM_OWNED[base]) {
      result.warnings.push(`${base} left out: ${PROGRAM_OWNED[base]}`);
      continue;
    }
    const meaningless = NOT_IN_KOPIA[base];
    if (meaningless) {
      result.warnings.push(`${base} left out: ${meaningless}`);
      continue;
    }
    const insteadOf = MANAGED_ELSEWHERE[base];
    if (insteadOf) {
      issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: `${base} cannot be used: ${insteadOf}` });
      continue;
    }
    if (base === '--upload-speed' || base === '--download-speed') {
      const bytes = value === undefined ? undefined : parseBytes(value);
      if (bytes === undefined) {
        issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: `${base} takes a speed in bytes per second, e.g. ${base}=10MB` });
        continue;
      }
      const direction = base === '--upload-speed' ? 'uploadBytesPerSecond' : 'downloadBytesPerSecond';
      result.throttle[direction] = bytes;
      result.warnings.push(`${base}=${value} is not a kopia flag: applied as the repository throttle, ${bytes} bytes per second`);
      continue;
    }
    if (base === '--progress-interval') {
      const interval = value === undefined ? undefined : parseProgressInterval(value);
      if (interval === undefined) {
        issues.push({
          source: 'KOPIA_ADDITIONAL_ARGS',
          message: '--progress-interval takes a number of files (--progress-interval=100) or a duration with its unit from 1s to 1h (--progress-interval=30s)',
        });
        continue;
      }
      const every = 'files' in interval ? `${interval.files} files` : `${interval.ms / 1000}s`;
      if ('files' in interval) result.progressEveryFiles = interval.files;
      else result.progressIntervalMs = interval.ms;
      result.warnings.push(
        `--progress-interval=${value} is not a kopia flag: the mover logs kopia's progress every ${every} (a bare number counts files, a unit such as 30s means time; on a terminal progress is redrawn in place instead)`,
      );
      continue;
    }
    if (operation === 'restore' && base in INCOMPLETE_RESTORE) {
      // `--mode tar` or `--shallow 1` given as two arguments: the value is the next one.
      const next = args[i + 1];
      const pairValue = value === undefined && !isBooleanFlag(base) && next !== undefined && !next.startsWith('--') ? next : undefined;
      const refusal = incompleteRestore(base, negated !== undefined, value ?? pairValue);
      if (refusal) {
        if (pairValue !== undefined) i++;
        issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: refusal });
        continue;
      }
    }
    const policy = POLICY_FLAGS[base];
    if (policy && operation !== 'restore') {
      if (policy.kind === 'boolean') {
        const on = negated ? 'false' : value ?? 'true';
        if (on !== 'true' && on !== 'false') {
          issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: `${base} takes true or false` });
          continue;
        }
        setPolicy(policy.section, policy.field, on === 'true');
        continue;
      }
      let v = value;
      // `--ignore PATTERN` given as two separate arguments.
      if (v === undefined && args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) v = args[++i];
      if (v === undefined || v === '') {
        issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: `${base} needs a value, e.g. ${base}=*.tmp` });
        continue;
      }
      if (policy.kind === 'bytes') {
        if (!/^\d+$/.test(v)) {
          issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: `${base} takes a number of bytes` });
          continue;
        }
        setPolicy(policy.section, policy.field, Number(v));
      } else {
        setPolicy(policy.section, policy.field, [v]);
      }
      continue;
    }
    if (accepted.has(base) || GLOBAL_FLAGS.has(base)) {
      result.passThrough.push(arg);
      // A `--flag value` pair given as two arguments stays a pair.
      if (value === undefined && args[i + 1] !== undefined && !args[i + 1]!.startsWith('--') && !isBooleanFlag(base)) {
        result.passThrough.push(args[++i]!);
      }
      continue;
    }
    issues.push({ source: 'KOPIA_ADDITIONAL_ARGS', message: `kopia ${command} has no ${base} flag` });
  }
  return result;
}

/** Flags kopia takes more than once (its help marks them with "..."); any other repeated flag is an error to kopia. */
const REPEATABLE_FLAGS = new Set(['--tags', '--pin']);

/** The flag an argument sets, with `--no-x` counted as `--x`; undefined for a value or a positional argument. */
export function flagName(arg: string): string | undefined {
  if (!arg.startsWith('--')) return undefined;
  const name = arg.split(/[=\s]/, 1)[0]!;
  return name.startsWith('--no-') ? `--${name.slice(5)}` : name;
}

export interface Replacement {
  flag: string;
  ours: string;
  theirs: string;
}

/**
 * The program's own arguments for a command followed by the additional args. A flag the program
 * sets that the additional args set too is given once, with the additional args' value: the user
 * asked for it explicitly.
 */
export function withAdditionalArgs(own: readonly string[], additional: readonly string[]): { args: string[]; replaced: Replacement[] } {
  const theirs = new Map<string, string>();
  for (const arg of additional) {
    const name = flagName(arg);
    if (name !== undefined && !theirs.has(name)) theirs.set(name, arg);
  }
  const replaced: Replacement[] = [];
  const kept = own.filter((arg) => {
    const name = flagName(arg);
    const other = name === undefined ? undefined : theirs.get(name);
    if (other === undefined || name === undefined) return true;
    replaced.push({ flag: name, ours: arg, theirs: other });
    return false;
  });
  return { args: [...kept, ...additional], replaced };
}

/** Flags an argv gives more than once that kopia refuses to take twice. */
export function repeatedFlags(argv: readonly string[]): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const arg of argv) {
    const name = flagName(arg);
    if (name === undefined || REPEATABLE_FLAGS.has(name)) continue;
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
  }
  return [...repeated];
}

const BOOLEAN_FLAGS = new Set([
  '--all', '--fail-fast', '--send-snapshot-report', '--json', '--progress', '--overwrite-directories', '--overwrite-files',
  '--overwrite-symlinks', '--write-sparse-files', '--consistent-attributes', '--skip-owners', '--skip-permissions',
  '--skip-times', '--ignore-permission-errors', '--write-files-atomically', '--ignore-errors', '--skip-existing',
  '--flush-files', '--disable-content-log', '--disable-file-logging',
]);

function isBooleanFlag(name: string): boolean {
  return BOOLEAN_FLAGS.has(name);
}
