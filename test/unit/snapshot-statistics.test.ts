import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { excludedAny, planBackup } from '../../src/operations/backup.js';
import { emptyFacts } from '../support/facts.js';
import { SYSTEM } from '../support/fixtures.js';

describe('what the snapshot reports about exclusions', () => {
  it('asks kopia for the statistics, which carry the excluded counts', () => {
    const config = parseConfig(
      { DIRECTION: 'source', DATA_DIR: '/data', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r' },
      { system: SYSTEM, readMounts: false },
    );
    if (config.operation !== 'backup') throw new Error('expected a backup config');
    const snapshot = planBackup(config, emptyFacts()).steps.find((s) => s.id === 'snapshot');
    expect(snapshot?.kind === 'kopia' ? snapshot.command.args.slice(0, 5) : []).toEqual(['snapshot', 'create', '/data', '--json', '--json-verbose']);
  });

  it('counts the source only when kopia left files or directories out', () => {
    expect(excludedAny({})).toBe(false);
    expect(excludedAny({ stats: { excludedFileCount: 0, excludedDirCount: 0 } })).toBe(false);
    expect(excludedAny({ stats: { excludedFileCount: 2, excludedDirCount: 0 } })).toBe(true);
    expect(excludedAny({ stats: { excludedFileCount: 0, excludedDirCount: 1 } })).toBe(true);
  });
});
