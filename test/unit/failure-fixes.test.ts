// Every failure class the program can print comes with a fix a person can act on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MaintenanceOwnershipError, OutOfMemoryError, unexpectedFailure } from '../../src/errors.js';
import { classifyKopiaOutput, definedFailures, KNOWN_FAILURES, repositoryParentFailure, shownFailure, type Failure } from '../../src/kopia/failures.js';
import { repoRoot } from '../support/fixtures.js';

/** Every failure the program can report: kopia's classes, its own, and those its errors carry. */
function everyFailure(): Failure[] {
  return [...definedFailures(), new MaintenanceOwnershipError('owned', 'other@host').failure!, new OutOfMemoryError('full').failure!];
}

/** The class names in the README's table of failure classes. */
function readmeClasses(): string[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| class | meaning | retryable |'));
  return [...table.slice(0, table.indexOf('\n\n')).matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]!);
}

describe('fix lines', () => {
  it('every class the README lists has a fix of its own, and every class the program defines is in the README', () => {
    const classes = new Set(everyFailure().map((f) => f.class));
    expect([...classes].sort()).toEqual([...new Set(readmeClasses())].sort());
    for (const failure of everyFailure()) {
      expect(failure.fix.trim().length, failure.class).toBeGreaterThan(30);
      expect(failure.fix, failure.class).not.toMatch(/see kopia's output above/i);
    }
  });

  it('Unknown points at kopia output only when there is some', () => {
    const withOutput = shownFailure(KNOWN_FAILURES.Unknown, 'ERROR something kopia said');
    expect(withOutput.fix).toContain('KOPIA_ERROR_OUTPUT_START');
    for (const silent of [undefined, '', '  \n']) {
      const shown = shownFailure(KNOWN_FAILURES.Unknown, silent);
      expect(shown.class).toBe('Unknown');
      expect(shown.fix).not.toMatch(/KOPIA_ERROR_OUTPUT|output above/);
      expect(shown.fix).toContain('KOPIA_LOG_LEVEL=debug');
    }
    // A known class keeps its own fix whether or not kopia printed anything.
    const auth = classifyKopiaOutput('error connecting to repository: invalid repository password')!;
    expect(shownFailure(auth, undefined)).toBe(auth);
    // The program's own unexpected errors have no kopia output to point at.
    expect(unexpectedFailure(new TypeError('x is undefined')).failure.fix).not.toMatch(/KOPIA_ERROR_OUTPUT|output above/);
  });

  it('where a person on a laptop types a flag, the fix names the flag and the variable', () => {
    const fixOf = (line: string) => classifyKopiaOutput(line)?.fix ?? '';
    expect(fixOf('invalid repository password')).toMatch(/--password-file or KOPIA_PASSWORD/);
    expect(fixOf('error connecting: repository not initialized in the provided storage')).toMatch(/--repository or KOPIA_REPOSITORY/);
    expect(fixOf('restore error: open /t/x: permission denied')).toMatch(/--data-dir or DATA_DIR/);
    expect(fixOf('restore error: create directory: "/t/d" already exists and it is not a directory')).toMatch(/--data-dir or DATA_DIR/);
    expect(fixOf('unable to decrypt content: BLOB not found')).toMatch(/--previous or KOPIA_PREVIOUS/);
    expect(KNOWN_FAILURES.SourceError.fix).toMatch(/--data-dir or DATA_DIR/);
    expect(KNOWN_FAILURES.CacheError.fix).toMatch(/--cache-dir or KOPIA_CACHE_DIR/);
    expect(KNOWN_FAILURES.Configuration.fix).toMatch(/flag, variable or file/);
  });

  it("a repository folder that cannot be created: the fix names the folder and says create it, or check the path", () => {
    const missing = repositoryParentFailure('/backups/repo', '/backups', 'missing');
    expect(missing).toMatchObject({ class: 'RepositoryPath', retryable: false });
    expect(missing.fix).toMatch(/^\/backups does not exist: create it \(mkdir -p \/backups\), or check the path in --repository or KOPIA_REPOSITORY/);
    const locked = repositoryParentFailure('/srv/repo', '/srv', 'not writable');
    expect(locked.fix).toMatch(/^\/srv is not writable for this user, so \/srv\/repo cannot be created there/);
  });
});
