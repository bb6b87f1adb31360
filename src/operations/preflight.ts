import { accessSync, constants, statSync } from 'node:fs';
import { dirname, posix } from 'node:path';
import type { MoverConfig } from '../config/parse.js';
import { ConfigError, RepositoryError, type ConfigIssue } from '../errors.js';
import type { Facts } from '../facts.js';

/** A reason the run must not start. `repository`: the repository's volume is missing (exit 3, not 2). */
export interface PreflightProblem extends ConfigIssue {
  repository?: boolean;
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

/** A filesystem repository lives on a mounted volume: a missing directory means no volume. */
function repositoryProblems(config: MoverConfig, facts: Facts): PreflightProblem[] {
  const mayCreate = config.operation === 'backup';
  return facts.repositoryDirs.flatMap((dir): PreflightProblem[] => {
    if (dir.exists) return [];
    const source = 'KOPIA_REPOSITORY';
    if (!mayCreate) {
      return [{ source, repository: true, message: `repository volume is not mounted at ${dir.path}: the filesystem repository's directory does not exist` }];
    }
    if (dir.parentExists) return [];
    return [{ source, repository: true, message: `repository volume is probably not mounted: ${dir.path}'s parent does not exist, so no repository is created at ${dir.path}` }];
  });
}

/**
 * Every reason the run would stop before its first kopia process, found without touching a
 * repository or writing anything. The run and `validate` both ask this one function, so what
 * `validate` passes the run does not refuse, and the other way round.
 */
export function preflightProblems(config: MoverConfig, facts: Facts): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  const cache = writableDirectoryProblem(config.cacheDir, true);
  if (cache) problems.push({ source: 'KOPIA_CACHE_DIR', message: cache });
  const tmp = writableDirectoryProblem(config.tmpDir, false);
  if (tmp) problems.push({ source: 'TMPDIR', message: `${tmp}; the mover keeps its temp files there` });
  if (facts.dataDirProblem) problems.push({ source: 'DATA_DIR', message: facts.dataDirProblem });
  if (facts.deletionRefusal !== undefined) {
    problems.push({
      source: 'DATA_DIR',
      message: `file deletion (KOPIA_ENABLE_FILE_DELETION) refused: ${facts.deletionRefusal}; restore into a dedicated directory`,
    });
  }
  for (const f of facts.settings.findings.filter((f) => f.blocksRun)) problems.push({ source: f.source, message: f.message });
  problems.push(...repositoryProblems(config, facts));
  return problems;
}

/** Stops the run on preflight problems: exit 2 listing them all, or exit 3 when only the repository's volume is missing. */
export function refuseOnProblems(problems: PreflightProblem[]): void {
  if (problems.length === 0) return;
  if (problems.some((p) => !p.repository)) throw new ConfigError(problems.map(({ source, message }) => ({ source, message })));
  throw new RepositoryError(problems.map((p) => p.message).join('; '));
}
