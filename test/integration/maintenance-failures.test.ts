import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureTestUser, runMover, scenario } from '../support/mover.js';

/**
 * Real kopia, real failures: the program runs as an ordinary user (as in the
 * pod) against a repository that user can read but no longer write.
 */
function makeReadOnly(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) makeReadOnly(path);
  }
  chmodSync(dir, 0o555);
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) chownTree(path, uid, gid);
    else chownSync(path, uid, gid);
  }
}

function setup(name: string) {
  const user = ensureTestUser();
  const s = scenario(name);
  mkdirSync(s.data);
  writeFileSync(join(s.data, 'a.txt'), 'a');
  chmodSync(s.root, 0o755);
  chownTree(s.root, user.uid, user.gid);
  return s;
}

describe('maintenance failures', () => {
  it('ownership that cannot be claimed: exit 5, naming the current owner', async () => {
    const s = setup('claim-fails');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data }, { asUser: 'kmtest' });
    expect(backup.exitCode, backup.stdout).toBe(0);
    makeReadOnly(s.repo);
    const result = await runMover(['maintenance'], { ...s.env, KOPIA_CACHE_DIR: join(s.root, 'mcache') }, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).toBe(5);
    expect(result.kopiaCalls.filter((a) => a[0] === 'maintenance' && a[1] === 'set').length).toBeGreaterThan(1);
    expect(result.plainLines).toContain('MAINTENANCE_STATUS: FAILURE');
    expect(result.plainLines.find((l) => l.startsWith('MAINTENANCE_FAILURE_REASON:'))).toContain('current owner is claim-fails@ns1');
  });

  it('a failing full maintenance: exit 6 with kopia output between the markers', async () => {
    const s = setup('full-fails');
    const env = { ...s.env, KOPIA_CACHE_DIR: join(s.root, 'mcache') };
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data }, { asUser: 'kmtest' })).exitCode).toBe(0);
    expect((await runMover(['maintenance'], env, { asUser: 'kmtest' })).exitCode).toBe(0);
    makeReadOnly(s.repo);
    const result = await runMover(['maintenance'], env, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).toBe(6);
    expect(result.plainLines).toContain('MAINTENANCE_STATUS: FAILURE');
    const start = result.plainLines.indexOf('KOPIA_ERROR_OUTPUT_START:');
    const end = result.plainLines.indexOf('KOPIA_ERROR_OUTPUT_END');
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start + 1);
    expect(result.plainLines.slice(start + 1, end).join('\n')).toMatch(/permission denied|read-only|error/i);
  });
});
