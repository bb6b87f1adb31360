import * as z from 'zod';
import { escapeControl, hasControlCharacter } from '../text.js';
import { isPlainObject } from '../values.js';
import { firstSet, type Given, type Report } from './shared.js';

/** Where in an object store the repository lives. */
export interface Location {
  bucket: string;
  /** As kopia wants it: no leading slash, `//` collapsed, a trailing `/`; empty for the bucket root. */
  prefix: string;
}

/** A non-secret value made safe to quote in a message. */
function printable(value: string): string {
  return escapeControl(value.slice(0, 100));
}

/**
 * KOPIA_REPOSITORY of an object store, `scheme://bucket[/prefix]`, split by hand: WHATWG URL
 * rewrites hosts of some schemes, and we need the raw text. The bucket is empty when the URL
 * names none; whether it is a valid name is the business of `bucketRequired`, since a bucket
 * variable may take its place.
 */
export function objectStoreUrl() {
  return z.string().transform((raw, ctx): Location => {
    const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^?#]*)$/i.exec(raw);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: 'must look like scheme://bucket[/prefix], without a query or fragment' });
      return z.NEVER;
    }
    const path = match[2] ?? '';
    const segments = path.split('/').filter((s) => s !== '');
    if (segments.includes('..')) {
      ctx.addIssue({ code: 'custom', message: 'prefix must not contain ".." segments' });
      return z.NEVER;
    }
    if (hasControlCharacter(path)) {
      ctx.addIssue({ code: 'custom', message: 'prefix must not contain control characters' });
      return z.NEVER;
    }
    return { bucket: match[1] ?? '', prefix: segments.length === 0 ? '' : `${segments.join('/')}/` };
  });
}

function isLocation(value: unknown): value is Location {
  return isPlainObject(value) && typeof value['bucket'] === 'string' && typeof value['prefix'] === 'string';
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

/** A bucket (or container) variable: trimmed, and a valid name by the store's rule. */
export function bucketName(rule: BucketRule) {
  return z
    .string()
    .trim()
    .superRefine((name, ctx) => {
      const problem = rule.check(name);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${problem}: "${printable(name)}"` });
    });
}

type Noun = 'bucket' | 'container';

/**
 * The rule between an object store's bucket variables and KOPIA_REPOSITORY: one of them names
 * the bucket, and a bucket taken from the URL must be a valid name (a bucket variable is checked
 * on its own, by `bucketName`).
 */
export function bucketRequired<const K extends string>(variables: readonly [K, ...K[]], noun: Noun, rule: BucketRule) {
  return (given: Given<K | 'KOPIA_REPOSITORY'>, report: Report<K | 'KOPIA_REPOSITORY'>): void => {
    if (variables.some((name) => given[name] !== undefined)) return;
    const url = given.KOPIA_REPOSITORY;
    // A URL that failed its own check is reported already.
    if (url !== undefined && !isLocation(url)) return;
    const bucket = url?.bucket ?? '';
    if (bucket === '') {
      report(variables[0], `is required: the ${noun} name (or give it in KOPIA_REPOSITORY)`);
      return;
    }
    const problem = rule.check(bucket);
    if (problem !== undefined) report('KOPIA_REPOSITORY', `${problem}: "${printable(bucket)}"`);
  };
}

/**
 * The location of a valid configuration: a bucket variable wins over the URL's bucket (with a
 * warning when both name one), and the prefix only ever comes from the URL path.
 */
export function chooseLocation<const K extends string>(
  values: { KOPIA_REPOSITORY?: Location | undefined } & { [N in K]?: string | undefined },
  variables: readonly K[],
  noun: Noun,
  warnings: string[],
): Location {
  const url = values.KOPIA_REPOSITORY;
  const fromVariable = firstSet(values, variables);
  // Without a bucket variable, bucketRequired made sure the URL names the bucket.
  if (fromVariable === undefined) return url ?? { bucket: '', prefix: '' };
  if (url !== undefined && (url.bucket !== '' || url.prefix !== '')) {
    const differs = url.bucket !== '' && url.bucket !== fromVariable.value;
    warnings.push(
      `both ${fromVariable.name} and KOPIA_REPOSITORY name the ${noun}: using ${noun} "${fromVariable.value}" from ${fromVariable.name}` +
        `${differs ? ` (KOPIA_REPOSITORY says "${printable(url.bucket)}")` : ''} and the prefix from KOPIA_REPOSITORY`,
    );
  }
  return { bucket: fromVariable.value, prefix: url?.prefix ?? '' };
}
