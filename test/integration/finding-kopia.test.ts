// Which kopia the program runs: the project's own without KOPIA_BIN, and a clear error when none starts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runMover, seededScenario } from '../support/mover.js';

describe('finding kopia', () => {
  for (const entry of ['shim', 'bin'] as const) {
    it(`without KOPIA_BIN the program finds the project kopia, and --version prints both versions (${entry} entry)`, async () => {
      const s = seededScenario(`version-${entry}`);
      const result = await runMover(['--version'], { ...s.env, KOPIA_BIN: undefined }, { entry });
      expect(result.exitCode, result.stderr).toBe(0);
      const version = /^kopia-mover (\S+)$/m.exec(result.stdout)?.[1];
      expect(version).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
      expect(result.stdout).toMatch(/^kopia 0\.22\.3/m);
    });
  }

  it('a kopia that cannot be started is exit 2 naming KOPIA_BIN, not a repository failure', async () => {
    const s = seededScenario('nokopia');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_BIN: '/nonexistent/kopia' });
    expect(result.exitCode).toBe(2);
    expect(result.plainLines.find((l) => l.startsWith('FAILURE_REASON:'))).toContain('KOPIA_BIN');
  });
});
