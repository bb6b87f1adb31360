import { Secret } from '../secret.js';
import type { BackendDefinition, StorageTarget } from './types.js';
import { azureContainerRule, optionalValue, resolveLocation, storageMatches } from './shared.js';

const ACCOUNT_VARIABLES = ['KOPIA_AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_ACCOUNT', 'AZURE_ACCOUNT_NAME'];
const KEY_VARIABLES = ['KOPIA_AZURE_STORAGE_KEY', 'AZURE_STORAGE_KEY', 'AZURE_ACCOUNT_KEY'];
const SAS_VARIABLES = ['AZURE_STORAGE_SAS_TOKEN', 'AZURE_ACCOUNT_SAS'];

/**
 * AZURE_ENDPOINT_SUFFIX follows the Azure SDK convention ("core.windows.net");
 * kopia's --storage-domain is the blob host suffix ("blob.core.windows.net").
 */
function storageDomain(suffix: string): string {
  const bare = suffix.replace(/^https?:\/\//i, '').replace(/^\.+|\/+$/g, '');
  return bare.startsWith('blob.') ? bare : `blob.${bare}`;
}

/** azure://container[/prefix]: Azure Blob Storage with an account key or a SAS token. */
export const azureBackend: BackendDefinition = {
  name: 'azure',
  schemes: ['azure'],
  selectingVariables: ['KOPIA_AZURE_CONTAINER', ...ACCOUNT_VARIABLES],
  resolve(ctx): StorageTarget | undefined {
    const before = ctx.issues.length;
    const warnings: string[] = [];
    const location = resolveLocation(ctx, {
      bucketVariables: ['KOPIA_AZURE_CONTAINER'],
      noun: 'container',
      rule: azureContainerRule,
      warnings,
    });
    const account = ctx.env.first(...ACCOUNT_VARIABLES);
    if (!account) {
      ctx.issues.push({ source: 'KOPIA_AZURE_STORAGE_ACCOUNT', message: `is required: the storage account name (or ${ACCOUNT_VARIABLES.slice(1).join(' or ')})` });
    } else if (!/^[a-z0-9]{3,24}$/.test(account.value.trim())) {
      ctx.issues.push({ source: account.name, message: 'must be 3 to 24 lowercase letters and digits' });
    }
    const key = ctx.env.first(...KEY_VARIABLES);
    const sas = ctx.env.first(...SAS_VARIABLES);
    if (!key && !sas) {
      ctx.issues.push({
        source: 'AZURE_STORAGE_KEY',
        message: `an account key (${KEY_VARIABLES.join(', ')}) or a SAS token (${SAS_VARIABLES.join(', ')}) is required`,
      });
    }
    const suffix = optionalValue(ctx, 'AZURE_ENDPOINT_SUFFIX');
    const domain = suffix !== undefined ? storageDomain(suffix) : undefined;
    if (domain !== undefined && !/^[a-z0-9.-]+$/i.test(domain)) {
      ctx.issues.push({ source: 'AZURE_ENDPOINT_SUFFIX', message: 'must be a DNS suffix such as core.windows.net' });
    }
    if (ctx.issues.length > before || !location || !account) return undefined;

    const accountName = account.value.trim();
    const args = ['azure', `--container=${location.bucket}`];
    if (location.prefix) args.push(`--prefix=${location.prefix}`);
    if (domain !== undefined) args.push(`--storage-domain=${domain}`);
    // kopia reads all three from its environment (its flags default to them).
    const env: Record<string, Secret | string> = { AZURE_STORAGE_ACCOUNT: accountName };
    const secretConfigKeys: string[] = [];
    if (sas) {
      // kopia prefers a SAS token over a key; pass only what it will use.
      // The portal shows the token with a leading "?", which kopia would send as part of the first parameter.
      env['AZURE_STORAGE_SAS_TOKEN'] = new Secret(sas.value.trim().replace(/^\?/, ''));
      secretConfigKeys.push('sasToken');
      if (key) warnings.push(`both ${key.name} and ${sas.name} are set: using the SAS token`);
    } else if (key) {
      env['AZURE_STORAGE_KEY'] = new Secret(key.value.trim());
      secretConfigKeys.push('storageKey');
    }
    return {
      backend: 'azure',
      args,
      env,
      secretFiles: [],
      // kopia copies the key or token into kopia.config and has no fallback to the environment: each run connects again.
      secretConfigKeys,
      description: `Azure repository azure://${location.bucket}/${location.prefix} in account ${accountName}`,
      matchesStorage: (storage) =>
        storageMatches(storage, 'azure', {
          container: location.bucket,
          prefix: location.prefix,
          storageAccount: accountName,
          storageDomain: domain,
        }),
      warnings,
    };
  },
};
