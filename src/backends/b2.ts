import { Secret } from '../secret.js';
import type { BackendDefinition, StorageTarget } from './types.js';
import { b2BucketRule, requiredValue, resolveLocation, storageMatches } from './shared.js';

/** b2://bucket[/prefix]: Backblaze B2's native API. */
export const b2Backend: BackendDefinition = {
  name: 'b2',
  schemes: ['b2'],
  selectingVariables: ['KOPIA_B2_BUCKET'],
  resolve(ctx): StorageTarget | undefined {
    const before = ctx.issues.length;
    const warnings: string[] = [];
    const location = resolveLocation(ctx, { bucketVariables: ['KOPIA_B2_BUCKET'], noun: 'bucket', rule: b2BucketRule, warnings });
    const keyId = requiredValue(ctx, 'B2_ACCOUNT_ID', 'the B2 application key id');
    const key = ctx.env.get('B2_APPLICATION_KEY');
    if (key === undefined) ctx.issues.push({ source: 'B2_APPLICATION_KEY', message: 'is required: the B2 application key' });
    if (ctx.issues.length > before || !location || keyId === undefined || key === undefined) return undefined;

    const args = ['b2', `--bucket=${location.bucket}`];
    if (location.prefix) args.push(`--prefix=${location.prefix}`);
    return {
      backend: 'b2',
      args,
      // kopia's --key-id and --key default to B2_KEY_ID and B2_KEY.
      env: { B2_KEY_ID: keyId, B2_KEY: new Secret(key.trim()) },
      secretFiles: [],
      // Copied into kopia.config by kopia, with no fallback to the environment: each run connects again.
      secretConfigKeys: ['key'],
      description: `B2 repository b2://${location.bucket}/${location.prefix}`,
      matchesStorage: (storage) =>
        storageMatches(storage, 'b2', { bucket: location.bucket, prefix: location.prefix, keyID: keyId }),
      warnings,
    };
  },
};
