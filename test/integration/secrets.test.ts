// Secrets never reach output in any encoding kopia or Go gives them; what cannot be redacted is
// said; a password file that is not plain text is refused naming the file. Every run here is
// scanned by runMover (all output, the termination message and every kopia argv) for every form
// of every secret variable, including any mix of percent-encoded characters in either hex case.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containsSecret } from '../../src/report/redact.js';
import { filesHoldingSecrets, runMover, seededScenario, summaryValue, tempDir, type MoverResult } from '../support/mover.js';

const seed = Number(process.env['FC_SEED'] ?? 20261202);

/** A secret drawn from the characters encoders treat differently, letters and unicode; at least 4 characters. */
const secrets = fc
  .array(fc.oneof(fc.constantFrom(...`!*'()%+/ &=`.split('')), fc.constantFrom('a', 'Q', '7', '-', '_', '~'), fc.constantFrom('é', 'ß', '日', '😀', 'Ω')), {
    minLength: 4,
    maxLength: 20,
  })
  .map((chars) => chars.join(''))
  .filter((s) => s.trim().length >= 4 && s.trim() === s);

function everything(result: MoverResult): string {
  return [result.stdout, result.stderr, JSON.stringify(result.terminationMessage ?? {}), ...result.kopiaCalls.map((c) => c.join(' '))].join('\n');
}

describe('an Azure SAS token as kopia prints it, Go-encoded', () => {
  // The storage domain does not resolve, so kopia fails its first request and prints the request's
  // URL with the token's parameters re-encoded by Go (`!*'()` as %21%2A%27%28%29).
  const azure = (sig: string) => ({
    KOPIA_REPOSITORY: 'azure://container1',
    KOPIA_AZURE_STORAGE_ACCOUNT: 'account1',
    AZURE_STORAGE_SAS_TOKEN: `sv=2022-11-02&sp=rl&sig=${encodeURIComponent(sig)}`,
    AZURE_ENDPOINT_SUFFIX: 'invalid',
  });

  it("a signature with !*'() never appears, though kopia printed the URL", async () => {
    const s = seededScenario('sas');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, ...azure("Ab!*'()x+y/z é=") });
    expect(result.exitCode, result.stdout).toBe(3);
    // kopia did print the request URL, with the signature's place redacted.
    expect(result.stdout).toMatch(/sig=\[redacted\]/);
    expect(containsSecret(everything(result), ["Ab!*'()x+y/z é="])).toBe(false);
  });

  it('generated signatures with !*\'()%+/ &= and unicode: no form of any appears anywhere', async () => {
    const s = seededScenario('sas-gen');
    await fc.assert(
      fc.asyncProperty(secrets, async (sig) => {
        const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CACHE_DIR: tempDir('km-sas-cache-'), ...azure(sig) });
        expect(result.exitCode, result.stdout).toBe(3);
        expect(containsSecret(everything(result), [sig]), sig).toBe(false);
      }),
      { seed, numRuns: 3 },
    );
  }, 300_000);
});

describe('generated passwords against a real repository', () => {
  it("passwords with !*'()%+/ &= and unicode: backup and restore succeed, and no form reaches output, argv, the cache or TMPDIR", async () => {
    await fc.assert(
      fc.asyncProperty(secrets, async (password) => {
        const s = seededScenario('pw-gen');
        const env = { ...s.env, KOPIA_PASSWORD: password };
        const backup = await runMover(['backup'], { ...env, DATA_DIR: s.data });
        expect(backup.exitCode, backup.stdout).toBe(0);
        const restored = join(s.root, 'restored');
        const restore = await runMover(['restore'], { ...env, DATA_DIR: restored, KOPIA_SOURCE_PATH_OVERRIDE: s.data });
        expect(restore.exitCode, restore.stdout).toBe(0);
        expect(readFileSync(join(restored, 'file.txt'), 'utf8')).toBe('pw-gen\n');
        for (const result of [backup, restore]) {
          expect(containsSecret(everything(result), [password])).toBe(false);
          expect(filesHoldingSecrets(result.tmpDir, [password])).toEqual([]);
        }
        expect(filesHoldingSecrets(join(s.cache, 'logs'), [password])).toEqual([]);
      }),
      { seed, numRuns: 3 },
    );
  }, 300_000);
});

describe('a secret too short to redact', () => {
  it('gets a summary WARNING naming its variable, never its value; validate says the same', async () => {
    const s = seededScenario('short');
    const env = { ...s.env, KOPIA_PASSWORD: 'x9!', DATA_DIR: s.data };
    const backup = await runMover(['backup'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    const warning = backup.plainLines.find((l) => l.includes('KOPIA_PASSWORD') && l.includes('cannot be kept out of logs'));
    expect(warning, backup.stdout).toMatch(/^WARNING/);
    expect(warning).not.toContain('x9!');
    expect(summaryValue(backup, 'OPERATION_RESULT')).toBe('SUCCESS');
    const checked = await runMover(['validate', '--operation', 'backup'], env);
    expect(checked.exitCode).toBe(0);
    expect(checked.plainLines).toContainEqual(expect.stringMatching(/^WARNING +KOPIA_PASSWORD: is shorter than 4 characters: it cannot be kept out of logs/));
  });

  it('a secret of 4 characters or more gets no such warning', async () => {
    const s = seededScenario('long-enough');
    const checked = await runMover(['validate', '--operation', 'backup'], { ...s.env, KOPIA_PASSWORD: 'x9!z', DATA_DIR: s.data });
    expect(checked.exitCode).toBe(0);
    expect(checked.stdout).not.toContain('cannot be kept out of logs');
  });
});

describe('a password file that is not plain text', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['a UTF-8 byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('correct horse\n')]), /UTF-8 byte-order mark.*without BOM/],
    ['a NUL byte', Buffer.from('correct\0horse\n'), /NUL byte \(at byte 7\)/],
    ['UTF-16 with its byte-order mark', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('pw\n', 'utf16le')]), /UTF-16/],
    ['bytes that are not UTF-8', Buffer.from([0x70, 0x77, 0xe9, 0x0a]), /not UTF-8/],
  ];
  for (const [what, bytes, why] of cases) {
    it(`${what}: exit 2 naming the file and why, before any kopia process`, async () => {
      const s = seededScenario('pwfile');
      const file = join(s.root, 'password.txt');
      writeFileSync(file, bytes);
      const result = await runMover(['backup', '--password-file', file], { ...s.env, KOPIA_PASSWORD: undefined, DATA_DIR: s.data });
      expect(result.exitCode, result.stdout + result.stderr).toBe(2);
      expect(result.kopiaCalls).toEqual([]);
      const said = result.stdout + result.stderr;
      expect(said).toContain(`--password-file: ${file} cannot be used`);
      expect(said).toMatch(why);
    });
  }

  it('a plain password file with a trailing newline still works', async () => {
    const s = seededScenario('pwfile-ok');
    const file = join(s.root, 'password.txt');
    writeFileSync(file, `${s.password}\n`);
    const result = await runMover(['backup', '--password-file', file], { ...s.env, KOPIA_PASSWORD: undefined, DATA_DIR: s.data });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(containsSecret(everything(result), [s.password])).toBe(false);
  });
});
