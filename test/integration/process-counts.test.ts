import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMover, scenario } from '../support/mover.js';

/**
 * Every kopia process opens the repository again; these are the issue's
 * targets, counted from the real processes the program starts. The plan must
 * predict the same number.
 */
function planned(stdout: string): number {
  const match = /^# (\d+) kopia command\(s\)/m.exec(stdout);
  if (!match) throw new Error(`no count line in the plan:\n${stdout}`);
  return Number(match[1]);
}

function setup(name: string) {
  const s = scenario(name);
  mkdirSync(s.data);
  writeFileSync(join(s.data, 'a.txt'), 'a');
  const policyDir = join(s.root, 'policies');
  mkdirSync(policyDir);
  writeFileSync(join(policyDir, 'global-policy.json'), JSON.stringify({ retention: { keepLatest: 12 }, compression: { compressor: 'zstd' } }));
  const env = {
    ...s.env,
    DATA_DIR: s.data,
    KOPIA_CONFIG_PATH: policyDir,
    KOPIA_RETAIN_DAILY: '7',
    KOPIA_RETAIN_WEEKLY: '4',
    KOPIA_COMPRESSION: 'zstd-fastest',
  };
  return { ...s, env };
}

describe('kopia process counts', () => {
  it('backup with an empty cache against an existing repository: at most 3, as the plan says', async () => {
    const s = setup('count-backup');
    expect((await runMover(['backup'], s.env)).exitCode).toBe(0);
    rmSync(s.cache, { recursive: true, force: true });
    writeFileSync(join(s.data, 'b.txt'), 'b');
    const plan = await runMover(['plan', '--operation', 'backup'], s.env);
    const result = await runMover(['backup'], s.env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.kopiaCalls.length).toBeLessThanOrEqual(3);
    expect(planned(plan.stdout)).toBe(result.kopiaCalls.length);
  });

  it('repeat backup: at most 2, as the plan says', async () => {
    const s = setup('count-repeat');
    expect((await runMover(['backup'], s.env)).exitCode).toBe(0);
    writeFileSync(join(s.data, 'b.txt'), 'b');
    const plan = await runMover(['plan', '--operation', 'backup'], s.env);
    const result = await runMover(['backup'], s.env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.kopiaCalls.length).toBeLessThanOrEqual(2);
    expect(planned(plan.stdout)).toBe(result.kopiaCalls.length);
  });

  it('restore with an empty cache: at most 3, as the plan says', async () => {
    const s = setup('count-restore');
    expect((await runMover(['backup'], s.env)).exitCode).toBe(0);
    const target = join(s.root, 'target');
    mkdirSync(target);
    const env = { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data, KOPIA_CACHE_DIR: join(s.root, 'restore-cache') };
    const plan = await runMover(['plan', '--operation', 'restore'], env);
    const result = await runMover(['restore'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.kopiaCalls.length).toBeLessThanOrEqual(3);
    expect(planned(plan.stdout)).toBe(result.kopiaCalls.length);
  });

  it('maintenance when already the owner: at most 3, as the plan says', async () => {
    const s = setup('count-maint');
    expect((await runMover(['backup'], s.env)).exitCode).toBe(0);
    const env = { ...s.env, KOPIA_CACHE_DIR: join(s.root, 'maintenance-cache') };
    expect((await runMover(['maintenance'], env)).exitCode).toBe(0);
    const plan = await runMover(['plan', '--operation', 'maintenance'], env);
    const result = await runMover(['maintenance'], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.kopiaCalls.map((a) => a.slice(0, 2).join(' '))).not.toContain('maintenance set');
    expect(result.kopiaCalls.length).toBeLessThanOrEqual(3);
    expect(planned(plan.stdout)).toBe(result.kopiaCalls.length);
  });

  it('no kopia --version call on any path', async () => {
    const s = setup('count-version');
    const result = await runMover(['backup'], s.env);
    expect(result.exitCode).toBe(0);
    expect(result.kopiaCalls.some((a) => a.includes('--version'))).toBe(false);
  });
});
