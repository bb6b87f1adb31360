import type * as z from 'zod';
import type { StorageTarget } from './types.js';
import { b2BucketRule, bucketName, bucketRequired, chooseLocation, objectStoreUrl } from './location.js';
import { backendVariables, defineBackend, line, required, storageMatches, trimmedSecret } from './shared.js';

function variables() {
  return backendVariables(
    {
      KOPIA_REPOSITORY: objectStoreUrl().optional(),
      KOPIA_B2_BUCKET: bucketName(b2BucketRule).optional(),
      B2_ACCOUNT_ID: required(line(), 'the B2 application key id'),
      B2_APPLICATION_KEY: required(trimmedSecret(), 'the B2 application key'),
    },
    { rules: bucketRequired(['KOPIA_B2_BUCKET'], 'bucket', b2BucketRule) },
  );
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values): StorageTarget {
  const warnings: string[] = [];
  const { bucket, prefix } = chooseLocation(values, ['KOPIA_B2_BUCKET'], 'bucket', warnings);
  const keyId = values.B2_ACCOUNT_ID;
  const args = ['b2', `--bucket=${bucket}`];
  if (prefix) args.push(`--prefix=${prefix}`);
  return {
    backend: 'b2',
    args,
    // kopia's --key-id and --key default to B2_KEY_ID and B2_KEY.
    env: { B2_KEY_ID: keyId, B2_KEY: values.B2_APPLICATION_KEY },
    secretFiles: [],
    // Copied into kopia.config by kopia, with no fallback to the environment: each run connects again.
    secretConfigKeys: ['key'],
    description: `B2 repository b2://${bucket}/${prefix}`,
    matchesStorage: (storage) => storageMatches(storage, 'b2', { bucket, prefix, keyID: keyId }),
    warnings,
  };
}

/** b2://bucket[/prefix]: Backblaze B2's native API. */
export const b2Backend = defineBackend({
  name: 'b2',
  schemes: ['b2'],
  selectingVariables: ['KOPIA_B2_BUCKET'],
  variables,
  target,
});
