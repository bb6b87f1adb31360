import { lstatSync, mkdirSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MaintenanceRunError, type MoverError, OperationError } from '../errors.js';
import { classifyKopiaOutput, failureOfClass } from '../kopia/failures.js';
import { parseSnapshotVerify, type SnapshotVerify } from '../kopia/models/snapshot-verify.js';
import type { KopiaResult } from '../kopia/runner.js';
import type { Arg, RunState, Step } from '../plan/step.js';
import type { VerifiedFigures } from '../report/summary.js';
import { mountPoints, mountPointsBelow } from './mounts.js';

/** One new snapshot after a backup, or every snapshot in the repository after maintenance. */
export type VerifyScope = VerifiedFigures['scope'];

/**
 * The verify's own cache folder, on the cache volume: kopia caches what it reads, and TMPDIR may be
 * memory in a pod (an emptyDir of medium Memory).
 */
export function verifyCacheDir(cacheDir: string): string {
  return join(cacheDir, 'verify-cache');
}

/** kopia's line for each file it could not check or read back: `error processing <snapshot path>: <cause>`. */
const VERIFY_ERROR = /error processing (.+?): (?:verify object: |error reading object \S+: |error verifying content \S+: |object \S+ is backed by missing blob )/;

/** The verify's figures, when kopia printed its result (it does on success and on error alike). */
function figuresOf(result: KopiaResult, scope: VerifyScope): VerifiedFigures | undefined {
  let read: SnapshotVerify;
  try {
    read = parseSnapshotVerify(result.stdout, result.tail.join('\n'));
  } catch (error) {
    // kopia printed no result only when it could not verify at all: its words decide the failure.
    if (result.exitCode !== 0) return undefined;
    throw error;
  }
  return { scope, files: read.stats.readFileCount, bytes: read.stats.readBytes, errors: read.errorCount };
}

function described(scope: VerifyScope, state: RunState): string {
  return scope === 'snapshot' ? `snapshot ${state.found.snapshot ?? '(unknown)'}` : 'the snapshots of the repository';
}

/**
 * Why the verify failed, with the first file kopia could not read back. The snapshot a backup
 * verifies was made before the verify began and stays in the repository: the run says so.
 */
function verifyFailure(scope: VerifyScope, result: KopiaResult, figures: VerifiedFigures | undefined, state: RunState): MoverError {
  const first = result.tail.map((l) => VERIFY_ERROR.exec(l)?.[1]).find((p) => p !== undefined);
  const found = figures && figures.errors > 0 ? `found ${figures.errors} error${figures.errors === 1 ? '' : 's'}${first ? ` (first: ${first})` : ''}` : `failed (kopia exit code ${result.exitCode})`;
  const kept = scope === 'snapshot' ? '; the snapshot was made and stays in the repository' : '; maintenance itself completed';
  const reason = `verify of ${described(scope, state)} ${found}${kept}`;
  // kopia's words decide the class (a storage out of reach stays retryable); errors in words the
  // classifier does not know are still data that did not read back.
  const unknown = classifyKopiaOutput(result.rawTail, result.exitCode).class === 'Unknown';
  const failure = unknown && figures !== undefined && figures.errors > 0 ? failureOfClass('VerifyFailed') : undefined;
  const output = result.tail.join('\n');
  return scope === 'snapshot' ? new OperationError(reason, output, failure) : new MaintenanceRunError(reason, output, failure);
}

/**
 * The steps that read back `percent` % of the files of the new snapshot (`snapshot`) or of every
 * snapshot (`repository`), with `kopia snapshot verify --verify-files-percent`; none at 0.
 *
 * kopia reads a file's contents through its content cache (cache.ContentCache in kopia 0.22.3): a
 * content read once, by a restore or an earlier verify, is served from the cache afterwards and
 * never fetched again, so a verify through this run's cache can pass over a pack file damaged
 * since. The verify process is therefore given a cache folder of its own, emptied first
 * (KOPIA_CACHE_DIRECTORY overrides the connection's folder for that process alone): everything it
 * checks comes from the repository's storage. The folder is removed when the verify ends; one left
 * by a run killed during its verify is emptied by the next.
 */
/**
 * Empties the verify's cache folder, which only kopia's verify writes. Invariant: nothing the
 * program did not put there is deleted through it: a symlink or file at its name is unlinked, never
 * followed, and a folder that is a mount point, or holds one, is refused and left as it is.
 */
function removeVerifyCache(cache: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = lstatSync(cache).isDirectory();
  } catch {
    return;
  }
  if (!isDirectory) {
    rmSync(cache, { force: true });
    return;
  }
  const real = realpathSync(cache, { encoding: 'buffer' });
  const points = mountPoints();
  if (points.some((point) => point.equals(real)) || mountPointsBelow(real, points).size > 0) {
    throw new OperationError(`${cache} (the verify's own cache folder) is or holds a mount point: it was not emptied; unmount it or remove it by hand`);
  }
  rmSync(cache, { recursive: true, force: true });
}

export function verifySteps(cacheDir: string, scope: VerifyScope, percent: number): Step[] {
  if (percent <= 0) return [];
  const cache = verifyCacheDir(cacheDir);
  const target: Arg[] = scope === 'snapshot' ? [{ ref: 'snapshot', shown: '<new snapshot>' }] : [];
  const removeCache = () => removeVerifyCache(cache);
  return [
    {
      id: 'verify-cache',
      kind: 'internal',
      describe: `empty ${cache}, the verify's own cache (KOPIA_CACHE_DIRECTORY in its environment): what it reads comes from the repository's storage, not from this cache`,
      run: () => {
        removeCache();
        mkdirSync(cache, { recursive: true, mode: 0o700 });
      },
    },
    {
      id: 'verify',
      kind: 'kopia',
      command: {
        // No snapshot named: kopia verifies every snapshot of every source.
        args: ['snapshot', 'verify', ...target, `--verify-files-percent=${percent}`, '--json'],
        purpose: `read back ${percent} % of the files of ${scope === 'snapshot' ? 'the new snapshot' : 'every snapshot'}`,
        captureStdout: true,
        env: { KOPIA_CACHE_DIRECTORY: cache },
      },
      after: (result, state) => {
        removeCache();
        const figures = figuresOf(result, scope)!;
        state.ctx.summary.verified = figures;
        if (figures.errors > 0) throw verifyFailure(scope, result, figures, state);
        state.ctx.output.log.info({ verified: figures }, `verify of ${described(scope, state)}: ${figures.files} files read back, no error`);
      },
      fail: (result, state) => {
        removeCache();
        const figures = figuresOf(result, scope);
        if (figures) state.ctx.summary.verified = figures;
        return verifyFailure(scope, result, figures, state);
      },
    },
  ];
}
