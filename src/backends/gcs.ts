import type * as z from 'zod';
import type { StorageTarget, TargetContext } from './types.js';
import { bucketName, bucketRequired, chooseLocation, gcsBucketRule, objectStoreUrl } from './location.js';
import { backendVariables, defineBackend, googleCredentials, storageMatches } from './shared.js';

const BUCKET_VARIABLES = ['KOPIA_GCS_BUCKET', 'GCS_BUCKET'] as const;

function variables() {
  return backendVariables(
    {
      KOPIA_REPOSITORY: objectStoreUrl().optional(),
      KOPIA_GCS_BUCKET: bucketName(gcsBucketRule).optional(),
      GCS_BUCKET: bucketName(gcsBucketRule).optional(),
      GOOGLE_APPLICATION_CREDENTIALS: googleCredentials('GCS service account credentials').optional(),
    },
    {
      firstSetWins: [BUCKET_VARIABLES],
      rules: bucketRequired(BUCKET_VARIABLES, 'bucket', gcsBucketRule),
    },
  );
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values, context: TargetContext): StorageTarget {
  const warnings: string[] = [];
  const { bucket, prefix } = chooseLocation(values, BUCKET_VARIABLES, 'bucket', warnings);
  const credentials = values.GOOGLE_APPLICATION_CREDENTIALS;
  const args = ['gcs', `--bucket=${bucket}`];
  if (prefix) args.push(`--prefix=${prefix}`);
  if (credentials && 'path' in credentials) args.push(`--credentials-file=${credentials.path}`);
  if (!credentials) warnings.push('GOOGLE_APPLICATION_CREDENTIALS is not set: kopia uses the default Google credentials of the pod');
  const viaTempFile = credentials !== undefined && 'file' in credentials;
  return {
    backend: 'gcs',
    args,
    // kopia's gcs backend has no CA option; Go reads the trusted roots from SSL_CERT_FILE, so a
    // proxy that inspects TLS, or a private gateway reached through one, is trusted through CUSTOM_CA.
    env: context.customCa !== undefined ? { SSL_CERT_FILE: context.customCa } : {},
    secretFiles: viaTempFile ? [credentials.file] : [],
    // kopia.config keeps the credentials file path; a temp file is gone after
    // the run, so the path is dropped and the next run connects with a new one.
    secretConfigKeys: viaTempFile ? ['credentialsFile'] : [],
    description: `GCS repository gcs://${bucket}/${prefix}`,
    matchesStorage: (storage) =>
      storageMatches(storage, 'gcs', { bucket, prefix, ...(viaTempFile ? {} : { credentialsFile: credentials?.path }) }),
    warnings,
  };
}

/** gcs://bucket[/prefix]: Google Cloud Storage. The bucket must exist; GOOGLE_PROJECT_ID is not needed by kopia. */
export const gcsBackend = defineBackend({
  name: 'gcs',
  schemes: ['gcs'],
  selectingVariables: [...BUCKET_VARIABLES],
  variables,
  target,
});
