import { Secret } from '../secret.js';
import type { ConfigIssue } from '../errors.js';
import { escapeControl, hasControlCharacter } from '../text.js';
import { isPlainObject, parseBoolean } from '../values.js';
import type { BackendContext, SecretFile, StorageTarget } from './types.js';

/** `scheme://host/path` split by hand: WHATWG URL rewrites hosts of some schemes, and we need the raw text. */
export function splitRepositoryUrl(
  raw: string,
  issues: ConfigIssue[],
): { host: string; path: string } | undefined {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^?#]*)$/i.exec(raw);
  if (!match) {
    issues.push({
      source: 'KOPIA_REPOSITORY',
      message: 'must look like scheme://bucket[/prefix], without a query or fragment',
    });
    return undefined;
  }
  return { host: match[1] ?? '', path: match[2] ?? '' };
}

/**
 * Object-store prefix as kopia wants it: no leading slash, `//` collapsed, a
 * trailing `/` so the repository lives in a "directory". Empty means the bucket root.
 */
export function normalizePrefix(raw: string, source: string, issues: ConfigIssue[]): string | undefined {
  const segments = raw.split('/').filter((s) => s !== '');
  if (segments.includes('..')) {
    issues.push({ source, message: 'prefix must not contain ".." segments' });
    return undefined;
  }
  if (hasControlCharacter(raw)) {
    issues.push({ source, message: 'prefix must not contain control characters' });
    return undefined;
  }
  return segments.length === 0 ? '' : `${segments.join('/')}/`;
}

export interface BucketRule {
  /** A problem with the name, or undefined when it is valid. */
  check(name: string): string | undefined;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** AWS S3 bucket naming rules (the subset every S3-compatible server also enforces). */
export const s3BucketRule: BucketRule = {
  check(name) {
    if (name.length < 3 || name.length > 63) return 'bucket name must be 3 to 63 characters long';
    if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
      return 'bucket name may only hold lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit';
    }
    if (name.includes('..')) return 'bucket name must not contain two adjacent dots';
    if (IPV4.test(name)) return 'bucket name must not be an IP address';
    return undefined;
  },
};

/** Google Cloud Storage: like S3, plus underscores. */
export const gcsBucketRule: BucketRule = {
  check(name) {
    if (name.length < 3 || name.length > 63) return 'bucket name must be 3 to 63 characters long';
    if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name)) {
      return 'bucket name may only hold lowercase letters, digits, dots, hyphens and underscores, and must start and end with a letter or digit';
    }
    if (IPV4.test(name)) return 'bucket name must not be an IP address';
    return undefined;
  },
};

/** Backblaze B2 bucket names. */
export const b2BucketRule: BucketRule = {
  check(name) {
    if (name.length < 6 || name.length > 50) return 'bucket name must be 6 to 50 characters long';
    if (!/^[A-Za-z0-9-]+$/.test(name)) return 'bucket name may only hold letters, digits and hyphens';
    if (name.toLowerCase().startsWith('b2-')) return 'bucket name must not start with "b2-"';
    return undefined;
  },
};

/** Azure blob container names. */
export const azureContainerRule: BucketRule = {
  check(name) {
    if (name.length < 3 || name.length > 63) return 'container name must be 3 to 63 characters long';
    if (!/^[a-z0-9](-?[a-z0-9])*$/.test(name)) {
      return 'container name may only hold lowercase letters, digits and single hyphens, and must start and end with a letter or digit';
    }
    return undefined;
  },
};

export interface Location {
  bucket: string;
  prefix: string;
}

/**
 * Bucket and prefix of an object store, from its own variables or the
 * KOPIA_REPOSITORY URL. A bucket variable wins over the URL's bucket; the
 * prefix only ever comes from the URL path.
 */
export function resolveLocation(
  ctx: BackendContext,
  options: { bucketVariables: string[]; noun: 'bucket' | 'container'; rule: BucketRule; warnings: string[] },
): Location | undefined {
  const fromEnv = ctx.env.first(...options.bucketVariables);
  let urlBucket = '';
  let prefixRaw = '';
  if (ctx.rawUrl !== undefined) {
    const parts = splitRepositoryUrl(ctx.rawUrl, ctx.issues);
    if (!parts) return undefined;
    urlBucket = parts.host;
    prefixRaw = parts.path;
  }
  if (fromEnv && ctx.rawUrl !== undefined && (urlBucket !== '' || prefixRaw.replace(/\//g, '') !== '')) {
    const differs = urlBucket !== '' && urlBucket !== fromEnv.value;
    options.warnings.push(
      `both ${fromEnv.name} and KOPIA_REPOSITORY name the ${options.noun}: using ${options.noun} "${fromEnv.value}" from ${fromEnv.name}` +
        `${differs ? ` (KOPIA_REPOSITORY says "${urlBucket}")` : ''} and the prefix from KOPIA_REPOSITORY`,
    );
  }
  const bucket = fromEnv?.value.trim() ?? urlBucket;
  const bucketSource = fromEnv?.name ?? 'KOPIA_REPOSITORY';
  if (bucket === '') {
    ctx.issues.push({
      source: options.bucketVariables[0] ?? 'KOPIA_REPOSITORY',
      message: `is required: the ${options.noun} name (or give it in KOPIA_REPOSITORY)`,
    });
    return undefined;
  }
  const problem = options.rule.check(bucket);
  if (problem) {
    ctx.issues.push({ source: bucketSource, message: `${problem}: "${printable(bucket)}"` });
    return undefined;
  }
  const prefix = normalizePrefix(prefixRaw, 'KOPIA_REPOSITORY', ctx.issues);
  if (prefix === undefined) return undefined;
  return { bucket, prefix };
}

/** A non-secret value made safe to quote in a message. */
function printable(value: string): string {
  return escapeControl(value.slice(0, 100));
}

/** The first of the named boolean variables that is set, or undefined; an unparseable value is an issue. */
export function booleanVariable(ctx: BackendContext, ...names: string[]): { name: string; value: boolean } | undefined {
  const found = ctx.env.first(...names);
  if (!found) return undefined;
  const value = parseBoolean(found.value);
  if (value !== undefined) return { name: found.name, value };
  ctx.issues.push({ source: found.name, message: 'must be true or false' });
  return undefined;
}

/** Required single-line value; pushes an issue naming the variable when it is missing or malformed. */
export function requiredValue(ctx: BackendContext, name: string, what: string): string | undefined {
  const value = ctx.env.get(name)?.trim();
  if (value === undefined) {
    ctx.issues.push({ source: name, message: `is required: ${what}` });
    return undefined;
  }
  if (hasControlCharacter(value)) {
    ctx.issues.push({ source: name, message: 'must not contain control characters' });
    return undefined;
  }
  return value;
}

export function optionalValue(ctx: BackendContext, name: string): string | undefined {
  const value = ctx.env.get(name)?.trim();
  if (value !== undefined && hasControlCharacter(value)) {
    ctx.issues.push({ source: name, message: 'must not contain control characters' });
    return undefined;
  }
  return value;
}

export function absolutePathValue(ctx: BackendContext, name: string): string | undefined {
  const value = optionalValue(ctx, name);
  if (value !== undefined && !value.startsWith('/')) {
    ctx.issues.push({ source: name, message: 'must be an absolute path' });
    return undefined;
  }
  return value;
}

const MAX_JSON_BYTES = 1_048_576;

/**
 * Google service account credentials: the JSON content (the documented form)
 * goes into a 0600 temp file, since kopia only takes a file path; an absolute
 * path is used as is. Undefined when not set or invalid (then an issue is pushed).
 */
export function googleCredentials(
  ctx: BackendContext,
  name: string,
  purpose: string,
): { file: SecretFile } | { path: string } | undefined {
  const raw = ctx.env.get(name);
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text.startsWith('{')) {
    const size = Buffer.byteLength(text);
    if (size > MAX_JSON_BYTES) {
      ctx.issues.push({ source: name, message: `is ${size} bytes, more than the limit of ${MAX_JSON_BYTES} bytes` });
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!isPlainObject(parsed)) {
      // The value is a secret: say what is wrong, never what it holds.
      ctx.issues.push({ source: name, message: 'looks like JSON content but is not a valid JSON object' });
      return undefined;
    }
    return { file: { flag: '--credentials-file', content: new Secret(text), purpose } };
  }
  if (text.startsWith('/') && !hasControlCharacter(text)) return { path: text };
  ctx.issues.push({ source: name, message: 'must be the service account JSON content or an absolute path to that file' });
  return undefined;
}

type Expected = Record<string, string | number | boolean | undefined>;

/**
 * Whether kopia.config's storage section is this repository. Missing, empty
 * and false count as the same, since kopia omits empty fields.
 */
export function storageMatches(
  storage: Parameters<StorageTarget['matchesStorage']>[0],
  type: string,
  expected: Expected,
): boolean {
  if (storage.type !== type || !storage.config) return false;
  const blank = (v: unknown) => v === undefined || v === null || v === '' || v === false;
  return Object.entries(expected).every(([key, want]) => {
    const have = storage.config?.[key];
    if (blank(want)) return blank(have);
    return have === want;
  });
}

/**
 * kopia's connection token: base64url of {"version":"1","storage":{type,config}}.
 * `repository create from-config` accepts only a token (not --file), and
 * `connect from-config` accepts one too, so one form serves both.
 */
export function connectionToken(type: string, config: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ version: '1', storage: { type, config } })).toString('base64url');
}
