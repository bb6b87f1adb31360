// `--repository /abs/path` names exactly that folder: whatever characters a path holds (URL
// delimiters such as # ? %, spaces, non-ASCII), the plan's filesystem --path is the path as typed,
// normalised, and never another folder. Checked through the built program with generated paths.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runMover, seededScenario } from '../support/mover.js';

const segment = fc
  .array(fc.constantFrom('a', 'Z', '0', ' ', '#', '?', '%', '%41', '&', '=', '+', ';', ':', '@', '.', '-', '_', 'é', '日', '\u{1F600}'), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join(''))
  .filter((s) => s !== '.' && s !== '..');

describe('--repository given as an absolute path', () => {
  it('plans kopia --path as exactly that path, for generated names with URL delimiters and non-ASCII', async () => {
    const s = seededScenario('repo-path');
    await fc.assert(
      fc.asyncProperty(segment, async (name) => {
        // The parent exists, as the plan checks for a filesystem repository's parent.
        const path = `${s.root}/${name}`;
        const result = await runMover(['plan', '--operation', 'backup', '--repository', path, '--data-dir', s.data], { ...s.env, KOPIA_REPOSITORY: undefined });
        expect(result.exitCode, result.stdout).toBe(0);
        expect(result.kopiaCalls).toEqual([]);
        // The whole path, ended by the shell quote or the next argument: not cut at # ? %, not decoded.
        const paths = [...result.stdout.matchAll(/--path=(.*?)(?:' |'$| --)/gm)].map((m) => m[1]);
        expect(paths.length, result.stdout.slice(0, 600)).toBeGreaterThan(0);
        for (const planned of paths) expect(planned).toBe(path);
      }),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 20), seed: Number(process.env['FUZZ_SEED'] ?? 220022) },
    );
  }, 300_000);
});
