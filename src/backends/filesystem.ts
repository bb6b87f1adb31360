import { posix } from 'node:path';
import * as z from 'zod';
import { hasControlCharacter } from '../text.js';
import type { StorageTarget } from './types.js';
import { backendVariables, defineBackend, hasDotDotSegment, required } from './shared.js';

/** The repository's directory from filesystem:///abs/path, normalised. */
function filesystemUrl() {
  return z.string().transform((raw, ctx) => {
    // `filesystem://relative/x` parses with a host; only the empty-host form is absolute.
    const path = /^filesystem:\/\/(.*)$/i.exec(raw)?.[1] ?? '';
    const problem = !path.startsWith('/')
      ? 'must be an absolute path: filesystem:///abs/path'
      : hasDotDotSegment(path)
        ? 'must not contain ".." segments'
        : hasControlCharacter(path)
          ? 'must not contain control characters'
          : undefined;
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: `filesystem repository path ${problem}` });
      return z.NEVER;
    }
    return posix.normalize(path).replace(/(.)\/+$/, '$1');
  });
}

function variables() {
  return backendVariables({
    KOPIA_REPOSITORY: required(filesystemUrl(), 'filesystem:///abs/path'),
  });
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values): StorageTarget {
  const path = values.KOPIA_REPOSITORY;
  return {
    backend: 'filesystem',
    args: ['filesystem', `--path=${path}`],
    env: {},
    secretFiles: [],
    localPath: path,
    description: `filesystem repository at ${path}`,
    matchesStorage: (storage) => storage.type === 'filesystem' && storage.config?.['path'] === path,
    warnings: [],
  };
}

/** filesystem:///abs/path: a repository on a mounted or local directory. */
export const filesystemBackend = defineBackend({
  name: 'filesystem',
  schemes: ['filesystem'],
  selectingVariables: [],
  variables,
  target,
});
