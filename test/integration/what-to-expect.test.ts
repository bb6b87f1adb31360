// What docs/what-to-expect.md tells a user, each shown against the real kopia: when retention
// applies, where the throttle lives, what a change made by hand does, and what bounds a hook.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { realKopia } from '../support/fixtures.js';
import { kopiaJson, kopiaText, policyScenario, runMover, summaryValue } from '../support/mover.js';

type Scenario = ReturnType<typeof policyScenario>;

function snapshotCount(s: Scenario): number {
  return kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all']).length;
}

function pathTarget(s: Scenario): string {
  return `${s.env['KOPIA_OVERRIDE_USERNAME']}@ns1:${s.data}`;
}

function pathKeepLatest(s: Scenario): number | undefined {
  return kopiaJson<{ retention?: { keepLatest?: number } }>(s.cache, s.password, ['policy', 'show', pathTarget(s)]).retention?.keepLatest;
}

/** Only keepLatest keeps snapshots: kopia's default hourly, daily, … counts would keep more. */
const onlyLatest = (n: number) => ({
  KOPIA_RETAIN_LATEST: String(n),
  KOPIA_RETAIN_HOURLY: '0',
  KOPIA_RETAIN_DAILY: '0',
  KOPIA_RETAIN_WEEKLY: '0',
  KOPIA_RETAIN_MONTHLY: '0',
  KOPIA_RETAIN_YEARLY: '0',
});

describe('retention is applied at backup time', () => {
  it('a lowered retention expires nothing at maintenance, and expires at the next backup of the path', async () => {
    const s = policyScenario('retain-when');
    const env = { ...s.env, DIRECTION: 'source', DATA_DIR: s.data };
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(s.data, 'keep.txt'), `${i}\n`);
      const result = await runMover([], { ...env, ...onlyLatest(10) });
      expect(result.exitCode, result.stdout).toBe(0);
    }
    expect(snapshotCount(s)).toBe(4);

    const maintenance = await runMover([], { ...s.env, DIRECTION: 'maintenance', ...onlyLatest(1) });
    expect(maintenance.exitCode, maintenance.stdout).toBe(0);
    expect(snapshotCount(s)).toBe(4);

    const lowered = await runMover([], { ...env, ...onlyLatest(1) });
    expect(lowered.exitCode, lowered.stdout).toBe(0);
    expect(snapshotCount(s)).toBe(1);
    expect(lowered.plainLines.join('\n')).toMatch(/expired 4 snapshots after retention was lowered \(keepLatest 10 → 1\)/);
  });
});

describe('the throttle belongs to the connection', () => {
  it("the repository config's uploadSpeed is in this cache's kopia.config, and another connection to the same repository is not throttled", async () => {
    const s = policyScenario('throttle-where');
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ uploadSpeed: 5242880 }));
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(kopiaText(s.cache, s.password, ['repository', 'throttle', 'get'])).toMatch(/Max Upload Speed:\s+5\.2 MB\/s/);

    const other = join(s.root, 'other-cache');
    const env = { PATH: process.env['PATH'], KOPIA_PASSWORD: s.password, KOPIA_CHECK_FOR_UPDATES: 'false' };
    const flags = [`--config-file=${join(other, 'kopia.config')}`, `--log-dir=${join(other, 'logs')}`];
    const connect = ['repository', 'connect', 'filesystem', `--path=${s.repo}`, `--cache-directory=${join(other, 'cache')}`];
    execFileSync(realKopia, [...connect, ...flags], { env, stdio: 'ignore' });
    const seen = execFileSync(realKopia, ['repository', 'throttle', 'get', ...flags], { env, encoding: 'utf8' });
    expect(seen).toMatch(/Max Upload Speed:\s+\(unlimited\)/);
  });
});

describe('settings changed by hand in kopia', () => {
  it('stay until the input that gives them changes', async () => {
    const s = policyScenario('by-hand');
    const env = { ...s.env, DIRECTION: 'source', DATA_DIR: s.data };
    expect((await runMover([], { ...env, KOPIA_RETAIN_LATEST: '7' })).exitCode).toBe(0);
    expect(pathKeepLatest(s)).toBe(7);

    kopiaText(s.cache, s.password, ['policy', 'set', pathTarget(s), '--keep-latest=3']);
    const unchanged = await runMover([], { ...env, KOPIA_RETAIN_LATEST: '7' });
    expect(unchanged.exitCode, unchanged.stdout).toBe(0);
    expect(pathKeepLatest(s)).toBe(3);

    const changed = await runMover([], { ...env, KOPIA_RETAIN_LATEST: '8' });
    expect(changed.exitCode, changed.stdout).toBe(0);
    expect(pathKeepLatest(s)).toBe(8);
  });
});

describe('actionCommandTimeout', () => {
  it("also bounds KOPIA_BEFORE_SNAPSHOT: a hook longer than it is stopped, exit 4, ActionFailed, no snapshot", async () => {
    const s = policyScenario('action-timeout');
    writeFileSync(join(s.policyDir, 'repository.config'), JSON.stringify({ actionCommandTimeout: 2 }));
    const result = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_CONFIG_PATH: s.policyDir,
      KOPIA_BEFORE_SNAPSHOT: 'sleep 120',
    });
    expect(result.exitCode, result.stdout).toBe(4);
    expect(summaryValue(result, 'FAILURE_CLASS')).toMatch(/^ActionFailed/);
    expect(result.stdout).toContain('KOPIA_BEFORE_SNAPSHOT timed out after 2s');
    expect(snapshotCount(s)).toBe(0);
  });
});
