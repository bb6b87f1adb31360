// The real program, given generated deep JSON, numbers out of range and dates that do not exist:
// exit 2 naming the variable or file, before any kopia process, and never zod's or JavaScript's words.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runMover, scenario, summaryValue } from '../support/mover.js';

const SEED = Number(process.env['FC_SEED'] ?? 17);
const ENGINE_WORDS = /\bexpected\b|RangeError|TypeError|SyntaxError|Invalid input|Maximum call stack|\n\s+at /;

/** Nesting of `depth` arrays or objects; an environment value holds at most 128 KiB. */
const deep = fc
  .tuple(fc.integer({ min: 65, max: 30_000 }), fc.boolean())
  .map(([depth, objects]) => (objects ? `${'{"a":'.repeat(Math.min(depth, 20_000))}1${'}'.repeat(Math.min(depth, 20_000))}` : `${'['.repeat(depth)}${']'.repeat(depth)}`));
const huge = fc.oneof(fc.bigInt({ min: 2n ** 53n, max: 10n ** 25n }).map(String), fc.integer({ min: 309, max: 350 }).map((e) => `1e${e}`));
const badDate = fc.constantFrom('2024-02-30T00:00:00Z', '2024-01-01T24:00:00Z', '2023-02-29T00:00:00Z', '2024-01-01T23:60:00Z');

type Case = { env: Record<string, string>; names: string; file?: { name: string; text: string } };

const cases: fc.Arbitrary<Case> = fc.oneof(
  fc.tuple(deep, fc.constantFrom('KOPIA_MANUAL_CONFIG', 'KOPIA_STRUCTURED_REPOSITORY_CONFIG')).map(([text, v]) => ({ env: { [v]: text }, names: v })),
  huge.map((n) => ({ env: { KOPIA_MANUAL_CONFIG: `{"caching":{"maxCacheSize":${n}}}` }, names: 'KOPIA_MANUAL_CONFIG' })),
  fc.bigInt({ min: 2n ** 53n, max: 10n ** 30n }).map((n) => ({ env: { KOPIA_RETAIN_LATEST: String(n) }, names: 'KOPIA_RETAIN_LATEST' })),
  badDate.map((d) => ({ env: { KOPIA_RESTORE_AS_OF: d }, names: 'KOPIA_RESTORE_AS_OF' })),
  fc.oneof(deep, huge.map((n) => `{"storage":{"type":"filesystem","config":{"path":"/r","dirShards":${n}}}}`)).map((text) => ({
    env: {},
    names: 'repository.config',
    file: { name: 'repository.config', text },
  })),
);

describe('no JavaScript or zod wording reaches the operator', () => {
  it('generated bad JSON depths, numbers and dates are exit 2 naming the variable or file, before any kopia process', async () => {
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const s = scenario('plain');
        const env: Record<string, string | undefined> = { ...s.env, DATA_DIR: s.data, ...c.env };
        if (c.file) {
          const path = join(s.root, c.file.name);
          writeFileSync(path, c.file.text);
          env['KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG'] = path;
          env['KOPIA_REPOSITORY'] = undefined;
        }
        const result = await runMover(['restore'], env);
        expect(result.exitCode, result.stdout).toBe(2);
        expect(result.kopiaCalls).toEqual([]);
        expect(summaryValue(result, 'FAILURE_REASON')).toContain(c.names);
        expect(`${result.stdout}\n${result.stderr}`).not.toMatch(ENGINE_WORDS);
      }),
      { numRuns: 10, seed: SEED },
    );
  });

  it('an impossible --as-of on the command line is refused, not rolled over', async () => {
    const s = scenario('asof');
    const result = await runMover(['restore', '--as-of', '2024-02-30T00:00:00Z'], { ...s.env, DATA_DIR: s.data });
    expect(result.exitCode, result.stdout).toBe(2);
    expect(summaryValue(result, 'FAILURE_REASON')).toContain('is not a date that exists: it has day 30, but 2024-02 has 29 days');
    expect(`${result.stdout}\n${result.stderr}`).not.toMatch(ENGINE_WORDS);
  });
});
