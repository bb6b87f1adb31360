import type * as z from 'zod';
import type { StorageTarget } from './types.js';
import { backendVariables, defineBackend, googleCredentials, line, required, storageMatches } from './shared.js';

function variables() {
  return backendVariables({
    GOOGLE_DRIVE_FOLDER_ID: required(
      line().regex(/^[A-Za-z0-9_-]+$/, 'must be a folder id (letters, digits, "-" and "_")'),
      'the Google Drive folder id',
    ),
    GOOGLE_DRIVE_CREDENTIALS: googleCredentials('Google Drive service account credentials').optional(),
  });
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values): StorageTarget {
  const { GOOGLE_DRIVE_FOLDER_ID: folderId, GOOGLE_DRIVE_CREDENTIALS: credentials } = values;
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
}

/** GOOGLE_DRIVE_FOLDER_ID: a Google Drive folder, credentials handled as for GCS. */
export const gdriveBackend = defineBackend({
  name: 'gdrive',
  schemes: [],
  selectingVariables: ['GOOGLE_DRIVE_FOLDER_ID'],
  variables,
  target,
});
