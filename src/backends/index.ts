import type * as z from 'zod';
import type { ConfigIssue } from '../errors.js';
import type { EnvSource } from '../env.js';
import type { BackendDefinition, StorageTarget } from './types.js';
import { azureBackend } from './azure.js';
import { b2Backend } from './b2.js';
import { filesystemBackend } from './filesystem.js';
import { gcsBackend } from './gcs.js';
import { gdriveBackend } from './gdrive.js';
import { rcloneBackend } from './rclone.js';
import { s3Backend } from './s3.js';
import { sftpBackend } from './sftp.js';
import { webdavBackend } from './webdav.js';

/** Every storage backend, one row each. Adding a backend is one file and one row here. */
export const backends: readonly BackendDefinition[] = [
  filesystemBackend,
  s3Backend,
  azureBackend,
  gcsBackend,
  b2Backend,
  sftpBackend,
  webdavBackend,
  rcloneBackend,
  gdriveBackend,
];

/**
 * Picks the backend: by KOPIA_REPOSITORY's scheme when given, otherwise by which
 * backend's variables are set. Problems are pushed to `issues`, naming variables.
 */
export function resolveStorage(
  env: EnvSource,
  issues: ConfigIssue[],
  customCa: string | undefined,
): StorageTarget | undefined {
  const rawUrl = env.get('KOPIA_REPOSITORY');
  if (rawUrl !== undefined) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(rawUrl)?.[1]?.toLowerCase();
    const backend = backends.find((b) => scheme !== undefined && b.schemes.includes(scheme));
    if (!backend) {
      const known = backends.flatMap((b) => b.schemes.map((s) => `${s}://`)).join(', ');
      issues.push({
        source: 'KOPIA_REPOSITORY',
        message: `unsupported repository URL scheme${scheme ? ` "${scheme}"` : ''}; expected one of ${known}`,
      });
      return undefined;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(rawUrl.trim())) {
      // The URL itself is never quoted: the part before @ is a secret.
      issues.push({
        source: 'KOPIA_REPOSITORY',
        message: `must not carry credentials (a user or password before "@"): give them in the ${backend.name} backend's own variables`,
      });
      return undefined;
    }
    return resolveWith(backend, env, issues, customCa);
  }

  const configured = backends.filter((b) => b.selectingVariables.some((v) => env.has(v)));
  if (configured.length > 1) {
    const described = configured
      .map((b) => `${b.name} (${b.selectingVariables.filter((v) => env.has(v)).join(', ')})`)
      .join(' and ');
    issues.push({
      source: 'KOPIA_REPOSITORY',
      message: `not set, and more than one backend is configured: ${described}; set KOPIA_REPOSITORY to choose`,
    });
    return undefined;
  }
  const [only] = configured;
  if (only) return resolveWith(only, env, issues, customCa);
  return undefined;
}

/** Parses the backend's variables; every problem becomes an issue naming its variable. */
function resolveWith(
  backend: BackendDefinition,
  env: EnvSource,
  issues: ConfigIssue[],
  customCa: string | undefined,
): StorageTarget | undefined {
  // A variable that is set but blank counts as unset, as everywhere else.
  const values = Object.fromEntries(env.entries().map(([name]) => [name, env.get(name)]));
  const parsed = backend.variables().safeParse(values);
  if (parsed.success) return backend.target(parsed.data, { customCa });
  issues.push(...onePerVariable(parsed.error));
  return undefined;
}

/** One reason per variable, the first found, as for the other variables of the config. */
function onePerVariable(error: z.ZodError): ConfigIssue[] {
  const found = new Map<string, string>();
  for (const issue of error.issues) {
    const source = String(issue.path[0] ?? 'KOPIA_REPOSITORY');
    if (!found.has(source)) found.set(source, issue.message);
  }
  return [...found].map(([source, message]) => ({ source, message }));
}
