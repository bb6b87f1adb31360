import type * as z from 'zod';
import type { Secret } from '../secret.js';
import type { StorageTarget } from './types.js';
import { backendVariables, defineBackend, line, required, secret, storageMatches } from './shared.js';

function serverUrl() {
  return line().superRefine((url, ctx) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
    } else if (parsed.username !== '' || parsed.password !== '') {
      // It would land in kopia's argv; the message must not repeat the URL.
      ctx.addIssue({ code: 'custom', message: 'must not carry credentials: use WEBDAV_USERNAME and WEBDAV_PASSWORD' });
    }
  });
}

function variables() {
  return backendVariables(
    {
      WEBDAV_URL: required(serverUrl(), 'the WebDAV server URL'),
      WEBDAV_USERNAME: line().optional(),
      WEBDAV_PASSWORD: secret().optional(),
    },
    {
      rules: (given, report) => {
        // kopia would prompt on its (closed) stdin for the missing password.
        if (given.WEBDAV_USERNAME !== undefined && given.WEBDAV_PASSWORD === undefined) {
          report('WEBDAV_PASSWORD', 'is required when WEBDAV_USERNAME is set');
        }
      },
    },
  );
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values): StorageTarget {
  const { WEBDAV_URL: url, WEBDAV_USERNAME: username, WEBDAV_PASSWORD: password } = values;
  const env: Record<string, Secret | string> = {};
  if (username !== undefined) env['KOPIA_WEBDAV_USERNAME'] = username;
  if (password !== undefined) env['KOPIA_WEBDAV_PASSWORD'] = password;
  const warnings: string[] = [];
  if (password !== undefined && username === undefined) warnings.push('WEBDAV_PASSWORD is set without WEBDAV_USERNAME');
  return {
    backend: 'webdav',
    args: ['webdav', `--url=${url}`],
    env,
    secretFiles: [],
    // kopia stores the password from its environment in kopia.config; it has no fallback, so each run connects again.
    secretConfigKeys: password !== undefined ? ['password'] : [],
    description: `WebDAV repository at ${url}`,
    matchesStorage: (storage) => storageMatches(storage, 'webdav', { url, username }),
    warnings,
  };
}

/** WEBDAV_URL: a WebDAV server; the credentials travel in kopia's KOPIA_WEBDAV_* variables. */
export const webdavBackend = defineBackend({
  name: 'webdav',
  schemes: [],
  selectingVariables: ['WEBDAV_URL'],
  variables,
  target,
});
