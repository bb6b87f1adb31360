// Maintenance against real repositories: taking ownership, the quick and full cycles, and how it fails.
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertNoSecrets, ensureTestUser, kopiaJson, kopiaText, runMover, scenario, seededScenario } from '../support/mover.js';

interface MaintenanceInfo {
  owner: string;
  schedule: { runs: Record<string, { success: boolean }[]> };
}

/** Takes write permission from every folder under dir, the repository's included. */
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

/**
 * Real kopia, real failures: the program runs as an ordinary user (as in the pod); after
 * makeReadOnly that user can read the repository but no longer write it.
 */
function ownedByTestUser(name: string) {
  const user = ensureTestUser();
  const s = scenario(name);
  mkdirSync(s.data);
  writeFileSync(join(s.data, 'a.txt'), 'a');
  chmodSync(s.root, 0o755);
  chownTree(s.root, user.uid, user.gid);
  return s;
}

describe('maintenance', () => {
  it('takes ownership from another user@host, runs quick and full, and reports success', async () => {
    const s = seededScenario('maint');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(backup.exitCode, backup.stdout).toBe(0);
    // The first backup left maintenance to maintenance@volsync; a client that made itself the owner
    // (as kopia's own `repository create` does for its creator) keeps it until someone claims it.
    kopiaText(s.cache, s.password, ['maintenance', 'set', '--owner=maint@ns1']);
    expect(kopiaJson<MaintenanceInfo>(s.cache, s.password, ['maintenance', 'info']).owner).toBe('maint@ns1');

    const cache = join(s.root, 'maintenance-cache');
    const result = await runMover(['maintenance'], { ...s.env, KOPIA_CACHE_DIR: cache });
    expect(result.exitCode, result.stdout).toBe(0);
    assertNoSecrets(result, [s.password]);
    expect(result.plainLines).toContain('MAINTENANCE_STATUS: SUCCESS');
    expect(result.plainLines.some((l) => /^MAINTENANCE_DURATION: \d+$/.test(l))).toBe(true);

    const info = kopiaJson<MaintenanceInfo>(cache, s.password, ['maintenance', 'info']);
    expect(info.owner).toBe('maintenance@volsync');
    // Quick cycles record epoch work; full cycles record snapshot GC.
    expect(info.schedule.runs['snapshot-gc']?.some((r) => r.success)).toBe(true);
    const calls = result.kopiaCalls.map((argv) => argv.slice(0, 3).join(' '));
    expect(calls).toContain('maintenance run --full');
    const quickIndex = result.kopiaCalls.findIndex((argv) => argv[0] === 'maintenance' && argv[1] === 'run' && !argv.includes('--full'));
    const fullIndex = result.kopiaCalls.findIndex((argv) => argv.includes('--full'));
    expect(quickIndex).toBeGreaterThanOrEqual(0);
    expect(quickIndex).toBeLessThan(fullIndex);
  });

  it('never creates a repository', async () => {
    const s = scenario('maint-missing');
    const result = await runMover(['maintenance'], s.env);
    expect(result.exitCode).toBe(3);
    expect(result.kopiaCalls.some((argv) => argv[1] === 'create')).toBe(false);
  });
});

describe('maintenance failures', () => {
  it('ownership that cannot be claimed: exit 5, naming the current owner', async () => {
    const s = ownedByTestUser('claim-fails');
    const backup = await runMover(['backup'], { ...s.env, DATA_DIR: s.data }, { asUser: 'kmtest' });
    expect(backup.exitCode, backup.stdout).toBe(0);
    // Another client owns maintenance (the first backup left it to maintenance@volsync).
    kopiaText(s.cache, s.password, ['maintenance', 'set', '--owner=claim-fails@ns1']);
    const user = ensureTestUser();
    chownTree(s.root, user.uid, user.gid);
    makeReadOnly(s.repo);
    const result = await runMover(['maintenance'], { ...s.env, KOPIA_CACHE_DIR: join(s.root, 'mcache') }, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).toBe(5);
    expect(result.kopiaCalls.filter((a) => a[0] === 'maintenance' && a[1] === 'set').length).toBeGreaterThan(1);
    expect(result.plainLines).toContain('MAINTENANCE_STATUS: FAILURE');
    expect(result.plainLines.find((l) => l.startsWith('MAINTENANCE_FAILURE_REASON:'))).toContain('current owner is claim-fails@ns1');
  });

  it('a failing full maintenance: exit 6 with kopia output between the markers', async () => {
    const s = ownedByTestUser('full-fails');
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
