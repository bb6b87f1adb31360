import { errorFinding, warningFinding, type Finding, type Found } from '../findings.js';
import { hasControlCharacter, parseGoDurationMs } from '../text.js';

/** The exact separator VolSync joins additional arguments with. */
export const ADDITIONAL_ARGS_SEPARATOR = '|VOLSYNC_ARG_SEP|';

const SOURCE = 'KOPIA_ADDITIONAL_ARGS';

export function splitAdditionalArgs(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(ADDITIONAL_ARGS_SEPARATOR)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

/** What the additional args give the run, besides the findings about them. */
export interface AdditionalArgs {
  /** Passed verbatim to the operation's main command. */
  passThrough: string[];
  /** The docs' --upload-speed / --download-speed, as the repository throttle. */
  throttle: { uploadBytesPerSecond?: number; downloadBytesPerSecond?: number };
  /** The docs' --progress-interval with a unit (30s), as the mover's own progress interval. */
  progressIntervalMs?: number;
  /** The docs' --progress-interval as a bare number: a progress log line every this many files. */
  progressEveryFiles?: number;
  /** kopia policy JSON sections for the snapshot path, e.g. { files: { ignore: ['*.tmp'] } }. */
  pathPolicy: { files?: Record<string, unknown>; errorHandling?: Record<string, unknown> };
}

/** The kopia command the additional args go to: `snapshot restore` for a restore, `snapshot create` otherwise. */
export type Command = 'create' | 'restore';

/** How a mover setting read from a flag that is not kopia's turned out: set in the args, or why not. */
export type Translation = { apply: (args: AdditionalArgs) => void; warning: string } | { error: string };

/** What becomes of a flag. */
export type Disposition =
  /** Given to kopia as written; `incomplete` says which spellings would make a restore write less than the snapshot. */
  | { kind: 'passed'; incomplete?: IncompleteRestore }
  /** A kopia policy setting: set in the snapshot path's policy instead. */
  | { kind: 'policy'; section: 'files' | 'errorHandling'; field: string; type: 'boolean' | 'list' | 'bytes' }
  /** Not a kopia flag, read as one of the mover's own settings. */
  | { kind: 'translated'; translate: (value: string | undefined, written: string) => Translation }
  /** Managed by VolSync or carrying credentials: accepting it would fight the program's settings or put a secret in argv. */
  | { kind: 'forbidden' }
  /** A setting the mover manages: refused, saying what to use instead. */
  | { kind: 'refused'; instead: string }
  /** Left out with a warning saying why, so a copied example does not stop the backup. */
  | { kind: 'dropped'; reason: string };

/** One flag: where it applies, how it is written, and what becomes of it. */
export interface FlagRule {
  /** The commands that know the flag; on another it is a flag kopia does not have. */
  commands: readonly Command[];
  /** It takes a value: `--flag=v`, `--flag v` in one argument, or `v` as the next argument. */
  takesValue: boolean;
  /** kopia takes it more than once (its help marks it with "..."). */
  repeatable?: boolean;
  disposition: Disposition;
}

/** A restore flag and the spellings of it that leave every entry written. */
export interface IncompleteRestore {
  does: string;
  allowed: (negated: boolean, value: string | undefined) => boolean;
}

const CREATE: readonly Command[] = ['create'];
const RESTORE: readonly Command[] = ['restore'];
const ANY: readonly Command[] = ['create', 'restore'];

const pass = (commands: readonly Command[], takesValue: boolean, more: Partial<FlagRule> = {}): FlagRule => ({
  commands,
  takesValue,
  disposition: { kind: 'passed' },
  ...more,
});
const forbidden: FlagRule = { commands: ANY, takesValue: true, disposition: { kind: 'forbidden' } };
const refused = (takesValue: boolean, instead: string): FlagRule => ({ commands: ANY, takesValue, disposition: { kind: 'refused', instead } });
const dropped = (takesValue: boolean, reason: string): FlagRule => ({ commands: ANY, takesValue, disposition: { kind: 'dropped', reason } });
const policy = (section: 'files' | 'errorHandling', field: string, type: 'boolean' | 'list' | 'bytes'): FlagRule => ({
  commands: CREATE,
  takesValue: type !== 'boolean',
  disposition: { kind: 'policy', section, field, type },
});
const restoreOnly = (takesValue: boolean, incomplete: IncompleteRestore): FlagRule => ({
  commands: RESTORE,
  takesValue,
  disposition: { kind: 'passed', incomplete },
});
const translated = (translate: (value: string | undefined, written: string) => Translation): FlagRule => ({
  commands: ANY,
  takesValue: true,
  disposition: { kind: 'translated', translate },
});

/** The spellings a flag the user gives for the default is allowed in: plain, or `--no-` for a default of false. */
const onlyPlain = (negated: boolean, value: string | undefined) => !negated && value === undefined;
const onlyNegated = (negated: boolean, value: string | undefined) => negated && value === undefined;

/**
 * Every flag the additional args may name, as kopia 0.22.3 has it on `snapshot create` and
 * `snapshot restore` (and its global flags that are harmless on any command), and the flags the
 * docs show that are not kopia's. A flag not here is one kopia does not have: refused as such.
 *
 * Restore flags that make kopia write less than the snapshot, so a restore that ends 0 would not
 * hold the snapshot, are refused in those spellings. Each decided from kopia 0.22.3's help and a
 * restore of a small snapshot into an empty target and into one holding stale files and a stale
 * symlink:
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
export const ADDITIONAL_ARG_FLAGS: Readonly<Record<string, FlagRule>> = {
  // snapshot create
  '--all': pass(CREATE, false),
  '--upload-limit-mb': pass(CREATE, true),
  '--description': pass(CREATE, true),
  '--fail-fast': pass(CREATE, false),
  '--force-hash': pass(CREATE, true),
  '--start-time': pass(CREATE, true),
  '--end-time': pass(CREATE, true),
  '--tags': pass(CREATE, true, { repeatable: true }),
  '--pin': pass(CREATE, true, { repeatable: true }),
  '--send-snapshot-report': pass(CREATE, false),
  '--log-dir-detail': pass(CREATE, true),
  '--log-entry-detail': pass(CREATE, true),
  '--parallel': pass(ANY, true),
  // snapshot restore
  '--write-sparse-files': pass(RESTORE, false),
  '--consistent-attributes': pass(RESTORE, false),
  '--skip-owners': pass(RESTORE, false),
  '--skip-permissions': pass(RESTORE, false),
  '--skip-times': pass(RESTORE, false),
  '--ignore-permission-errors': pass(RESTORE, false),
  '--write-files-atomically': pass(RESTORE, false),
  '--flush-files': pass(RESTORE, false),
  '--shallow': restoreOnly(true, {
    does: 'kopia writes placeholder files (name.kopia-entry) instead of the data below that depth',
    allowed: () => false,
  }),
  '--shallow-minsize': restoreOnly(true, { does: 'it only chooses what kopia\'s --shallow leaves as placeholder files', allowed: () => false }),
  '--skip-existing': restoreOnly(false, {
    does: 'kopia keeps whatever already stands in DATA_DIR under an entry\'s name instead of the snapshot\'s',
    allowed: onlyNegated,
  }),
  '--ignore-errors': restoreOnly(false, {
    does: 'kopia leaves out every entry it could not write and still reports success',
    allowed: onlyNegated,
  }),
  '--overwrite-files': restoreOnly(false, { does: 'kopia stops at the first file that exists, leaving the tree half written', allowed: onlyPlain }),
  '--overwrite-directories': restoreOnly(false, {
    does: 'kopia stops at the first directory that exists, leaving the tree half written',
    allowed: onlyPlain,
  }),
  '--overwrite-symlinks': restoreOnly(false, {
    does: 'kopia stops at the first symlink that exists, leaving the tree half written',
    allowed: onlyPlain,
  }),
  '--mode': restoreOnly(true, {
    does: 'kopia writes an archive file instead of the tree unless the mode is auto or local',
    allowed: (negated, value) => !negated && (value === 'auto' || value === 'local'),
  }),
  // kopia's global flags that are harmless on any command
  '--progress': pass(ANY, false),
  '--log-level': pass(ANY, true),
  '--file-log-level': pass(ANY, true),
  '--disable-content-log': pass(ANY, false),
  '--disable-file-logging': pass(ANY, false),
  // The docs show these as snapshot arguments; they are kopia policy settings of the snapshot path,
  // imported in the same call as retention and compression.
  '--one-file-system': policy('files', 'oneFileSystem', 'boolean'),
  '--ignore-cache-dirs': policy('files', 'ignoreCacheDirs', 'boolean'),
  '--ignore': policy('files', 'ignore', 'list'),
  '--add-ignore': policy('files', 'ignore', 'list'),
  '--add-dot-ignore': policy('files', 'ignoreDotFiles', 'list'),
  '--max-file-size': policy('files', 'maxFileSize', 'bytes'),
  '--ignore-file-errors': policy('errorHandling', 'ignoreFileErrors', 'boolean'),
  '--ignore-dir-errors': policy('errorHandling', 'ignoreDirectoryErrors', 'boolean'),
  // Not kopia flags: the mover's own settings, as the docs mean them.
  '--upload-speed': translated((value, written) => throttle('uploadBytesPerSecond', value, written)),
  '--download-speed': translated((value, written) => throttle('downloadBytesPerSecond', value, written)),
  '--progress-interval': translated(progressInterval),
  // The program reads kopia's JSON output itself.
  '--json': dropped(false, 'the mover reads kopia\'s JSON output itself'),
  '--json-verbose': dropped(false, 'the mover reads kopia\'s JSON output itself'),
  // The docs show these; kopia 0.22.3 has them nowhere and they mean nothing to it.
  '--block-size': dropped(
    true,
    'kopia has no block size; its splitter chooses chunk sizes (set "splitter" in the global policy, or KOPIA_MANUAL_CONFIG splitter.algorithm for a new repository)',
  ),
  '--read-buffer-size': dropped(true, 'kopia has no read buffer setting'),
  // kopia flags that conflict with a setting this program manages.
  '--override-source': refused(true, 'use KOPIA_SOURCE_PATH_OVERRIDE'),
  '--delete-extra': refused(false, 'use KOPIA_ENABLE_FILE_DELETION (it keeps lost+found and deletes only after a completed restore)'),
  '--snapshot-time': refused(true, 'use KOPIA_RESTORE_AS_OF, KOPIA_SHALLOW and KOPIA_PREVIOUS'),
  '--stdin-file': refused(true, 'the mover snapshots DATA_DIR, not stdin'),
  // Managed by VolSync, or carrying credentials.
  '--password': forbidden,
  '--config-file': forbidden,
  '--config': forbidden,
  '--repository': forbidden,
  '--cache-directory': forbidden,
  '--log-dir': forbidden,
  '--override-username': forbidden,
  '--override-hostname': forbidden,
  '--access-key': forbidden,
  '--secret-access-key': forbidden,
  '--session-token': forbidden,
  '--storage-account': forbidden,
  '--storage-key': forbidden,
  '--sas-token': forbidden,
  '--key-id': forbidden,
  '--key': forbidden,
  '--credentials-file': forbidden,
  '--webdav-password': forbidden,
  '--sftp-password': forbidden,
  '--keyfile': forbidden,
};

/** kopia's one-letter aliases of the flags above. */
const SHORT_FLAGS: Readonly<Record<string, string>> = { '-p': '--password' };

/** The rule of a flag on a command; undefined when kopia has no such flag there. */
function ruleOf(base: string, command: Command): FlagRule | undefined {
  const rule = Object.hasOwn(ADDITIONAL_ARG_FLAGS, base) ? ADDITIONAL_ARG_FLAGS[base] : undefined;
  return rule?.commands.includes(command) ? rule : undefined;
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

function throttle(direction: keyof AdditionalArgs['throttle'], value: string | undefined, written: string): Translation {
  const bytes = value === undefined ? undefined : parseBytes(value);
  if (bytes === undefined) return { error: `${written} takes a speed in bytes per second, e.g. ${written}=10MB` };
  return {
    apply: (args) => {
      args.throttle[direction] = bytes;
    },
    warning: `${written}=${value} is not a kopia flag: applied as the repository throttle, ${bytes} bytes per second`,
  };
}

function progressInterval(value: string | undefined): Translation {
  const interval = value === undefined ? undefined : parseProgressInterval(value);
  if (interval === undefined) {
    return { error: '--progress-interval takes a number of files (--progress-interval=100) or a duration with its unit from 1s to 1h (--progress-interval=30s)' };
  }
  const every = 'files' in interval ? `${interval.files} files` : `${interval.ms / 1000}s`;
  return {
    apply: (args) => {
      if ('files' in interval) args.progressEveryFiles = interval.files;
      else args.progressIntervalMs = interval.ms;
    },
    warning: `--progress-interval=${value} is not a kopia flag: the mover logs kopia's progress every ${every} (a bare number counts files, a unit such as 30s means time; on a terminal progress is redrawn in place instead)`,
  };
}

/** A flag as written: its name, the name with `--no-` taken off, and its value when given in the same argument. */
interface WrittenFlag {
  name: string;
  base: string;
  negated: boolean;
  value?: string;
}

/**
 * How kopia reads a flag out of one argument: the name ends at the first `=` or blank, and
 * `--no-x` is `--x` turned off. A short alias (`-p`, `-pVALUE`) reads as its long flag. Undefined
 * for an argument that is not a flag.
 */
function readFlag(arg: string): WrittenFlag | undefined {
  const short = arg.startsWith('--') ? undefined : SHORT_FLAGS[arg.slice(0, 2)];
  if (short !== undefined) {
    const rest = arg.slice(2).replace(/^[=\s]/, '');
    return { name: short, base: short, negated: false, ...(rest === '' ? {} : { value: rest }) };
  }
  if (!arg.startsWith('--')) return undefined;
  const cut = arg.search(/[=\s]/);
  const name = cut < 0 ? arg : arg.slice(0, cut);
  const value = cut < 0 ? undefined : arg[cut] === '=' ? arg.slice(cut + 1) : arg.slice(cut + 1).trim();
  const negated = name.startsWith('--no-');
  return { name, base: negated ? `--${name.slice(5)}` : name, negated, ...(value === undefined ? {} : { value }) };
}

/** The flag an argument sets, with `--no-x` counted as `--x`; undefined for a value or a positional argument. */
export function flagName(arg: string): string | undefined {
  return arg.startsWith('--') ? readFlag(arg)?.base : undefined;
}

const COMMAND_NAMES: Record<Command, string> = { create: 'snapshot create', restore: 'snapshot restore' };

/**
 * Reads the additional args for an operation in one pass, each flag by its record in the table:
 * what goes to kopia's command, what becomes the path policy or a mover setting, and one finding
 * per argument that is refused (an error) or left out (a warning). Anything kopia would reject is
 * an error now, so a copied doc example fails before the repository is touched, not halfway. No
 * finding quotes a value: a misplaced secret must not reach the log.
 */
export function readAdditionalArgs(args: readonly string[], operation: 'backup' | 'restore' | 'maintenance' | undefined): Found<AdditionalArgs> {
  const command: Command = operation === 'restore' ? 'restore' : 'create';
  const value: AdditionalArgs = { passThrough: [], pathPolicy: {}, throttle: {} };
  const findings: Finding[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (hasControlCharacter(arg)) {
      findings.push(errorFinding(SOURCE, 'an argument contains control characters or newlines'));
      continue;
    }
    const flag = readFlag(arg);
    if (flag === undefined) {
      findings.push(errorFinding(SOURCE, `argument ${i + 1} is not a --flag; each argument must be one flag, e.g. --tags=env:prod`));
      continue;
    }
    const rule = ruleOf(flag.base, command);
    if (rule === undefined) {
      findings.push(errorFinding(SOURCE, `kopia ${COMMAND_NAMES[command]} has no ${flag.base} flag`));
      continue;
    }
    // `--ignore PATTERN` given as two arguments: the value is the next one.
    const next = args[i + 1];
    const paired = flag.value === undefined && rule.takesValue && next !== undefined && !next.startsWith('--') && !hasControlCharacter(next);
    if (paired) i++;
    const finding = applyFlag(value, flag, rule.disposition, paired ? [arg, next] : [arg]);
    if (finding !== undefined) findings.push(finding);
  }
  return { value, findings };
}

/** What one flag does to the args; the finding about it, if any. `written` is the flag and its value as given. */
function applyFlag(args: AdditionalArgs, flag: WrittenFlag, disposition: Disposition, written: readonly string[]): Finding | undefined {
  const { base } = flag;
  const value = flag.value ?? written[1];
  switch (disposition.kind) {
    case 'forbidden':
      return errorFinding(SOURCE, `${base} is not allowed: VolSync manages it or it carries credentials`);
    case 'refused':
      return errorFinding(SOURCE, `${base} cannot be used: ${disposition.instead}`);
    case 'dropped':
      return warningFinding(SOURCE, `${base} left out: ${disposition.reason}`);
    case 'translated': {
      const translation = disposition.translate(value, base);
      if ('error' in translation) return errorFinding(SOURCE, translation.error);
      translation.apply(args);
      return warningFinding(SOURCE, translation.warning);
    }
    case 'policy':
      return setPathPolicy(args, flag, disposition, value);
    case 'passed': {
      const refusal = disposition.incomplete && incompleteRestore(flag, disposition.incomplete, value);
      if (refusal) return errorFinding(SOURCE, refusal);
      args.passThrough.push(...written);
      return undefined;
    }
  }
}

/** The refusal of a restore flag spelled so that the restore would be incomplete, if it is. */
function incompleteRestore(flag: WrittenFlag, rule: IncompleteRestore, value: string | undefined): string | undefined {
  if (rule.allowed(flag.negated, value)) return undefined;
  const spelled = flag.negated ? `--no-${flag.base.slice(2)}` : flag.base;
  return (
    `${spelled} is refused for a restore: ${rule.does}, so the restore would be incomplete. ` +
    'Remove it: the mover restores the whole snapshot and replaces what DATA_DIR holds (KOPIA_ENABLE_FILE_DELETION also removes extras; ' +
    'KOPIA_SHALLOW only picks among the newest snapshots)'
  );
}

/** A policy flag, set in the snapshot path's policy; lists given more than once add up. */
function setPathPolicy(
  args: AdditionalArgs,
  flag: WrittenFlag,
  target: Extract<Disposition, { kind: 'policy' }>,
  value: string | undefined,
): Finding | undefined {
  const { base } = flag;
  let setting: unknown;
  if (target.type === 'boolean') {
    const on = flag.negated ? 'false' : value ?? 'true';
    if (on !== 'true' && on !== 'false') return errorFinding(SOURCE, `${base} takes true or false`);
    setting = on === 'true';
  } else if (value === undefined || value === '') {
    return errorFinding(SOURCE, `${base} needs a value, e.g. ${base}=*.tmp`);
  } else if (target.type === 'bytes') {
    if (!/^\d+$/.test(value)) return errorFinding(SOURCE, `${base} takes a number of bytes`);
    setting = Number(value);
  } else {
    setting = [value];
  }
  const section = (args.pathPolicy[target.section] ??= {});
  const current = section[target.field];
  if (Array.isArray(current) && Array.isArray(setting)) current.push(...(setting as unknown[]));
  else section[target.field] = setting;
  return undefined;
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
    if (name === undefined || (Object.hasOwn(ADDITIONAL_ARG_FLAGS, name) && ADDITIONAL_ARG_FLAGS[name]!.repeatable)) continue;
    if (seen.has(name)) repeated.add(name);
    seen.add(name);
  }
  return [...repeated];
}
