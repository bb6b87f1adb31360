// A corrupt local cache: cleared and retried when that is safe, refused when it is not, and rebuilt on request.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kopiaJson, runMover, scenario } from '../support/mover.js';

function ageOwnWrites(cache: string): void {
  const dir = join(cache, 'own-writes');
  const old = new Date(Date.now() - 20 * 60 * 1000);
  for (const name of readdirSync(dir)) utimesSync(join(dir, name), old, old);
}

function corruptIndexCache(cache: string): void {
  const dir = join(cache, 'indexes');
  const files = readdirSync(dir);
  expect(files.length).toBeGreaterThan(0);
  for (const name of files) writeFileSync(join(dir, name), randomBytes(300));
}

describe('cache corruption', () => {
  it('a corrupted index cache is cleared and the backup retried and succeeds; a second corruption within 5 minutes is not cleared', async () => {
    const s = scenario('corrupt');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a');
    const env = { ...s.env, DATA_DIR: s.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);

    ageOwnWrites(s.cache);
    corruptIndexCache(s.cache);
    writeFileSync(join(s.data, 'b.txt'), 'b');
    const recovered = await runMover(['backup'], env);
    expect(recovered.exitCode, recovered.stdout).toBe(0);
    expect(recovered.plainLines.some((l) => l.startsWith('WARNING: the local cache was corrupt'))).toBe(true);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(2);
    expect(existsSync(join(s.cache, 'kopia.config'))).toBe(true);

    ageOwnWrites(s.cache);
    corruptIndexCache(s.cache);
    const refused = await runMover(['backup'], env);
    expect(refused.exitCode).toBe(3);
    expect(refused.plainLines.find((l) => l.startsWith('FAILURE_REASON:'))).toMatch(/not clearing again within 5 minutes/);
  });

  it('with recent writes in own-writes it refuses to clear and names the folder', async () => {
    const s = scenario('ownwrites');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a');
    const env = { ...s.env, DATA_DIR: s.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);
    expect(readdirSync(join(s.cache, 'own-writes')).filter((n) => !n.startsWith('.')).length).toBeGreaterThan(0);
    corruptIndexCache(s.cache);
    const result = await runMover(['backup'], env);
    expect(result.exitCode).toBe(3);
    expect(result.plainLines.find((l) => l.startsWith('FAILURE_REASON:'))).toContain(join(s.cache, 'own-writes'));
    // Nothing was cleared: the corrupt files are still there for an operator to look at.
    expect(readdirSync(join(s.cache, 'indexes')).length).toBeGreaterThan(0);
  });
});

describe('forced cache rebuild', () => {
  it('KOPIA_FORCE_CACHE_REBUILD clears before connecting when safe, and only warns when own-writes is pending', async () => {
    const s = scenario('forced');
    mkdirSync(s.data);
    writeFileSync(join(s.data, 'a.txt'), 'a');
    const env = { ...s.env, DATA_DIR: s.data };
    expect((await runMover(['backup'], env)).exitCode).toBe(0);

    const pending = await runMover(['backup'], { ...env, KOPIA_FORCE_CACHE_REBUILD: 'true' });
    expect(pending.exitCode, pending.stdout).toBe(0);
    expect(pending.plainLines.some((l) => l.startsWith('WARNING: KOPIA_FORCE_CACHE_REBUILD not applied') && l.includes('own-writes'))).toBe(true);

    ageOwnWrites(s.cache);
    const cleared = await runMover(['backup'], { ...env, KOPIA_FORCE_CACHE_REBUILD: 'true' });
    expect(cleared.exitCode, cleared.stdout).toBe(0);
    expect(cleared.records.some((r) => r['msg'] === 'KOPIA_FORCE_CACHE_REBUILD: cache cleared')).toBe(true);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(3);
  });
});
