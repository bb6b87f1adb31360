import * as z from 'zod';
import { parseKopiaJson } from './parse.js';

export const REPOSITORY_STATUS_COMMAND = 'kopia repository status --json';

const bytes = z.number().int().nonnegative();

/**
 * What the repository report reads of `kopia repository status --json` (kopia v0.22.3): the storage
 * type, the content format (its version, index version, hash and encryption) and, where the
 * storage can tell, the volume's capacity and free space. kopia leaves `volume` out for storage
 * that cannot say (object stores); the storage config, client options and ID are dropped.
 */
export const repositoryStatusSchema = z.object({
  storage: z.object({ type: z.string() }),
  volume: z.object({ capacity: bytes, available: bytes }).optional(),
  contentFormat: z.object({
    version: z.number().int(),
    indexVersion: z.number().int().optional(),
    hash: z.string(),
    encryption: z.string(),
  }),
});

export type RepositoryStatus = z.infer<typeof repositoryStatusSchema>;

export function parseRepositoryStatus(stdout: string, kopiaOutput?: string): RepositoryStatus {
  return parseKopiaJson(REPOSITORY_STATUS_COMMAND, repositoryStatusSchema, stdout, { kopiaOutput });
}
