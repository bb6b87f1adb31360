import { classifyKopiaOutput, errnoFailure, failureOnly, KNOWN_FAILURES, shownFailure, type Failure } from './kopia/failures.js';

/**
 * One error hierarchy for the whole program. Each class carries the exit code
 * from the table in the README, so the CLI edge is the only place that maps
 * a failure to a process exit.
 */
export const ExitCode = {
  Success: 0,
  OperationFailed: 1,
  Config: 2,
  Repository: 3,
  BeforeSnapshotAction: 4,
  MaintenanceOwnership: 5,
  MaintenanceRun: 6,
  /** `status`: an identity's newest complete snapshot is older than the maximum age, or it has none. */
  SnapshotTooOld: 7,
  CacheExhausted: 137,
} as const;

export type ExitCodeValue = number;

export abstract class MoverError extends Error {
  /** The exit code of the error's kind; `exitCodeOf` decides the process's. */
  abstract readonly exitCode: ExitCodeValue;
  /** kopia's own error output (redacted), when the failure came from a kopia process. */
  kopiaOutput?: string;
  /** The failure's class when the program knows it: from the error's kind, or from kopia's raw words. */
  private known?: Failure;
  constructor(message: string, kopiaOutput?: string, failure?: Failure) {
    super(message);
    this.name = new.target.name;
    this.kopiaOutput = kopiaOutput;
    this.known = failure && failureOnly(failure);
  }

  /**
   * What kind of failure this is, whether a retry can help and what to fix: what the program knows,
   * else what the words of the message say (a file operation's, in Node's words), else unknown.
   */
  get failure(): Failure {
    const failure = this.known ?? failureOnly(classifyKopiaOutput(this.message));
    return shownFailure(failure, this.kopiaOutput);
  }

  /** Takes the class kopia's raw words gave the failed command, unless the error knows its own. */
  classifiedAs(failure: Failure): void {
    if (failure.class !== 'Unknown') this.known ??= failureOnly(failure);
  }

  /** The reason line of the summary. */
  get reason(): string {
    return this.message;
  }
}

/** A single finding about one input: the variable or file it concerns, and what is wrong. */
export interface ConfigIssue {
  /** Environment variable name, file path, or flag the problem is about. */
  source: string;
  message: string;
}

export class ConfigError extends MoverError {
  readonly exitCode = ExitCode.Config;
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[] | ConfigIssue) {
    const list = Array.isArray(issues) ? issues : [issues];
    super(list.map((i) => `${i.source}: ${i.message}`).join('; '), undefined, KNOWN_FAILURES.Configuration);
    this.issues = list;
  }

  override get reason(): string {
    return `configuration error: ${this.message}`;
  }
}

export class RepositoryError extends MoverError {
  readonly exitCode = ExitCode.Repository;
}

export class OperationError extends MoverError {
  readonly exitCode = ExitCode.OperationFailed;
}

export class BeforeSnapshotActionError extends MoverError {
  readonly exitCode = ExitCode.BeforeSnapshotAction;
  constructor(message: string, kopiaOutput?: string) {
    super(message, kopiaOutput, KNOWN_FAILURES.ActionFailed);
  }
}

export class MaintenanceOwnershipError extends MoverError {
  readonly exitCode = ExitCode.MaintenanceOwnership;
  constructor(message: string, readonly currentOwner?: string, kopiaOutput?: string) {
    super(message, kopiaOutput, {
      class: 'Locked',
      what: 'maintenance is owned by another client',
      retryable: true,
      fix: `another client (${currentOwner ?? 'unknown'}) keeps maintenance ownership: stop its maintenance or give both the same KOPIA_OVERRIDE_MAINTENANCE_USERNAME`,
    });
  }
}

export class MaintenanceRunError extends MoverError {
  readonly exitCode = ExitCode.MaintenanceRun;
}

/** A run that failed while the cache volume was nearly full: the full volume is the likely cause. */
export class CacheExhaustedError extends MoverError {
  readonly exitCode = ExitCode.CacheExhausted;
  constructor(message: string, cause: unknown) {
    super(`${message} (${cause instanceof Error ? cause.message : String(cause)})`, cause instanceof MoverError ? cause.kopiaOutput : undefined, KNOWN_FAILURES.CacheFull);
  }
}

/** The mover's own heap nearly full: stopping now still leaves room to say so. */
export class OutOfMemoryError extends MoverError {
  readonly exitCode = ExitCode.OperationFailed;
  constructor(message: string) {
    super(message, undefined, {
      class: 'OutOfMemory',
      what: 'the mover ran out of memory',
      retryable: false,
      fix: "the mover's memory limit is too small for this volume: raise moverResources.limits.memory (or NODE_OPTIONS=--max-old-space-size)",
    });
  }
}

/** A command line the program cannot make sense of. */
export class UsageError extends MoverError {
  readonly exitCode = ExitCode.Config;
  constructor(message: string) {
    super(message, undefined, KNOWN_FAILURES.Configuration);
  }
}

/** The run was stopped by a signal; exit code is 128 + the signal number. */
export class TerminatedError extends MoverError {
  readonly exitCode: ExitCodeValue;
  constructor(readonly signal: NodeJS.Signals, signalNumber: number) {
    super(`terminated by ${signal}`, undefined, KNOWN_FAILURES.Interrupted);
    this.exitCode = 128 + signalNumber;
  }
}


/** The process exit code for how a run ended: the one place a failure becomes a number. */
export function exitCodeOf(error: unknown): ExitCodeValue {
  if (!(error instanceof MoverError)) return ExitCode.OperationFailed;
  // A failing action is exit 4 whether the mover ran it (a hook) or kopia did (an essential policy action).
  return error.failure.class === 'ActionFailed' ? ExitCode.BeforeSnapshotAction : error.exitCode;
}

/** What the operating system's errno codes mean, for a reason line in plain words. */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EBUSY: 'a mount point or busy file is in the way',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the filesystem is read-only',
  ENOENT: 'it does not exist',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EEXIST: 'it already exists',
  ENOTEMPTY: 'the directory is not empty',
  EMFILE: 'too many open files',
  EIO: 'an input/output error',
};

/**
 * The last resort for an error the program did not expect (not a MoverError): it is never printed
 * as JavaScript gave it. An error of the operating system gets a plain sentence naming the
 * operation and path; anything else a plain sentence only, with the details left to the debug log.
 */
export function unexpectedFailure(error: unknown): { reason: string; failure: Failure } {
  const e = error as Partial<NodeJS.ErrnoException> | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const words = code === undefined ? undefined : ERRNO_WORDS[code];
  if (words !== undefined) {
    const what = [e?.syscall, e?.path].filter((x) => typeof x === 'string' && x !== '').join(' ');
    return { reason: `the mover could not ${what || 'go on'}: ${words}`, failure: errnoFailure(code) ?? KNOWN_FAILURES.UnknownWithoutOutput };
  }
  return { reason: 'the mover stopped on an internal error it did not expect (run with KOPIA_LOG_LEVEL=debug to log its details); a retry may help', failure: KNOWN_FAILURES.UnknownWithoutOutput };
}
