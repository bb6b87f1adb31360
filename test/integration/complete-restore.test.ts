// Only a complete restore is called complete: kopia's flags that write less than the snapshot are
// refused before any repository is touched, in the spellings the real kopia parses.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARGS_SEPARATOR } from '../support/fixtures.js';
import { kopiaJson, kopiaText, runMover, scenario, summaryValue, tempDir } from '../support/mover.js';

const SEED = Number(process.env['FC_SEED'] ?? 17);

/** Every path under a folder, relative, sorted: what a restore wrote. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      out.push(relative(root, join(dir, entry.name)));
      if (entry.isDirectory()) walk(join(dir, entry.name));
    }
  };
  walk(root);
  return out.sort();
}

describe('placeholders are never reported as a restore', () => {
  const s = scenario('shallow');
  let rootId = '';

  beforeAll(async () => {
    mkdirSync(join(s.data, 'a', 'b', 'c'), { recursive: true });
    writeFileSync(join(s.data, 'top.txt'), 'top\n');
    writeFileSync(join(s.data, 'a', 'one.txt'), 'one\n');
    writeFileSync(join(s.data, 'a', 'b', 'two.txt'), 'two\n');
    writeFileSync(join(s.data, 'a', 'b', 'c', 'three.txt'), 'three\n');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const [snapshot] = kopiaJson<{ rootEntry: { obj: string } }[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    rootId = snapshot!.rootEntry.obj;
  });

  it('the real kopia writes placeholders for every generated spelling of --shallow the mover refuses', () => {
    const full = tempDir('km-full-');
    kopiaText(s.cache, s.password, ['snapshot', 'restore', rootId, full]);
    const spelling = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom('dec', 'oct', 'hex', 'plus', 'pair')).map(([n, how]) => {
      const value = { dec: `${n}`, oct: `0${n}`, hex: `0x${n}`, plus: `+${n}`, pair: `${n}` }[how];
      return how === 'pair' ? ['--shallow', value] : [`--shallow=${value}`];
    });
    fc.assert(
      fc.property(spelling, (args) => {
        const target = tempDir('km-shallow-');
        kopiaText(s.cache, s.password, ['snapshot', 'restore', rootId, target, ...args]);
        const written = tree(target);
        expect(written.some((p) => p.endsWith('.kopia-entry'))).toBe(true);
        expect(written).not.toEqual(tree(full));
      }),
      { numRuns: 6, seed: SEED },
    );
  });

  it('the real kopia reads no abbreviation or other letter case of these flags, so refusing the exact names covers them', () => {
    for (const arg of ['--shal=1', '--SHALLOW=1', '--skip-exist', '--ignore-err']) {
      expect(() => kopiaText(s.cache, s.password, ['snapshot', 'restore', rootId, tempDir('km-abbrev-'), arg])).toThrow(/unknown long flag/);
    }
  });

  it('KOPIA_ADDITIONAL_ARGS=--shallow=1 on a restore with deletion is exit 2 before any kopia process, DATA_DIR untouched', async () => {
    const target = tempDir('km-target-');
    writeFileSync(join(target, 'precious.txt'), 'keep me\n');
    const result = await runMover(['restore'], {
      ...s.env,
      DATA_DIR: target,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_ENABLE_FILE_DELETION: 'true',
      KOPIA_ADDITIONAL_ARGS: '--shallow=1',
    });
    expect(result.exitCode, result.stdout).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    expect(summaryValue(result, 'OPERATION_RESULT')).toBe('FAILURE');
    expect(summaryValue(result, 'FAILURE_REASON')).toMatch(/KOPIA_ADDITIONAL_ARGS: --shallow is refused for a restore: kopia writes placeholder files/);
    expect(result.stdout).not.toMatch(/restore completed/i);
    expect(tree(target)).toEqual(['precious.txt']);
    expect(readFileSync(join(target, 'precious.txt'), 'utf8')).toBe('keep me\n');
  });

  for (const [args, flag] of [
    [`--parallel=2${ARGS_SEPARATOR}--shallow 0`, '--shallow'],
    ['--skip-existing', '--skip-existing'],
    ['--ignore-errors', '--ignore-errors'],
    ['--no-overwrite-files', '--no-overwrite-files'],
    ['--mode=tar', '--mode'],
  ] as const) {
    it(`refuses ${args.split(ARGS_SEPARATOR).at(-1)} on a restore with exit 2 before any kopia process, naming ${flag}`, async () => {
      const target = tempDir('km-target-');
      const result = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: '/data', KOPIA_ADDITIONAL_ARGS: args });
      expect(result.exitCode, result.stdout).toBe(2);
      expect(result.kopiaCalls).toEqual([]);
      expect(summaryValue(result, 'FAILURE_REASON')).toContain(`KOPIA_ADDITIONAL_ARGS: ${flag} is refused for a restore`);
      expect(summaryValue(result, 'FAILURE_REASON')).toContain('Remove it');
    });
  }

  it('a restore with the allowed --mode=local and --no-skip-existing writes the whole snapshot', async () => {
    const target = tempDir('km-target-');
    const result = await runMover(['restore'], {
      ...s.env,
      DATA_DIR: target,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_ADDITIONAL_ARGS: `--mode=local${ARGS_SEPARATOR}--no-skip-existing`,
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(tree(target)).toEqual(tree(s.data));
  });
});
