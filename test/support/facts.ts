import type { Facts } from '../../src/facts.js';

/** Facts of a machine with nothing on disk yet: no saved connection, no policy files, a source with files. */
export function emptyFacts(overrides: Partial<Facts> = {}): Facts {
  return { applied: {}, settings: { globalSources: [], findings: [], files: {}, sourceFields: {} }, repositoryDirs: [], sourceEmpty: false, ...overrides };
}
