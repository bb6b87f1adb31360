// A wrong repository password: exit 3, and the repository is left as it was.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertNoSecrets, runMover, seededScenario } from '../support/mover.js';

/** A listing of every file in the repository with its size and mtime: any change shows. */
function repositoryFingerprint(repo: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else out.push(`${path} ${st.size} ${st.mtimeMs}`);
    }
  };
  walk(repo);
  return out;
}

describe('a wrong repository password', () => {
  it('a wrong password against an existing repository exits 3, attempts no create and leaves the repository unchanged', async () => {
    const s = seededScenario('wrongpw');
    const first = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(first.exitCode).toBe(0);
    const before = repositoryFingerprint(s.repo);
    const wrong = 'not-the-right-password-123';
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_PASSWORD: wrong, KOPIA_CACHE_DIR: join(s.root, 'fresh-cache') });
    expect(result.exitCode).toBe(3);
    expect(result.kopiaCalls.some((argv) => argv[1] === 'create')).toBe(false);
    expect(repositoryFingerprint(s.repo)).toEqual(before);
    expect(result.plainLines).toContain('EXIT_CODE: 3');
    assertNoSecrets(result, [wrong, s.password]);
  });

  it('a wrong password with a reused connection also exits 3', async () => {
    const s = seededScenario('wrongpw-reuse');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    const wrong = 'also-wrong-password-456';
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_PASSWORD: wrong });
    expect(result.exitCode).toBe(3);
    assertNoSecrets(result, [wrong, s.password]);
  });
});
