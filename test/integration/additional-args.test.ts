// KOPIA_ADDITIONAL_ARGS reaching the real kopia: split, placed on snapshot create, refused when forbidden.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADDITIONAL_ARG_FLAGS, type Command } from '../../src/config/additional-args.js';
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

/** The flags kopia's help lists for a command: `--[no-]x` is a switch, `--x=V` takes a value, `...` repeats. */
function kopiaFlags(command: Command): Map<string, { takesValue: boolean; repeatable: boolean }> {
  const help = kopiaText(mkdtempSync(join(tmpdir(), 'km-help-')), '', ['snapshot', command, '--help']);
  const flags = new Map<string, { takesValue: boolean; repeatable: boolean }>();
  for (const line of help.split('\n')) {
    const m = /^\s+--(\[no-\])?([a-z0-9-]+)(=("[^"]*"|\S+))?(\s\.\.\.)?/.exec(line);
    if (m) flags.set(`--${m[2]}`, { takesValue: m[3] !== undefined, repeatable: m[5] !== undefined });
  }
  return flags;
}

describe('the additional-args flag table, read against kopia 0.22.3\'s own help', () => {
  for (const command of ['create', 'restore'] as const) {
    it(`every flag it gives to snapshot ${command}, and every kopia flag it refuses or drops there, is written as kopia takes it`, () => {
      const kopia = kopiaFlags(command);
      const passed = Object.entries(ADDITIONAL_ARG_FLAGS).filter(([, r]) => r.commands.includes(command) && r.disposition.kind === 'passed');
      expect(passed.length).toBeGreaterThan(10);
      for (const [name, rule] of passed) {
        expect(kopia.get(name), `${name} on snapshot ${command}`).toEqual({ takesValue: rule.takesValue, repeatable: rule.repeatable ?? false });
      }
      // A flag kopia has that the mover refuses or drops still reads its value the way kopia would.
      for (const [name, rule] of Object.entries(ADDITIONAL_ARG_FLAGS)) {
        const known = kopia.get(name);
        if (known !== undefined && rule.disposition.kind !== 'passed') expect(known.takesValue, name).toBe(rule.takesValue);
      }
    });
  }
});
