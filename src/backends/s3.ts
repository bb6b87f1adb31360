import { Secret } from '../secret.js';
import type { BackendContext, BackendDefinition, StorageTarget } from './types.js';
import { hasControlCharacter } from '../text.js';
import { booleanVariable, requiredValue, resolveLocation, s3BucketRule, storageMatches } from './shared.js';

const DEFAULT_ENDPOINT = 's3.amazonaws.com';

/** kopia wants host[:port] only; a scheme in the variable says whether TLS is on. */
function resolveEndpoint(
  ctx: BackendContext,
  warnings: string[],
): { host: string; tlsOff: boolean } | undefined {
  const given = ctx.env.first('KOPIA_S3_ENDPOINT', 'AWS_S3_ENDPOINT');
  const tlsVariable = booleanVariable(ctx, 'KOPIA_S3_DISABLE_TLS', 'AWS_S3_DISABLE_TLS');
  if (!given) return { host: DEFAULT_ENDPOINT, tlsOff: tlsVariable?.value ?? false };

  const raw = given.value.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    ctx.issues.push({ source: given.name, message: `scheme must be http:// or https://, not ${scheme}://` });
    return undefined;
  }
  const host = raw.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
  if (host === '' || /[\s/?#@]/.test(host) || hasControlCharacter(host)) {
    ctx.issues.push({ source: given.name, message: 'must be host[:port], optionally with http:// or https://, and no path' });
    return undefined;
  }
  if (scheme === undefined) return { host, tlsOff: tlsVariable?.value ?? false };

  // The scheme is the clearer statement of intent; a contradicting variable loses.
  const tlsOff = scheme === 'http';
  if (tlsVariable && tlsVariable.value !== tlsOff) {
    warnings.push(
      `${tlsVariable.name}=${String(tlsVariable.value)} contradicts the ${scheme}:// scheme of ${given.name}; TLS is ${tlsOff ? 'off' : 'on'}`,
    );
  }
  return { host, tlsOff };
}

/** s3://bucket[/prefix], or KOPIA_S3_BUCKET: AWS S3 and S3-compatible servers. */
export const s3Backend: BackendDefinition = {
  name: 's3',
  schemes: ['s3'],
  selectingVariables: ['KOPIA_S3_BUCKET', 'KOPIA_S3_ENDPOINT', 'AWS_S3_ENDPOINT'],
  resolve(ctx): StorageTarget | undefined {
    const warnings: string[] = [];
    const location = resolveLocation(ctx, { bucketVariables: ['KOPIA_S3_BUCKET'], noun: 'bucket', rule: s3BucketRule, warnings });
    const endpoint = resolveEndpoint(ctx, warnings);
    const region = ctx.env.first('AWS_REGION', 'AWS_DEFAULT_REGION');
    if (region && !/^[a-z0-9-]+$/i.test(region.value.trim())) {
      ctx.issues.push({ source: region.name, message: 'must be a region name such as us-east-1' });
    }
    // kopia's --access-key and --secret-access-key are required flags; it reads them from these variables.
    const accessKey = requiredValue(ctx, 'AWS_ACCESS_KEY_ID', 'the S3 access key id');
    const secretKey = ctx.env.get('AWS_SECRET_ACCESS_KEY');
    if (secretKey === undefined) ctx.issues.push({ source: 'AWS_SECRET_ACCESS_KEY', message: 'is required: the S3 secret key' });
    const sessionToken = ctx.env.get('AWS_SESSION_TOKEN');
    if (!location || !endpoint || accessKey === undefined || secretKey === undefined) return undefined;

    const { bucket, prefix } = location;
    const regionName = region?.value.trim();
    const args = ['s3', `--bucket=${bucket}`, `--endpoint=${endpoint.host}`];
    if (prefix) args.push(`--prefix=${prefix}`);
    if (regionName) args.push(`--region=${regionName}`);
    if (endpoint.tlsOff) args.push('--disable-tls');
    if (ctx.customCa) {
      // kopia ignores its ROOT_CA_PEM_BASE64 variable; only the flag loads a CA.
      if (endpoint.tlsOff) warnings.push('CUSTOM_CA is not used: TLS is off for this S3 endpoint');
      else args.push(`--root-ca-pem-path=${ctx.customCa}`);
    }

    const env: Record<string, Secret | string> = {
      AWS_ACCESS_KEY_ID: accessKey,
      AWS_SECRET_ACCESS_KEY: new Secret(secretKey),
    };
    if (sessionToken !== undefined) env['AWS_SESSION_TOKEN'] = new Secret(sessionToken);

    const where = `s3://${bucket}/${prefix}`;
    return {
      backend: 's3',
      args,
      env,
      secretFiles: [],
      // kopia copies the keys from its environment into kopia.config. Without
      // them there it falls back to the AWS_* variables, which every run passes.
      secretConfigKeys: ['secretAccessKey', 'sessionToken'],
      secretsFromEnvironment: true,
      description: `S3 repository ${where} at ${endpoint.tlsOff ? 'http' : 'https'}://${endpoint.host}`,
      matchesStorage: (storage) =>
        storageMatches(storage, 's3', {
          bucket,
          prefix,
          endpoint: endpoint.host,
          doNotUseTLS: endpoint.tlsOff,
          region: regionName,
        }),
      warnings,
    };
  },
};
