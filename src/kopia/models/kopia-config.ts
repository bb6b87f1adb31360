import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { parseKopiaJson } from './parse.js';

export const KOPIA_CONFIG_FILE = 'kopia.config';

const bytes = z.number().int().nonnegative();

/** The storage kopia connects to, as `repository connect` saved it: the backend's type and its settings (secrets among them until scrubbed). */
const savedStorageSchema = z.looseObject({
  type: z.string().min(1),
  config: z.record(z.string(), z.unknown()),
});

/**
 * A cache directory's kopia.config (kopia v0.22.3's LocalConfig): the saved connection. kopia writes
 * hostname, username and enableActions always, storage for a direct connection (not for a
 * repository server), and caching once a cache directory is set. Fields the program does not read
 * are kept, so the file can be written back whole.
 */
export const kopiaConfigSchema = z.looseObject({
  storage: savedStorageSchema.optional(),
  hostname: z.string(),
  username: z.string(),
  enableActions: z.boolean(),
  caching: z
    .looseObject({
      maxCacheSize: bytes.optional(),
      maxMetadataCacheSize: bytes.optional(),
      contentCacheSizeLimitBytes: bytes.optional(),
      metadataCacheSizeLimitBytes: bytes.optional(),
    })
    .optional(),
});

/** What the cache dir's kopia.config says about its connection. */
export type SavedConnection = z.infer<typeof kopiaConfigSchema>;

/**
 * Only the saved storage, for removing its secrets: whatever else the file holds (or lacks), a
 * storage config that holds a secret is found.
 */
export const kopiaConfigStorageSchema = z.looseObject({ storage: savedStorageSchema });

export type KopiaConfigStorage = z.infer<typeof kopiaConfigStorageSchema>;

/** kopia.config at `path`, checked against `model`; a KopiaOutputError names the file and the field. */
export function readKopiaConfig<M extends z.ZodType>(path: string, model: M): z.output<M> {
  return parseKopiaJson(KOPIA_CONFIG_FILE, model, readFileSync(path, 'utf8'));
}
