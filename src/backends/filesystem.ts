import { posix } from 'node:path';
import type { BackendDefinition, StorageTarget } from './types.js';
import { hasControlCharacter } from '../text.js';
import { hasDotDotSegment } from './paths.js';

/** filesystem:///abs/path: a repository on a mounted or local directory. */
export const filesystemBackend: BackendDefinition = {
  name: 'filesystem',
  schemes: ['filesystem'],
  selectingVariables: [],
  resolve(ctx): StorageTarget | undefined {
    const raw = ctx.rawUrl ?? '';
    // `filesystem://relative/x` parses with a host; only the empty-host form is absolute.
    const match = /^filesystem:\/\/(.*)$/i.exec(raw);
    const path = match?.[1] ?? '';
    const problem = !path.startsWith('/')
      ? 'must be an absolute path: filesystem:///abs/path'
      : hasDotDotSegment(path)
        ? 'must not contain ".." segments'
        : hasControlCharacter(path)
          ? 'must not contain control characters'
          : undefined;
    if (problem) {
      ctx.issues.push({ source: 'KOPIA_REPOSITORY', message: `filesystem repository path ${problem}` });
      return undefined;
    }
    const normalized = posix.normalize(path).replace(/(.)\/+$/, '$1');
    return {
      backend: 'filesystem',
      args: ['filesystem', `--path=${normalized}`],
      env: {},
      secretFiles: [],
      localPath: normalized,
      description: `filesystem repository at ${normalized}`,
      matchesStorage: (storage) =>
        storage.type === 'filesystem' && storage.config?.['path'] === normalized,
      warnings: [],
    };
  },
};
