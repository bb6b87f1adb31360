/**
 * kopia 0.22.3's own names: compressors, splitters, hashes, encryption and error correction, and
 * the spellings users bring from the VolSync docs. One place, read by the environment's parser,
 * the policy files' mapper and the manual config alike. A leaf module: it imports nothing.
 */

/** `kopia policy set --compression` accepts exactly these (besides "inherit"). */
export const COMPRESSORS = [
  'none',
  'deflate-best-compression',
  'deflate-best-speed',
  'deflate-default',
  'gzip',
  'gzip-best-compression',
  'gzip-best-speed',
  'lz4',
  'pgzip',
  'pgzip-best-compression',
  'pgzip-best-speed',
  's2-better',
  's2-default',
  's2-parallel-4',
  's2-parallel-8',
  'zstd',
  'zstd-best-compression',
  'zstd-better-compression',
  'zstd-fastest',
] as const;

export type Compressor = (typeof COMPRESSORS)[number];

/** Names the VolSync docs use for a compressor kopia calls otherwise. */
const COMPRESSOR_ALIASES: Readonly<Record<string, Compressor>> = {
  s2: 's2-default',
  deflate: 'deflate-default',
  pgzip_default: 'pgzip',
};

/**
 * kopia's name for a compressor given as kopia spells it, in other case, or as the docs spell it
 * (`s2`). `alias` says the name was translated, so the caller can tell the user.
 */
export function normalizeCompressor(name: string): { name: Compressor; alias: boolean } | undefined {
  const trimmed = name.trim();
  if ((COMPRESSORS as readonly string[]).includes(trimmed)) return { name: trimmed as Compressor, alias: false };
  const lower = trimmed.toLowerCase();
  if ((COMPRESSORS as readonly string[]).includes(lower)) return { name: lower as Compressor, alias: true };
  const aliased = Object.hasOwn(COMPRESSOR_ALIASES, lower) ? COMPRESSOR_ALIASES[lower] : undefined;
  return aliased === undefined ? undefined : { name: aliased, alias: true };
}

export const SPLITTERS = [
  'DYNAMIC',
  'DYNAMIC-128K-BUZHASH',
  'DYNAMIC-128K-RABINKARP',
  'DYNAMIC-1M-BUZHASH',
  'DYNAMIC-1M-RABINKARP',
  'DYNAMIC-256K-BUZHASH',
  'DYNAMIC-256K-RABINKARP',
  'DYNAMIC-2M-BUZHASH',
  'DYNAMIC-2M-RABINKARP',
  'DYNAMIC-4M-BUZHASH',
  'DYNAMIC-4M-RABINKARP',
  'DYNAMIC-512K-BUZHASH',
  'DYNAMIC-512K-RABINKARP',
  'DYNAMIC-8M-BUZHASH',
  'DYNAMIC-8M-RABINKARP',
  'FIXED',
  'FIXED-128K',
  'FIXED-1M',
  'FIXED-256K',
  'FIXED-2M',
  'FIXED-4M',
  'FIXED-512K',
  'FIXED-8M',
] as const;

export const ENCRYPTIONS = ['AES256-GCM-HMAC-SHA256', 'CHACHA20-POLY1305-HMAC-SHA256'] as const;

export const HASHES = [
  'BLAKE2B-256', 'BLAKE2B-256-128', 'BLAKE2S-128', 'BLAKE2S-256', 'BLAKE3-256', 'BLAKE3-256-128',
  'HMAC-SHA224', 'HMAC-SHA256', 'HMAC-SHA256-128', 'HMAC-SHA3-224', 'HMAC-SHA3-256',
] as const;

export const ERROR_CORRECTIONS = ['REED-SOLOMON-CRC32'] as const;

export const ACTION_MODES = ['essential', 'optional', 'async'] as const;

export const LOG_LEVELS = ['debug', 'info', 'warning', 'error'] as const;
