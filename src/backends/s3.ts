import * as z from 'zod';
import type { Secret } from '../secret.js';
import { hasControlCharacter } from '../text.js';
import type { StorageTarget, TargetContext } from './types.js';
import { bucketName, bucketRequired, chooseLocation, objectStoreUrl, s3BucketRule } from './location.js';
import { backendVariables, defineBackend, firstSet, flag, line, required, secret, storageMatches } from './shared.js';

const DEFAULT_ENDPOINT = 's3.amazonaws.com';
const ENDPOINT_VARIABLES = ['KOPIA_S3_ENDPOINT', 'AWS_S3_ENDPOINT'] as const;
const TLS_VARIABLES = ['KOPIA_S3_DISABLE_TLS', 'AWS_S3_DISABLE_TLS'] as const;
const REGION_VARIABLES = ['AWS_REGION', 'AWS_DEFAULT_REGION'] as const;

/** kopia wants host[:port] only; a scheme in the variable says whether TLS is on. */
function endpoint() {
  return z
    .string()
    .trim()
    .transform((raw, ctx) => {
      const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
      if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
        ctx.addIssue({ code: 'custom', message: `scheme must be http:// or https://, not ${scheme}://` });
        return z.NEVER;
      }
      const host = raw.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
      if (host === '' || /[\s/?#@]/.test(host) || hasControlCharacter(host)) {
        ctx.addIssue({ code: 'custom', message: 'must be host[:port], optionally with http:// or https://, and no path' });
        return z.NEVER;
      }
      return { host, scheme };
    });
}

function region() {
  return z.string().trim().regex(/^[a-z0-9-]+$/i, 'must be a region name such as us-east-1');
}

function variables() {
  return backendVariables(
    {
      KOPIA_REPOSITORY: objectStoreUrl().optional(),
      KOPIA_S3_BUCKET: bucketName(s3BucketRule).optional(),
      KOPIA_S3_ENDPOINT: endpoint().optional(),
      AWS_S3_ENDPOINT: endpoint().optional(),
      KOPIA_S3_DISABLE_TLS: flag().optional(),
      AWS_S3_DISABLE_TLS: flag().optional(),
      AWS_REGION: region().optional(),
      AWS_DEFAULT_REGION: region().optional(),
      // kopia's --access-key and --secret-access-key are required flags; it reads them from these variables.
      AWS_ACCESS_KEY_ID: required(line(), 'the S3 access key id'),
      AWS_SECRET_ACCESS_KEY: required(secret(), 'the S3 secret key'),
      AWS_SESSION_TOKEN: secret().optional(),
    },
    {
      firstSetWins: [ENDPOINT_VARIABLES, TLS_VARIABLES, REGION_VARIABLES],
      rules: bucketRequired(['KOPIA_S3_BUCKET'], 'bucket', s3BucketRule),
    },
  );
}

type Values = z.output<ReturnType<typeof variables>>;

function target(values: Values, context: TargetContext): StorageTarget {
  const warnings: string[] = [];
  const { bucket, prefix } = chooseLocation(values, ['KOPIA_S3_BUCKET'], 'bucket', warnings);
  const given = firstSet(values, ENDPOINT_VARIABLES);
  const tlsVariable = firstSet(values, TLS_VARIABLES);
  const host = given?.value.host ?? DEFAULT_ENDPOINT;
  const scheme = given?.value.scheme;
  // The scheme is the clearer statement of intent; a contradicting variable loses.
  const tlsOff = scheme !== undefined ? scheme === 'http' : (tlsVariable?.value ?? false);
  if (scheme !== undefined && tlsVariable !== undefined && tlsVariable.value !== tlsOff) {
    warnings.push(
      `${tlsVariable.name}=${String(tlsVariable.value)} contradicts the ${scheme}:// scheme of ${given?.name}; TLS is ${tlsOff ? 'off' : 'on'}`,
    );
  }
  const regionName = firstSet(values, REGION_VARIABLES)?.value;

  const args = ['s3', `--bucket=${bucket}`, `--endpoint=${host}`];
  if (prefix) args.push(`--prefix=${prefix}`);
  if (regionName) args.push(`--region=${regionName}`);
  if (tlsOff) args.push('--disable-tls');
  if (context.customCa) {
    // kopia ignores its ROOT_CA_PEM_BASE64 variable; only the flag loads a CA.
    if (tlsOff) warnings.push('CUSTOM_CA is not used: TLS is off for this S3 endpoint');
    else args.push(`--root-ca-pem-path=${context.customCa}`);
  }

  const env: Record<string, Secret | string> = {
    AWS_ACCESS_KEY_ID: values.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: values.AWS_SECRET_ACCESS_KEY,
  };
  if (values.AWS_SESSION_TOKEN !== undefined) env['AWS_SESSION_TOKEN'] = values.AWS_SESSION_TOKEN;

  return {
    backend: 's3',
    args,
    env,
    secretFiles: [],
    // kopia copies the keys from its environment into kopia.config. Without
    // them there it falls back to the AWS_* variables, which every run passes.
    secretConfigKeys: ['secretAccessKey', 'sessionToken'],
    secretsFromEnvironment: true,
    description: `S3 repository s3://${bucket}/${prefix} at ${tlsOff ? 'http' : 'https'}://${host}`,
    matchesStorage: (storage) =>
      storageMatches(storage, 's3', { bucket, prefix, endpoint: host, doNotUseTLS: tlsOff, region: regionName }),
    warnings,
  };
}

/** s3://bucket[/prefix], or KOPIA_S3_BUCKET: AWS S3 and S3-compatible servers. */
export const s3Backend = defineBackend({
  name: 's3',
  schemes: ['s3'],
  selectingVariables: ['KOPIA_S3_BUCKET', ...ENDPOINT_VARIABLES],
  variables,
  target,
});
