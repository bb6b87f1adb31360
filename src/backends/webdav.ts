import { Secret } from '../secret.js';
import type { BackendDefinition, StorageTarget } from './types.js';
import { optionalValue, requiredValue, storageMatches } from './shared.js';

/** WEBDAV_URL: a WebDAV server; the credentials travel in kopia's KOPIA_WEBDAV_* variables. */
export const webdavBackend: BackendDefinition = {
  name: 'webdav',
  schemes: [],
  selectingVariables: ['WEBDAV_URL'],
  resolve(ctx): StorageTarget | undefined {
    const before = ctx.issues.length;
    const url = requiredValue(ctx, 'WEBDAV_URL', 'the WebDAV server URL');
    let parsed: URL | undefined;
    if (url !== undefined) {
      try {
        parsed = new URL(url);
      } catch {
        parsed = undefined;
      }
      if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
        ctx.issues.push({ source: 'WEBDAV_URL', message: 'must be an http:// or https:// URL' });
      } else if (parsed.username !== '' || parsed.password !== '') {
        // It would land in kopia's argv; the message must not repeat the URL.
        ctx.issues.push({ source: 'WEBDAV_URL', message: 'must not carry credentials: use WEBDAV_USERNAME and WEBDAV_PASSWORD' });
      }
    }
    const username = optionalValue(ctx, 'WEBDAV_USERNAME');
    const password = ctx.env.get('WEBDAV_PASSWORD');
    if (username !== undefined && password === undefined) {
      // kopia would prompt on its (closed) stdin for the missing password.
      ctx.issues.push({ source: 'WEBDAV_PASSWORD', message: 'is required when WEBDAV_USERNAME is set' });
    }
    if (ctx.issues.length > before || url === undefined) return undefined;

    const env: Record<string, Secret | string> = {};
    if (username !== undefined) env['KOPIA_WEBDAV_USERNAME'] = username;
    if (password !== undefined) env['KOPIA_WEBDAV_PASSWORD'] = new Secret(password);
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
  },
};
