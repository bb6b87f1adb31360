// KOPIA_ADDITIONAL_ARGS reaching the real kopia: split, placed on snapshot create, refused when forbidden.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARGS_SEPARATOR } from '../support/fixtures.js';
import { kopiaJson, kopiaText, policyScenario, runMover } from '../support/mover.js';

interface Snapshot {
  id: string;
  description?: string;
  tags?: Record<string, string>;
}

describe('KOPIA_ADDITIONAL_ARGS', () => {
  it('splits on the exact separator and passes exactly two arguments to snapshot create only', async () => {
    const s = policyScenario('args');
    const backup = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_ADDITIONAL_ARGS: `--tags=env:Prod${ARGS_SEPARATOR}--description=VOLSYNC nightly`,
    });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const create = backup.kopiaCalls.find((a) => a[0] === 'snapshot' && a[1] === 'create') ?? [];
    expect(create.filter((a) => a === '--tags=env:Prod' || a === '--description=VOLSYNC nightly')).toHaveLength(2);
    for (const argv of backup.kopiaCalls.filter((a) => a[0] === 'repository')) {
      expect(argv.join(' ')).not.toMatch(/--tags|--description/);
    }
    const [snapshot] = kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    expect(snapshot?.description).toBe('VOLSYNC nightly');
    expect(snapshot?.tags).toMatchObject({ 'tag:env': 'Prod' });
  });

  it('policy flags from the docs become the snapshot path policy, and an ignored file is absent from the snapshot', async () => {
    const s = policyScenario('policyargs');
    writeFileSync(join(s.data, 'scratch.tmp'), 'temporary');
    const backup = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_ADDITIONAL_ARGS: `--one-file-system${ARGS_SEPARATOR}--ignore=*.tmp`,
    });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const policy = kopiaJson<{ files: { ignore?: string[]; oneFileSystem?: boolean } }>(s.cache, s.password, ['policy', 'show', 'policyargs@ns1:/data']);
    expect(policy.files.ignore).toContain('*.tmp');
    expect(policy.files.oneFileSystem).toBe(true);
    const [snapshot] = kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    const names = kopiaText(s.cache, s.password, ['ls', snapshot!.id]).split('\n').filter(Boolean);
    expect(names).toContain('keep.txt');
    expect(names).not.toContain('scratch.tmp');
  });

  for (const forbidden of ['--password=x', '--config-file /x', '--access-key=x']) {
    it(`rejects ${forbidden.split(/[= ]/)[0]} with exit 2 before any kopia process`, async () => {
      const s = policyScenario('forbidden');
      const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_ADDITIONAL_ARGS: `--tags=a:b${ARGS_SEPARATOR}${forbidden}` });
      expect(result.exitCode).toBe(2);
      expect(result.kopiaCalls).toEqual([]);
      expect(result.stdout).toContain(`${forbidden.split(/[= ]/)[0]} is not allowed`);
    });
  }
});
