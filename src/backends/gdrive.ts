import type { BackendDefinition, StorageTarget } from './types.js';
import { googleCredentials, requiredValue, storageMatches } from './shared.js';

/** GOOGLE_DRIVE_FOLDER_ID: a Google Drive folder, credentials handled as for GCS. */
export const gdriveBackend: BackendDefinition = {
  name: 'gdrive',
  schemes: [],
  selectingVariables: ['GOOGLE_DRIVE_FOLDER_ID'],
  resolve(ctx): StorageTarget | undefined {
    const before = ctx.issues.length;
    const folderId = requiredValue(ctx, 'GOOGLE_DRIVE_FOLDER_ID', 'the Google Drive folder id');
    if (folderId !== undefined && !/^[A-Za-z0-9_-]+$/.test(folderId)) {
      ctx.issues.push({ source: 'GOOGLE_DRIVE_FOLDER_ID', message: 'must be a folder id (letters, digits, "-" and "_")' });
    }
    const credentials = googleCredentials(ctx, 'GOOGLE_DRIVE_CREDENTIALS', 'Google Drive service account credentials');
    if (ctx.issues.length > before || folderId === undefined) return undefined;

    const args = ['gdrive', `--folder-id=${folderId}`];
    if (credentials && 'path' in credentials) args.push(`--credentials-file=${credentials.path}`);
    const viaTempFile = credentials !== undefined && 'file' in credentials;
    const warnings = credentials ? [] : ['GOOGLE_DRIVE_CREDENTIALS is not set: kopia uses the default Google credentials of the pod'];
    return {
      backend: 'gdrive',
      args,
      env: {},
      secretFiles: viaTempFile ? [credentials.file] : [],
      // As for GCS: the temp file's path in kopia.config is stale after the run.
      secretConfigKeys: viaTempFile ? ['credentialsFile'] : [],
      description: `Google Drive repository in folder ${folderId}`,
      matchesStorage: (storage) =>
        storageMatches(storage, 'gdrive', { folderID: folderId, ...(viaTempFile ? {} : { credentialsFile: credentials?.path }) }),
      warnings,
    };
  },
};
