// How each kind of error a run can end with reaches the summary: reason, class, verdict, fix and
// exit code, from the error alone.
import { describe, expect, it } from 'vitest';
import {
  BeforeSnapshotActionError,
  CacheExhaustedError,
  ConfigError,
  MaintenanceOwnershipError,
  MaintenanceRunError,
  OperationError,
  OutOfMemoryError,
  RepositoryError,
  TerminatedError,
  UsageError,
} from '../../src/errors.js';
import { classifyKopiaOutput, KNOWN_FAILURES } from '../../src/kopia/failures.js';
import { summaryOf } from '../../src/report/summary.js';

const WRONG_PASSWORD = 'error connecting to repository: unable to create format manager: invalid repository password';
const NO_SPACE = 'error restoring: restore error: copy file: error creating file: open /data/x: write /data/x: no space left on device';

describe('summaryOf', () => {
  it('a configuration error: exit 2, Configuration, the reason naming each input', () => {
    const error = new ConfigError([
      { source: 'KOPIA_PREVIOUS', message: 'must be a whole number' },
      { source: '--data-dir', message: 'directory /x does not exist' },
    ]);
    expect(summaryOf(error)).toEqual({
      result: 'FAILURE',
      exitCode: 2,
      reason: 'configuration error: KOPIA_PREVIOUS: must be a whole number; --data-dir: directory /x does not exist',
      failure: KNOWN_FAILURES.Configuration,
      kopiaErrorOutput: undefined,
    });
  });

  it('a usage error: exit 2, Configuration, its message as the reason', () => {
    expect(summaryOf(new UsageError("unknown command 'bakup', did you mean backup?"))).toMatchObject({ exitCode: 2, reason: "unknown command 'bakup', did you mean backup?", failure: KNOWN_FAILURES.Configuration });
  });

  it("a repository error: exit 3, the class kopia's raw words gave it, and kopia's printed words", () => {
    const error = new RepositoryError('could not connect to /repo: wrong repository password', '[redacted] output', classifyKopiaOutput([WRONG_PASSWORD], 1));
    const s = summaryOf(error);
    expect(s).toMatchObject({ exitCode: 3, reason: 'could not connect to /repo: wrong repository password', kopiaErrorOutput: '[redacted] output' });
    expect(s.failure).toEqual({ class: 'AuthFailure', what: 'wrong repository password', retryable: false, fix: expect.stringContaining('KOPIA_PASSWORD') });
  });

  it('an operation error: exit 1; without a class of its own, the one the executor found in kopia\'s raw words', () => {
    const error = new OperationError('restore failed (kopia exit code 1)', 'printed words');
    expect(summaryOf(error).failure).toEqual(KNOWN_FAILURES.Unknown);
    error.classifiedAs(classifyKopiaOutput([NO_SPACE], 1));
    expect(summaryOf(error)).toMatchObject({ exitCode: 1, failure: { class: 'NoSpace', retryable: false } });
    // A class the error knew is not overridden, and an unknown reading adds nothing.
    error.classifiedAs(classifyKopiaOutput([WRONG_PASSWORD], 1));
    expect(summaryOf(error).failure.class).toBe('NoSpace');
  });

  it("an error of the program's own file operations, in Node's words, gets the class those words name", () => {
    const error = new OperationError("file deletion failed: EBUSY: resource busy or locked, rmdir '/data/mnt'");
    expect(summaryOf(error)).toMatchObject({ exitCode: 1, failure: { class: 'MountBusy', retryable: false } });
  });

  it('an unknown failure points at kopia\'s words only when there are some', () => {
    expect(summaryOf(new OperationError('snapshot failed', 'ERROR something kopia said')).failure).toEqual(KNOWN_FAILURES.Unknown);
    expect(summaryOf(new OperationError('snapshot failed', '  ')).failure).toEqual(KNOWN_FAILURES.UnknownWithoutOutput);
    expect(summaryOf(new OperationError('snapshot failed')).failure).toEqual(KNOWN_FAILURES.UnknownWithoutOutput);
  });

  it("a failing action is exit 4, whether the mover ran it (a hook) or kopia did (an essential policy action)", () => {
    expect(summaryOf(new BeforeSnapshotActionError('KOPIA_BEFORE_SNAPSHOT exited 3; no snapshot was taken'))).toMatchObject({ exitCode: 4, failure: KNOWN_FAILURES.ActionFailed });
    const policyAction = new OperationError('snapshot failed (kopia exit code 1)', 'upload error: exit status 3');
    policyAction.classifiedAs(classifyKopiaOutput(['psql: connection refused', 'upload error: exit status 3'], 1));
    expect(summaryOf(policyAction)).toMatchObject({ exitCode: 4, failure: { class: 'ActionFailed', retryable: true } });
  });

  it('maintenance owned by another client: exit 5, Locked, naming the owner', () => {
    const s = summaryOf(new MaintenanceOwnershipError('could not claim maintenance ownership', 'other@host', 'kopia said'));
    expect(s).toMatchObject({ exitCode: 5, kopiaErrorOutput: 'kopia said', failure: { class: 'Locked', retryable: true } });
    expect(s.failure.fix).toContain('other@host');
  });

  it('maintenance that failed: exit 6', () => {
    expect(summaryOf(new MaintenanceRunError('run full maintenance failed (kopia exit code 1)', 'ERROR x'))).toMatchObject({ exitCode: 6, failure: KNOWN_FAILURES.Unknown });
  });

  it('a failure while the cache volume was full: exit 137, CacheFull, with the cause and its kopia output', () => {
    const cause = new OperationError('snapshot failed (kopia exit code 1)', 'ERROR no room');
    const s = summaryOf(new CacheExhaustedError('the cache volume is 99% full', cause));
    expect(s).toMatchObject({ exitCode: 137, reason: 'the cache volume is 99% full (snapshot failed (kopia exit code 1))', kopiaErrorOutput: 'ERROR no room', failure: KNOWN_FAILURES.CacheFull });
  });

  it('the heap nearly full: exit 1, OutOfMemory, not retryable', () => {
    expect(summaryOf(new OutOfMemoryError('out of memory: 900 MiB of 1000 MiB'))).toMatchObject({ exitCode: 1, failure: { class: 'OutOfMemory', retryable: false } });
  });

  it('a signal: 128 + its number, Interrupted, retryable', () => {
    expect(summaryOf(new TerminatedError('SIGTERM', 15))).toMatchObject({ exitCode: 143, reason: 'terminated by SIGTERM', failure: KNOWN_FAILURES.Interrupted });
  });

  it("an error the program did not expect: exit 1, never in JavaScript's words", () => {
    const s = summaryOf(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(s).toMatchObject({ exitCode: 1, failure: KNOWN_FAILURES.UnknownWithoutOutput });
    expect(s.reason).not.toContain('Cannot read');
    const full = summaryOf(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC', syscall: 'write', path: '/cache/x' }));
    expect(full).toMatchObject({ exitCode: 1, reason: 'the mover could not write /cache/x: no space left on the device', failure: { class: 'NoSpace' } });
  });

  it('carries the failure alone into the summary, not the rest of the reading', () => {
    const error = new RepositoryError('x', undefined, classifyKopiaOutput([WRONG_PASSWORD], 1));
    expect(Object.keys(summaryOf(error).failure).sort()).toEqual(['class', 'fix', 'retryable', 'what']);
  });
});
