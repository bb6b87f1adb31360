import type { BackendDefinition, StorageTarget } from './types.js';
import { gcsBucketRule, googleCredentials, resolveLocation, storageMatches } from './shared.js';

/** gcs://bucket[/prefix]: Google Cloud Storage. The bucket must exist; GOOGLE_PROJECT_ID is not needed by kopia. */
export const gcsBackend: BackendDefinition = {
  name: 'gcs',
  schemes: ['gcs'],
  selectingVariables: ['KOPIA_GCS_BUCKET', 'GCS_BUCKET'],
  resolve(ctx): StorageTarget | undefined {
    const before = ctx.issues.length;
    const warnings: string[] = [];
    const location = resolveLocation(ctx, {
      bucketVariables: ['KOPIA_GCS_BUCKET', 'GCS_BUCKET'],
      noun: 'bucket',
      rule: gcsBucketRule,
      warnings,
    });
    const credentials = googleCredentials(ctx, 'GOOGLE_APPLICATION_CREDENTIALS', 'GCS service account credentials');
    if (ctx.issues.length > before || !location) return undefined;

    const args = ['gcs', `--bucket=${location.bucket}`];
    if (location.prefix) args.push(`--prefix=${location.prefix}`);
    if (credentials && 'path' in credentials) args.push(`--credentials-file=${credentials.path}`);
    if (!credentials) warnings.push('GOOGLE_APPLICATION_CREDENTIALS is not set: kopia uses the default Google credentials of the pod');
    const viaTempFile = credentials !== undefined && 'file' in credentials;
    return {
      backend: 'gcs',
      args,
      env: {},
      secretFiles: viaTempFile ? [credentials.file] : [],
      // kopia.config keeps the credentials file path; a temp file is gone after
      // the run, so the path is dropped and the next run connects with a new one.
      secretConfigKeys: viaTempFile ? ['credentialsFile'] : [],
      description: `GCS repository gcs://${location.bucket}/${location.prefix}`,
      matchesStorage: (storage) =>
        storageMatches(storage, 'gcs', {
          bucket: location.bucket,
          prefix: location.prefix,
          ...(viaTempFile ? {} : { credentialsFile: credentials?.path }),
        }),
      warnings,
    };
  },
};
