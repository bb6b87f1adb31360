import * as z from 'zod';
import { Secret } from '../secret.js';
import type { StorageTarget, TargetContext } from './types.js';
import { azureContainerRule, bucketName, bucketRequired, chooseLocation, objectStoreUrl } from './location.js';
import { backendVariables, defineBackend, firstSet, line, storageMatches, trimmedSecret } from './shared.js';

const ACCOUNT_VARIABLES = ['KOPIA_AZURE_STORAGE_ACCOUNT', 'AZURE_STORAGE_ACCOUNT', 'AZURE_ACCOUNT_NAME'] as const;
const KEY_VARIABLES = ['KOPIA_AZURE_STORAGE_KEY', 'AZURE_STORAGE_KEY', 'AZURE_ACCOUNT_KEY'] as const;
const SAS_VARIABLES = ['AZURE_STORAGE_SAS_TOKEN', 'AZURE_ACCOUNT_SAS'] as const;

/** A storage account name. */
function account() {
  return z.string().trim().regex(/^[a-z0-9]{3,24}$/, 'must be 3 to 24 lowercase letters and digits');
}

/** The portal shows a SAS token with a leading "?", which kopia would send as part of the first parameter. */
function sasToken() {
  return z
    .string()
    .trim()
    .transform((v) => new Secret(v.replace(/^\?/, '')));
}

/**
 * AZURE_ENDPOINT_SUFFIX follows the Azure SDK convention ("core.windows.net");
 * kopia's --storage-domain is the blob host suffix ("blob.core.windows.net"). A port may follow
 * ("azs.example.com:8443"), for an endpoint outside the public cloud that is not on 443: kopia
 * puts the domain after "ACCOUNT." in https://ACCOUNT.DOMAIN/, so the port lands in the URL.
 */
function storageDomain() {
  return line().transform((suffix, ctx) => {
    const bare = suffix.replace(/^https?:\/\//i, '').replace(/^\.+|\/+$/g, '');
    const domain = bare.startsWith('blob.') ? bare : `blob.${bare}`;
    const port = /:(\d{1,5})$/.exec(domain)?.[1];
    const host = port === undefined ? domain : domain.slice(0, -port.length - 1);
    if (/^[a-z0-9.-]+$/i.test(host) && (port === undefined || (Number(port) > 0 && Number(port) < 65536))) return domain;
    ctx.addIssue({ code: 'custom', message: 'must be a DNS suffix such as core.windows.net, optionally with a port (:8443)' });
    return z.NEVER;
  });
}

function variables() {
  const containerRequired = bucketRequired(['KOPIA_AZURE_CONTAINER'], 'container', azureContainerRule);
  return backendVariables(
    {
      KOPIA_REPOSITORY: objectStoreUrl().optional(),
      KOPIA_AZURE_CONTAINER: bucketName(azureContainerRule).optional(),
      KOPIA_AZURE_STORAGE_ACCOUNT: account().optional(),
      AZURE_STORAGE_ACCOUNT: account().optional(),
      AZURE_ACCOUNT_NAME: account().optional(),
      KOPIA_AZURE_STORAGE_KEY: trimmedSecret().optional(),
      AZURE_STORAGE_KEY: trimmedSecret().optional(),
      AZURE_ACCOUNT_KEY: trimmedSecret().optional(),
      AZURE_STORAGE_SAS_TOKEN: sasToken().optional(),
      AZURE_ACCOUNT_SAS: sasToken().optional(),
      AZURE_ENDPOINT_SUFFIX: storageDomain().optional(),
    },
    {
      firstSetWins: [ACCOUNT_VARIABLES, KEY_VARIABLES, SAS_VARIABLES],
      rules: (given, report) => {
        containerRequired(given, report);
        if (ACCOUNT_VARIABLES.every((name) => given[name] === undefined)) {
          report('KOPIA_AZURE_STORAGE_ACCOUNT', `is required: the storage account name (or ${ACCOUNT_VARIABLES.slice(1).join(' or ')})`);
        }
        if ([...KEY_VARIABLES, ...SAS_VARIABLES].every((name) => given[name] === undefined)) {
          report(
            'AZURE_STORAGE_KEY',
            `an account key (${KEY_VARIABLES.join(', ')}) or a SAS token (${SAS_VARIABLES.join(', ')}) is required`,
          );
        }
      },
    },
  );
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values, context: TargetContext): StorageTarget {
  const warnings: string[] = [];
  const { bucket: container, prefix } = chooseLocation(values, ['KOPIA_AZURE_CONTAINER'], 'container', warnings);
  // The rules made sure one account name is set.
  const accountName = firstSet(values, ACCOUNT_VARIABLES)?.value ?? '';
  const key = firstSet(values, KEY_VARIABLES);
  const sas = firstSet(values, SAS_VARIABLES);
  const domain = values.AZURE_ENDPOINT_SUFFIX;

  const args = ['azure', `--container=${container}`];
  if (prefix) args.push(`--prefix=${prefix}`);
  if (domain !== undefined) args.push(`--storage-domain=${domain}`);
  // kopia reads all three from its environment (its flags default to them).
  const env: Record<string, Secret | string> = { AZURE_STORAGE_ACCOUNT: accountName };
  // kopia's azure backend has no CA option; Go reads the trusted roots from SSL_CERT_FILE, so a
  // private endpoint (Azure Stack Hub, a TLS-inspecting gateway) is trusted through CUSTOM_CA.
  if (context.customCa !== undefined) env['SSL_CERT_FILE'] = context.customCa;
  const secretConfigKeys: string[] = [];
  if (sas) {
    // kopia prefers a SAS token over a key; pass only what it will use.
    env['AZURE_STORAGE_SAS_TOKEN'] = sas.value;
    secretConfigKeys.push('sasToken');
    if (key) warnings.push(`both ${key.name} and ${sas.name} are set: using the SAS token`);
  } else if (key) {
    env['AZURE_STORAGE_KEY'] = key.value;
    secretConfigKeys.push('storageKey');
  }
  return {
    backend: 'azure',
    args,
    env,
    secretFiles: [],
    // kopia copies the key or token into kopia.config and has no fallback to the environment: each run connects again.
    secretConfigKeys,
    description: `Azure repository azure://${container}/${prefix} in account ${accountName}`,
    matchesStorage: (storage) =>
      storageMatches(storage, 'azure', { container, prefix, storageAccount: accountName, storageDomain: domain }),
    warnings,
  };
}

/** azure://container[/prefix]: Azure Blob Storage with an account key or a SAS token. */
export const azureBackend = defineBackend({
  name: 'azure',
  schemes: ['azure'],
  selectingVariables: ['KOPIA_AZURE_CONTAINER', ...ACCOUNT_VARIABLES],
  variables,
  target,
});
