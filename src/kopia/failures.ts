/**
 * A small, stable set of failure classes: what went wrong in words an operator acts on, whether a
 * retry (the Job's next attempt) can help, and the one thing to fix. Classes are part of the
 * output contract (summary, termination message, log); their names do not change.
 */
export type FailureClass =
  | 'AuthFailure'
  | 'AccessDenied'
  | 'RepositoryUnavailable'
  | 'NotInitialized'
  | 'RepositoryPath'
  | 'PermissionDenied'
  | 'NoSpace'
  | 'StorageFull'
  | 'MountBusy'
  | 'TargetConflict'
  | 'RepositoryCorrupt'
  | 'Locked'
  | 'SourceError'
  | 'CacheError'
  | 'CacheFull'
  | 'ActionFailed'
  | 'Configuration'
  | 'Interrupted'
  | 'OutOfMemory'
  | 'NetworkStalled'
  | 'VerifyFailed'
  | 'Unknown';

export interface Failure {
  class: FailureClass;
  /** What happened, in a few words for the reason line. */
  what: string;
  retryable: boolean;
  fix: string;
}

/**
 * What a kopia process ended as, in the words the plan's conditions use. Anything else kopia
 * reports is `failed` (and kopia's words go to the error).
 */
export type Outcome = 'ok' | 'not-initialized' | 'creation-in-flight' | 'create-lost' | 'failed';

/**
 * What kopia's words say of the local cache (under --cache-dir): one cache folder whose `.shards`
 * layout file does not parse, files it cannot load (index files, a cached format blob that no longer
 * parses), or a cached kopia.blobcfg that does not decrypt. The last says the same as a repository
 * two movers created at once; which it is depends on the command (see cache-recovery.ts).
 */
export type CacheDamage = { folder: string } | 'unreadable' | 'blobcfg';

/** Everything kopia's output says about how a command ended: one reading, for the plan and the report alike. */
export interface Verdict extends Failure {
  outcome: Outcome;
  /** kopia could not open the repository at all, as opposed to the operation on it failing. */
  opening: boolean;
  cache: CacheDamage | undefined;
}

interface Rule extends Failure {
  pattern: RegExp;
}

// kopia's words that more than one reading below looks for.
const NOT_INITIALIZED = 'repository not initialized';
const WRONG_PASSWORD = 'invalid repository password';
const BLOBCFG_UNDECRYPTABLE = 'unable to decrypt repository blobcfg blob';
const words = (...alternatives: string[]) => new RegExp(alternatives.join('|'), 'i');

/**
 * kopia's words for the outcomes a plan acts on, in the order they decide. A filesystem repository
 * whose directory does not exist yet is not initialized either. A create that found the repository
 * made by someone else in the meantime lost the race. What a connect sees while another mover's
 * create is half-written (the blob config of one creator beside the format blob of another) passes
 * within the creator's next second or two.
 */
const OUTCOMES: ReadonlyArray<[Exclude<Outcome, 'ok' | 'failed'>, RegExp]> = [
  ['not-initialized', words(`${NOT_INITIALIZED} in the provided storage`, 'cannot access storage path: stat .*: no such file or directory')],
  ['create-lost', words('found existing data in storage location', 'repository already initialized', 'blobcfg blob exists, but format blob is not found')],
  ['creation-in-flight', words(BLOBCFG_UNDECRYPTABLE)],
];

/** kopia's words for failing to open the repository at all. */
const OPENING = words(
  WRONG_PASSWORD,
  NOT_INITIALIZED,
  'not connected to a repository',
  'unable to open repository',
  'error connecting to repository',
  'failed to open repository',
  'unable to connect to storage',
);

/**
 * kopia's messages for a local cache it cannot load: corrupt or truncated index files, or a cached
 * format blob that no longer parses (as after a node crash mid-write). A cache folder's damaged
 * `.shards` file names the folder; the repository's own `.shards` is named as a blob instead.
 */
const CACHE_UNREADABLE = words('error loading indexes', 'unable to open pack index', 'mmap error', 'error opening index from', 'invalid header format', "can't parse format blob", 'invalid format blob');
const CACHE_LAYOUT = /unable to open (contents|metadata|index-blobs|blob-list|own-writes|indexes): error determining sharded path/i;
const CACHE_BLOBCFG = words(BLOBCFG_UNDECRYPTABLE);

const NETWORK_STALLED: Failure = {
  class: 'NetworkStalled',
  what: 'kopia made no progress for the stall limit and was stopped',
  retryable: true,
  fix: 'kopia waited on the storage with nothing moving (no output, no change in its counts) for KOPIA_MOVER_STALL_SECONDS: check the network path to the endpoint (a firewall or proxy dropping packets, a hung endpoint); raise KOPIA_MOVER_STALL_SECONDS if a step is silent that long on its own (a slow policy action, maintenance of a very large repository)',
};

/** The line the runner adds to a command's output when it stopped kopia for making no progress. */
export function stallLine(seconds: number): string {
  return `stall timeout: no progress from kopia for ${seconds} s (KOPIA_MOVER_STALL_SECONDS), it was stopped`;
}
const STALL_LINE = /^stall timeout: no progress from kopia for \d+ s \(KOPIA_MOVER_STALL_SECONDS\), it was stopped$/;

/**
 * kopia's words (and those of the storage it talks to) for each kind of failure, most specific
 * first: the first rule whose pattern matches any line of kopia's output decides.
 */
const RULES: readonly Rule[] = [
  // Only the runner writes this line, last: kopia was stopped for it, whatever else it printed.
  { pattern: STALL_LINE, ...NETWORK_STALLED },
  {
    // The only programs kopia runs during an upload are policy actions; an essential one that fails
    // or times out ends the snapshot with Go's words for the command. Before the other rules: the
    // action's own output, printed above, may hold any of their words.
    pattern: /(^|\s)upload error: (.*: )?(exit status \d+|signal: killed)\s*$/,
    class: 'ActionFailed',
    what: 'an essential policy action failed',
    retryable: true,
    fix: 'a policy action with "mode": "essential" (actions.beforeSnapshotRoot or beforeFolder) failed or timed out: check its output above; no snapshot was taken',
  },
  {
    pattern: words(WRONG_PASSWORD),
    class: 'AuthFailure',
    what: 'wrong repository password',
    retryable: false,
    fix: 'the repository password (--password-file or KOPIA_PASSWORD) does not open this repository: give the one it was created with',
  },
  {
    pattern: /NoSuchBucket|bucket does not exist|specified bucket does not exist|ContainerNotFound|container does not exist/i,
    class: 'AccessDenied',
    what: 'the bucket does not exist',
    retryable: false,
    fix: 'the bucket (or container) does not exist: create it (kopia does not), or correct its name in --repository or KOPIA_REPOSITORY',
  },
  {
    pattern: /AccessDenied|Access Denied|SignatureDoesNotMatch|InvalidAccessKeyId|access key id you provided does not exist|AuthenticationFailed|AuthorizationFailure|AuthorizationPermissionMismatch|Forbidden|invalid_grant|unauthorized/i,
    class: 'AccessDenied',
    what: 'storage access denied',
    retryable: false,
    fix: 'the storage credentials are wrong or may not list, read and write the bucket: check the keys in the repository Secret and their rights',
  },
  {
    pattern: /x509:|certificate signed by unknown authority|certificate is valid for|tls: failed to verify/i,
    class: 'RepositoryUnavailable',
    what: "the storage endpoint's certificate is not trusted",
    retryable: false,
    fix: "the endpoint's TLS certificate is not trusted: set CUSTOM_CA (or KOPIA_CUSTOM_CA) to its CA bundle, or check the endpoint name",
  },
  {
    pattern: /no space left on device|disk quota exceeded/i,
    class: 'NoSpace',
    what: 'a volume is full',
    retryable: false,
    fix: 'the volume of the path the error names is full (the repository storage, the cache under --cache-dir or KOPIA_CACHE_DIR, or the restore target): free space or grow that volume; a retry fails the same way',
  },
  {
    // The object store itself refuses new data. MinIO answers 507 XMinioStorageFull once a drive
    // is past its free-space threshold, and kopia, after its retries, prints only the description;
    // other stores say InsufficientStorage (507) or QuotaExceeded. After NoSpace, so a full local
    // volume ("disk quota exceeded") stays a volume.
    pattern: /XMinioStorageFull|minimum free drive threshold|InsufficientStorage|Insufficient Storage|QuotaExceeded/i,
    class: 'StorageFull',
    what: 'the object store holding the repository is full',
    retryable: false,
    fix: 'the object store behind the repository (the bucket in KOPIA_REPOSITORY, at KOPIA_S3_ENDPOINT or the like) refuses new data: its drives are full or a quota is reached. Free space or grow the drives on that server, raise the bucket quota, or delete old snapshots there; a retry fails the same way until then',
  },
  {
    // kopia's (Go's) words, and Node's for the program's own file operations (deletion).
    pattern: /device or resource busy|EBUSY: resource busy/i,
    class: 'MountBusy',
    what: 'a mount point or busy file stands in the way',
    retryable: false,
    fix: 'something is mounted (or held busy) at the path the error names, where the snapshot has an entry of its own: unmount it, or move the mount outside the restore target (--data-dir or DATA_DIR)',
  },
  {
    // Only in a restore's own error, so a repository path of the wrong type stays a repository problem.
    pattern: /restore error: .*(already exists and it is not a (directory|file|symlink)|: is a directory|: not a directory|mkdir .*: file exists)/i,
    class: 'TargetConflict',
    what: 'an entry in DATA_DIR has another type than in the snapshot',
    retryable: false,
    fix: 'the restore target (--data-dir or DATA_DIR) holds an entry of another type (a file, symlink or mount) where the snapshot has a directory, or the other way round, at the path the error names: move it away and restore again',
  },
  {
    // The store is up but turns requests away for now: MinIO past MINIO_API_REQUESTS_MAX answers 429
    // "Please reduce your request rate" (older MinIO and S3 say 503 SlowDown), and kopia prints that.
    pattern: /reduce your request rate|TooManyRequests|Too Many Requests|SlowDown/i,
    class: 'RepositoryUnavailable',
    what: 'the storage endpoint turned requests away (too many at once)',
    retryable: true,
    fix: 'the object store asked for fewer requests (429 TooManyRequests or 503 SlowDown): the next attempt usually succeeds; if it keeps happening, raise its request limit (MinIO: MINIO_API_REQUESTS_MAX) or spread the schedules of the movers that share it',
  },
  {
    pattern: /no such host|connection refused|i\/o timeout|context deadline exceeded|TLS handshake timeout|network is unreachable|connection reset|server misbehaving|Service Unavailable|Bad Gateway|Gateway Timeout|SlowDown|unexpected EOF|proxyconnect/i,
    class: 'RepositoryUnavailable',
    what: 'the storage endpoint could not be reached',
    retryable: true,
    fix: 'the storage endpoint could not be reached: check its address (KOPIA_S3_ENDPOINT and the like), DNS, the network and any proxy (HTTPS_PROXY, NO_PROXY)',
  },
  {
    pattern: words(NOT_INITIALIZED, 'repository volume is not mounted'),
    class: 'NotInitialized',
    what: 'no repository at this location',
    retryable: false,
    fix: 'there is no repository at this location: check --repository or KOPIA_REPOSITORY (bucket, prefix or path, and that its volume is mounted), or run a backup first, which creates it',
  },
  {
    pattern: /lock(ed)? by|unable to (acquire|obtain) .*lock|maintenance is already (running|in progress)|already owned/i,
    class: 'Locked',
    what: 'the repository is locked by another process',
    retryable: true,
    fix: 'another kopia process holds the repository or its maintenance: the next attempt usually succeeds; check for stuck maintenance jobs',
  },
  {
    // Only kopia's snapshot verifier says these words, for each file it could not check or read
    // back. After the network rules, so a verify cut off from the storage stays retryable.
    pattern: /verify object: |error reading object \S+: |error verifying content \S+: |object \S+ is backed by missing blob /,
    class: 'VerifyFailed',
    what: 'the snapshot verify found damaged or missing data',
    retryable: false,
    fix: "data in the repository's storage does not read back as it was written (kopia's errors name the files; a retry reads the same bytes): check the storage for altered or deleted files (a failing disk, a lifecycle rule, another writer), restore from a snapshot that verifies (--previous or KOPIA_PREVIOUS), and drop the unreadable files with 'kopia snapshot fix invalid-files --verify-files-percent=100 --commit': until then new backups reuse the damaged data",
  },
  {
    // A pack blob that is gone (BLOB not found) or does not decrypt (invalid checksum): the repository lost data.
    pattern: /BLOB not found|invalid checksum|unexpected content error|unable to decrypt content|message authentication failed|content not found|object not found|unable to find pack|error parsing sharding parameters/i,
    class: 'RepositoryCorrupt',
    what: 'repository content is missing or damaged',
    retryable: false,
    fix: "the repository misses or cannot read content a snapshot refers to (named above), or its .shards layout file is damaged: check the storage for deleted or altered files, run 'kopia snapshot verify' against it, and restore an older snapshot (--previous or KOPIA_PREVIOUS) meanwhile",
  },
  {
    pattern: /permission denied|read-only file system|operation not permitted/i,
    class: 'PermissionDenied',
    what: 'permission denied on a path kopia names',
    retryable: false,
    fix: "the mover's user cannot write the path the error names (the repository, the cache under --cache-dir or KOPIA_CACHE_DIR, or --data-dir or DATA_DIR): fix its ownership or mode, or the volume's fsGroup",
  },
];

/** Lines that report a problem: progress lines and file listings are left out, so a number in them decides nothing. */
const PROBLEM_LINE = /error|unable|fail|denied|refused|invalid|cannot|can't|not initialized|not mounted|forbidden|unreachable|timeout|lock|no space|busy|not found|checksum/i;

/** The cache damage kopia's lines report, if any. */
function cacheDamage(lines: readonly string[]): CacheDamage | undefined {
  for (const line of lines) {
    const folder = CACHE_LAYOUT.exec(line)?.[1];
    if (folder !== undefined) return { folder };
  }
  if (lines.some((l) => CACHE_UNREADABLE.test(l))) return 'unreadable';
  return lines.some((l) => CACHE_BLOBCFG.test(l)) ? 'blobcfg' : undefined;
}

/**
 * The one reading of kopia's output: how the command ended (`exitCode`, when known; without it the
 * words alone decide, as for a message the program passes on), what kind of failure it is, whether
 * a retry can help and what to fix. Give it kopia's raw words (a result's `rawTail`), never the
 * redacted ones: a secret that is a common word would hide the words that decide.
 */
export function classifyKopiaOutput(output: string | readonly string[], exitCode?: number): Verdict {
  const all = typeof output === 'string' ? output.split('\n') : output.flatMap((l) => l.split('\n'));
  const problems = all.filter((l) => PROBLEM_LINE.test(l));
  const rule = RULES.find((r) => problems.some((l) => r.pattern.test(l)));
  const failure = failureOnly(rule ?? KNOWN_FAILURES.Unknown);
  const found = OUTCOMES.find(([, pattern]) => all.some((l) => pattern.test(l)))?.[0];
  const outcome = exitCode === 0 ? 'ok' : (found ?? 'failed');
  return { ...failure, outcome, opening: all.some((l) => OPENING.test(l)), cache: cacheDamage(all) };
}

/** kopia's last lines that report a problem (at most `count`), for a reason line. */
export function problemLines(lines: readonly string[], count = 2): string[] {
  return lines.filter((l) => PROBLEM_LINE.test(l)).slice(-count);
}

/**
 * The path of the restore's root placeholder kopia could not remove because the folder above the
 * target is read-only (`error restoring: restore error: finish directory: unlinkat
 * <path>.kopia-entry: read-only file system`), when that is kopia's one error line; else undefined.
 */
export function readOnlyRestoreParent(lines: readonly string[]): string | undefined {
  const errors = lines.filter((line) => /error/i.test(line));
  if (errors.length !== 1) return undefined;
  // kopia may print its last progress update without a line break, right before its error.
  return /(?:^|[^A-Za-z])error restoring: restore error: finish directory: unlinkat (\S+)\.kopia-entry: read-only file system$/.exec(errors[0]!.trim())?.[1];
}

/** The failure alone (class, what, retryable, fix), as the summary and an error carry it. */
export function failureOnly({ class: cls, what, retryable, fix }: Failure): Failure {
  return { class: cls, what, retryable, fix };
}

/** Failures the program knows by their kind rather than by kopia's words. */
export const KNOWN_FAILURES: Readonly<
  Record<'Configuration' | 'SourceError' | 'CacheError' | 'CacheFull' | 'ActionFailed' | 'NetworkStalled' | 'Killed' | 'Interrupted' | 'Unknown' | 'UnknownWithoutOutput', Failure>
> = {
  Configuration: {
    class: 'Configuration',
    what: 'configuration error',
    retryable: false,
    fix: "correct the flag, variable or file named in the reason; 'kopia-mover validate' checks them all without touching a repository",
  },
  SourceError: {
    class: 'SourceError',
    what: 'part of DATA_DIR could not be read',
    retryable: false,
    fix: 'the mover could not read part of the backup source (--data-dir or DATA_DIR): give its user read access (or allow privileged movers), or set errorHandling.ignoreFileErrors in the policy',
  },
  CacheError: {
    class: 'CacheError',
    what: 'the local cache is damaged',
    retryable: true,
    fix: 'the local cache (--cache-dir or KOPIA_CACHE_DIR) is damaged and was not cleared: set KOPIA_FORCE_CACHE_REBUILD=true, or empty that directory',
  },
  CacheFull: {
    class: 'CacheFull',
    what: 'the cache volume is full',
    retryable: false,
    fix: 'the cache volume is full: raise cacheCapacity in the mover spec, or free space where --cache-dir or KOPIA_CACHE_DIR points',
  },
  ActionFailed: {
    class: 'ActionFailed',
    what: 'the before-snapshot action failed',
    retryable: true,
    fix: 'KOPIA_BEFORE_SNAPSHOT failed or timed out, so no snapshot was taken: fix the command (its exit code or timeout is in the reason, its output in the log), or raise actionCommandTimeout',
  },
  NetworkStalled: NETWORK_STALLED,
  Killed: {
    class: 'Interrupted',
    what: 'the mover ended without finishing',
    retryable: true,
    fix: "the mover was killed before its summary: if the pod was OOMKilled or its log ends in 'JavaScript heap out of memory', raise moverResources.limits.memory",
  },
  Interrupted: { class: 'Interrupted', what: 'stopped by a signal', retryable: true, fix: 'the mover was stopped (a signal): the next attempt starts over; the repository is consistent' },
  Unknown: {
    class: 'Unknown',
    what: 'kopia failed',
    retryable: true,
    fix: "kopia's own words are in the output between KOPIA_ERROR_OUTPUT_START and KOPIA_ERROR_OUTPUT_END: act on what they say; a retry may help if the cause was passing",
  },
  // Nothing to point at: kopia said nothing, or the failure was the program's own.
  UnknownWithoutOutput: {
    class: 'Unknown',
    what: 'the run failed without an explanation',
    retryable: true,
    fix: "nothing printed explains it: run again with KOPIA_LOG_LEVEL=debug and read the log (kopia's log files are under logs/ in --cache-dir or KOPIA_CACHE_DIR); a retry may help if the cause was passing",
  },
};

/**
 * The failure as the summary shows it: an Unknown failure can only point at kopia's output when
 * there is some.
 */
export function shownFailure(failure: Failure, kopiaOutput: string | undefined): Failure {
  const silent = kopiaOutput === undefined || kopiaOutput.trim() === '';
  return failure.class === 'Unknown' && silent ? KNOWN_FAILURES.UnknownWithoutOutput : failure;
}

/**
 * A filesystem repository that cannot be created where it is asked for: its parent folder is
 * missing (mistyped, or in a pod a volume not mounted) or this user may not write it. Named by
 * path, so the fix is one command away.
 */
export function repositoryParentFailure(repository: string, parent: string, problem: 'missing' | 'not writable'): Failure {
  const fix =
    problem === 'missing'
      ? `${parent} does not exist: create it (mkdir -p ${parent}), or check the path in --repository or KOPIA_REPOSITORY; in a pod, the repository volume is probably not mounted`
      : `${parent} is not writable for this user, so ${repository} cannot be created there: create ${repository} with write access for this user, or check the path in --repository or KOPIA_REPOSITORY (e.g. ~/kopia-repo)`;
  return { class: 'RepositoryPath', what: `no repository can be created at ${repository}`, retryable: false, fix };
}

/** Every failure this module defines, with a sample of the path-specific ones: for checks that each has a fix. */
export function definedFailures(): Failure[] {
  const rules = RULES.map(failureOnly);
  const parent = ['missing', 'not writable'] as const;
  return [...rules, ...Object.values(KNOWN_FAILURES), ...parent.map((p) => repositoryParentFailure('/backups/repo', '/backups', p))];
}

/** Classes of the operating system's own errors that a retry cannot fix, by errno code. */
const ERRNO_CLASSES: Readonly<Record<string, FailureClass>> = {
  ENOSPC: 'NoSpace',
  EDQUOT: 'NoSpace',
  EBUSY: 'MountBusy',
  EACCES: 'PermissionDenied',
  EPERM: 'PermissionDenied',
  EROFS: 'PermissionDenied',
};

/** The failure of a class kopia's words decide, for when the program finds the same condition itself. */
export function failureOfClass(cls: FailureClass): Failure | undefined {
  const rule = RULES.find((r) => r.class === cls);
  return rule && failureOnly(rule);
}

/** The class of an error the program's own file operations met (not kopia's), if it has one. */
export function errnoFailure(code: string | undefined): Failure | undefined {
  const cls = code === undefined ? undefined : ERRNO_CLASSES[code];
  return cls && failureOfClass(cls);
}
