// Retention is never lost by accident: an input that cannot be read keeps what it applied last,
// a flag a person leaves out keeps what the last local run applied, and lowering it is said.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kopiaJson, policyScenario, runMover, type MoverResult } from '../support/mover.js';

type Scenario = ReturnType<typeof policyScenario>;

function snapshots(s: Scenario): number {
  return kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all']).length;
}

function globalRetention(s: Scenario, cache = s.cache): Record<string, number> {
  return kopiaJson<{ retention: Record<string, number> }>(cache, s.password, ['policy', 'show', '--global']).retention;
}

function pathRetention(s: Scenario): Record<string, number> {
  const target = `${s.env['KOPIA_OVERRIDE_USERNAME']}@ns1:${s.data}`;
  return kopiaJson<{ retention: Record<string, number> }>(s.cache, s.password, ['policy', 'show', target]).retention;
}

function pathCompression(s: Scenario): string {
  const target = `${s.env['KOPIA_OVERRIDE_USERNAME']}@ns1:${s.data}`;
  return kopiaJson<{ compression: { compressorName: string } }>(s.cache, s.password, ['policy', 'show', target]).compression.compressorName;
}

function lines(result: MoverResult, label: string): string[] {
  return result.plainLines.filter((l) => l.startsWith(`${label}: `));
}

/** `count` backups, each of changed content, all expected to succeed. */
async function backups(count: number, args: string[], env: Record<string, string | undefined>, s: Scenario): Promise<void> {
  for (let i = 0; i < count; i++) {
    writeFileSync(join(s.data, 'keep.txt'), `${i} ${Math.random()}\n`);
    const result = await runMover(args, env);
    expect(result.exitCode, result.stdout).toBe(0);
  }
}

describe('a policy file that cannot be read keeps the last applied retention', () => {
  it('a trailing comma after 13 backups with keepLatest 20 expires nothing, and the summary names the file', async () => {
    const s = policyScenario('comma');
    const file = join(s.policyDir, 'global-policy.json');
    writeFileSync(file, JSON.stringify({ retention: { keepLatest: 20 } }));
    const env = { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
    await backups(13, [], env, s);
    expect(snapshots(s)).toBe(13);

    writeFileSync(file, '{\n  "retention": {\n    "keepLatest": 20,\n  }\n}\n');
    const broken = await runMover([], env);
    expect(broken.exitCode, broken.stdout).toBe(0);
    expect(snapshots(s)).toBe(14);
    expect(globalRetention(s).keepLatest).toBe(20);
    const failure = lines(broken, 'POLICY_FAILURE').join('\n');
    expect(failure).toContain(file);
    expect(failure).toContain('kept the last applied values');
    expect(failure).toMatch(/line 4 column 3/);
    expect(broken.plainLines.some((l) => l.startsWith('NOTE: retention expired'))).toBe(false);
  });

  it('an invalid value of keepLatest is a summary warning naming file and field, and keepLatest stays 20; a lower value on purpose warns', async () => {
    const s = policyScenario('badvalue');
    const file = join(s.policyDir, 'global-policy.json');
    writeFileSync(file, JSON.stringify({ retention: { keepLatest: 20, keepDaily: 9 } }));
    const env = { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
    await backups(1, [], env, s);
    for (const bad of ['-1', '5.5', '"twenty"']) {
      writeFileSync(file, `{"retention": {"keepLatest": ${bad}, "keepDaily": 8}}`);
      const result = await runMover([], env);
      expect(result.exitCode, result.stdout).toBe(0);
      const warning = lines(result, 'WARNING').find((l) => l.includes('retention.keepLatest')) ?? '';
      expect(warning, bad).toContain(file);
      expect(warning, bad).toContain('the last applied value stays');
      // The file's other fields still apply.
      expect(globalRetention(s), bad).toMatchObject({ keepLatest: 20, keepDaily: 8 });
    }
    // A number no JSON reader holds exactly refuses the whole file: every field keeps its last value.
    writeFileSync(file, '{"retention": {"keepLatest": 1e309, "keepDaily": 7}}');
    const huge = await runMover([], env);
    expect(huge.exitCode, huge.stdout).toBe(0);
    const failure = lines(huge, 'POLICY_FAILURE').join('\n');
    expect(failure).toContain(file);
    expect(failure).toContain('retention.keepLatest');
    expect(failure).toContain('kept the last applied values');
    expect(globalRetention(s)).toMatchObject({ keepLatest: 20, keepDaily: 8 });
    // Lowered on purpose in the file: applied, and said with the count.
    writeFileSync(file, '{"retention": {"keepLatest": 2, "keepHourly": 0, "keepDaily": 0}}');
    const lowered = await runMover([], env);
    expect(lowered.exitCode, lowered.stdout).toBe(0);
    const warning = lines(lowered, 'WARNING').find((l) => l.includes('lowered')) ?? '';
    expect(warning).toContain('keepLatest 20 → 2');
    expect(warning).toContain('keepDaily 8 → 0');
    expect(snapshots(s)).toBe(2);
    expect(warning).toContain('this backup expired 4 snapshots');
  });

  it('with no record of what the file applied (a new cache), the global policy is left as kopia holds it', async () => {
    const s = policyScenario('norecord');
    const file = join(s.policyDir, 'global-policy.json');
    writeFileSync(file, JSON.stringify({ retention: { keepLatest: 20 } }));
    const env = { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
    await backups(1, [], env, s);
    writeFileSync(file, '{"retention": {"keepLatest": 2');
    const freshCache = join(s.root, 'cache-new');
    const result = await runMover([], { ...env, KOPIA_CACHE_DIR: freshCache });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(globalRetention(s, freshCache).keepLatest).toBe(20);
    const failure = lines(result, 'POLICY_FAILURE').join('\n');
    expect(failure).toContain(file);
    expect(failure).toContain('kept the last applied values (as kopia holds them)');
  });

  it('a restore, which imports no policy, does not change what the file counts as having applied', async () => {
    const s = policyScenario('afterrestore');
    const file = join(s.policyDir, 'global-policy.json');
    writeFileSync(file, JSON.stringify({ retention: { keepLatest: 20 } }));
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
    await backups(1, [], { ...env, DIRECTION: 'source' }, s);
    writeFileSync(file, JSON.stringify({ retention: { keepLatest: 30 } }));
    const target = join(s.root, 'restored');
    const restore = await runMover([], { ...env, DIRECTION: 'destination', DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data });
    expect(restore.exitCode, restore.stdout).toBe(0);
    writeFileSync(file, '{"retention": ');
    const broken = await runMover([], { ...env, DIRECTION: 'source' });
    expect(broken.exitCode, broken.stdout).toBe(0);
    expect(globalRetention(s).keepLatest).toBe(20);
  });

  it('a repository config that cannot be parsed keeps the upload throttle it applied', async () => {
    const s = policyScenario('repoconfig');
    const file = join(s.policyDir, 'repository.config');
    writeFileSync(file, JSON.stringify({ uploadSpeed: 2_000_000 }));
    const env = { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
    await backups(1, [], env, s);
    const throttle = () => kopiaJson<Record<string, number>>(s.cache, s.password, ['repository', 'throttle', 'get'])['maxUploadSpeedBytesPerSecond'];
    expect(throttle()).toBe(2_000_000);
    writeFileSync(file, '{"uploadSpeed": 2000000,}');
    const broken = await runMover([], env);
    expect(broken.exitCode, broken.stdout).toBe(0);
    expect(throttle()).toBe(2_000_000);
    expect(lines(broken, 'POLICY_FAILURE').some((l) => l.includes(file) && l.includes('kept the last applied values'))).toBe(true);
    writeFileSync(file, '{"uploadSpeed": -5}');
    const bad = await runMover([], env);
    expect(bad.exitCode, bad.stdout).toBe(0);
    expect(throttle()).toBe(2_000_000);
    expect(lines(bad, 'WARNING').some((l) => l.includes(file) && l.includes('uploadSpeed'))).toBe(true);
  });
});

describe('flags a person types are sticky; lowering retention is said', () => {
  it('13 local backups with --keep-latest 50 --compression zstd, one without the flags: nothing expires, zstd stays; --keep-latest 5 then warns with old → new and the count', async () => {
    const s = policyScenario('sticky');
    const env = { ...s.env, DATA_DIR: s.data };
    await backups(13, ['backup', '--keep-latest', '50', '--compression', 'zstd'], env, s);
    expect(snapshots(s)).toBe(13);

    writeFileSync(join(s.data, 'keep.txt'), 'without the flag\n');
    const omitted = await runMover(['backup'], env);
    expect(omitted.exitCode, omitted.stdout).toBe(0);
    expect(snapshots(s)).toBe(14);
    expect(pathRetention(s).keepLatest).toBe(50);
    expect(pathCompression(s)).toBe('zstd');
    expect(lines(omitted, 'WARNING').some((l) => l.includes('lowered'))).toBe(false);

    writeFileSync(join(s.data, 'keep.txt'), 'fewer kept\n');
    const lowered = await runMover(['backup', '--keep-latest', '5', '--keep-hourly', '0', '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--keep-yearly', '0'], env);
    expect(lowered.exitCode, lowered.stdout).toBe(0);
    const after = snapshots(s);
    expect(after).toBe(5);
    const warning = lines(lowered, 'WARNING').find((l) => l.includes('lowered')) ?? '';
    expect(warning).toContain('keepLatest 50 → 5');
    expect(warning).toContain('keepHourly 48 → 0');
    expect(warning).toContain(`this backup expired ${15 - after} snapshots after retention was lowered`);
  });

  it('in the container contract a removed KOPIA_RETAIN_LATEST converges to the default, with the lowering warning', async () => {
    const s = policyScenario('converge-warn');
    const env = { ...s.env, DIRECTION: 'source', DATA_DIR: s.data };
    await backups(12, [], { ...env, KOPIA_RETAIN_LATEST: '30' }, s);
    writeFileSync(join(s.data, 'keep.txt'), 'removed\n');
    const removed = await runMover([], env);
    expect(removed.exitCode, removed.stdout).toBe(0);
    expect(pathRetention(s).keepLatest).toBe(10);
    const warning = lines(removed, 'WARNING').find((l) => l.includes('lowered')) ?? '';
    expect(warning).toContain('keepLatest 30 → 10');
    expect(warning).toContain(`this backup expired ${13 - snapshots(s)} snapshot`);
  });
});
