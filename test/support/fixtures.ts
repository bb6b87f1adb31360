/**
 * Values the tests share, each defined once: a fact that changes (a field of SystemFacts, a
 * folder of examples, the controller's argument separator) changes here and nowhere else.
 */
import { join, resolve } from 'node:path';
import type { SystemFacts } from '../../src/config/parse.js';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

/** The pinned kopia that scripts/install-kopia.sh puts in tools/bin (npm test installs it), not the recording shim. */
export const realKopia = join(repoRoot, 'tools', 'bin', 'kopia');

/** The docs' policy files, repository configs and structured repository configs, as files. */
export const POLICY_FIXTURES = join(repoRoot, 'fixtures', 'policies');

/** The docs' `additionalArgs` examples (VolSync YAML). */
export const ADDITIONAL_ARGS_FIXTURES = join(repoRoot, 'fixtures', 'additional-args');

/**
 * What the VolSync controller puts between two KOPIA_ADDITIONAL_ARGS items. Written out rather
 * than imported from src: it is the controller's contract, so a change in src must fail a test.
 */
export const ARGS_SEPARATOR = '|VOLSYNC_ARG_SEP|';

/** The machine a unit test parses a configuration on: user u on host h, output not a terminal. */
export const SYSTEM: SystemFacts = { username: 'u', hostname: 'h', homeDir: '/home/u', stdoutIsTTY: false };

/** SYSTEM with some facts changed, for a test about the machine's identity or temp dir. */
export function systemFacts(changes: Partial<SystemFacts>): SystemFacts {
  return { ...SYSTEM, ...changes };
}
