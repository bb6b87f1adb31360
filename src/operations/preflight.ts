import { accessSync, constants, statSync } from 'node:fs';
import { dirname, posix } from 'node:path';
import { inputName, type MoverConfig } from '../config/parse.js';
import { ConfigError, RepositoryError } from '../errors.js';
import { errorFinding, type Finding } from '../findings.js';
import { failureOfClass, KNOWN_FAILURES, repositoryParentFailure, type Failure } from '../kopia/failures.js';
import type { Facts } from '../facts.js';

/** A reason the run must not start. `repository`: the repository's location is unusable (exit 3, not 2), with its failure class. */
export interface PreflightProblem extends Finding {
  repository?: Failure;
}

/** Why the program cannot write in `path`, checked without creating it: a missing folder is judged by its nearest existing ancestor. */
function writableDirectoryProblem(path: string, mayCreate: boolean): string | undefined {
  let current = posix.resolve(path);
  for (;;) {
    try {
      if (!statSync(current).isDirectory()) return `${path} is not a writable directory (ENOTDIR)`;
      accessSync(current, constants.W_OK | constants.X_OK);
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (code !== 'ENOENT' || !mayCreate || dirname(current) === current) return `${path} is not a writable directory (${code})`;
      current = dirname(current);
    }
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A filesystem repository lives on a mounted volume: a missing directory means no volume. A backup
 * creates one only inside an existing parent it may write; kopia would otherwise create the whole
 * path on the root filesystem, or fail with words that do not say which folder to fix.
 */
function repositoryProblems(config: MoverConfig, facts: Facts): PreflightProblem[] {
  const mayCreate = config.operation === 'backup';
  const source = inputName(config.inputs, 'KOPIA_REPOSITORY');
  return facts.repositoryDirs.flatMap((dir): PreflightProblem[] => {
    if (dir.exists) return [];
    if (!mayCreate) {
      const message = `repository volume is not mounted at ${dir.path}: the filesystem repository's directory does not exist`;
      return [{ ...errorFinding(source, message), repository: failureOfClass('NotInitialized') ?? KNOWN_FAILURES.Unknown }];
    }
    const parent = dirname(dir.path);
    if (!dir.parentExists) {
      const message = `repository volume is probably not mounted, or the path is mistyped: ${parent} does not exist, so no repository is created at ${dir.path}`;
      return [{ ...errorFinding(source, message), repository: repositoryParentFailure(dir.path, parent, 'missing') }];
    }
    if (writable(parent)) return [];
    const message = `${parent} is not writable for this user, so no repository can be created at ${dir.path}`;
    return [{ ...errorFinding(source, message), repository: repositoryParentFailure(dir.path, parent, 'not writable') }];
  });
}

/**
 * Every reason the run would stop before its first kopia process, found without touching a
 * repository or writing anything. The run and `validate` both ask this one function, so what
 * `validate` passes the run does not refuse, and the other way round.
 */
export function preflightProblems(config: MoverConfig, facts: Facts): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  const named = (variable: string) => inputName(config.inputs, variable);
  const cache = writableDirectoryProblem(config.cacheDir, true);
  if (cache) problems.push(errorFinding(named('KOPIA_CACHE_DIR'), cache));
  const tmp = writableDirectoryProblem(config.tmpDir, false);
  if (tmp) problems.push(errorFinding('TMPDIR', `${tmp}; the mover keeps its temp files there`));
  if (facts.dataDirProblem) problems.push(errorFinding(named('DATA_DIR'), facts.dataDirProblem));
  if (facts.deletionRefusal !== undefined) {
    problems.push(
      errorFinding(named('DATA_DIR'), `file deletion (${named('KOPIA_ENABLE_FILE_DELETION')}) refused: ${facts.deletionRefusal}; restore into a dedicated directory`),
    );
  }
  for (const f of facts.settings.findings.filter((f) => f.blocksRun)) problems.push(errorFinding(f.source, f.message));
  problems.push(...repositoryProblems(config, facts));
  return problems;
}

/** Stops the run on preflight problems: exit 2 listing them all, or exit 3 when only the repository's location is unusable. */
export function refuseOnProblems(problems: PreflightProblem[]): void {
  if (problems.length === 0) return;
  if (problems.some((p) => !p.repository)) throw new ConfigError(problems.map(({ source, message }) => errorFinding(source, message)));
  throw new RepositoryError(problems.map((p) => p.message).join('; '), undefined, problems[0]?.repository);
}
