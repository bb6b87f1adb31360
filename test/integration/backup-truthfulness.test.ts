// A backup that left something out never reports a clean success.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureTestUser, runMover, scenario } from '../support/mover.js';

describe('backup truthfulness', () => {
  it('a permission-denied subtree is not reported as a clean success, when run as an ordinary user', async () => {
    const user = ensureTestUser();
    const s = scenario('denied');
    mkdirSync(join(s.data, 'readable'), { recursive: true });
    mkdirSync(join(s.data, 'private'));
    writeFileSync(join(s.data, 'readable', 'a.txt'), 'a');
    writeFileSync(join(s.data, 'private', 'b.txt'), 'b');
    chmodSync(s.root, 0o755);
    for (const dir of [s.root, s.data, join(s.data, 'readable')]) chownSync(dir, user.uid, user.gid);
    chownSync(join(s.data, 'readable', 'a.txt'), user.uid, user.gid);
    // Owned by root with no permissions: the ordinary user cannot list it.
    chmodSync(join(s.data, 'private'), 0o000);

    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data }, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).not.toBe(0);
    expect(result.plainLines).toContain('OPERATION_RESULT: FAILURE');
    const reason = result.plainLines.find((l) => l.startsWith('FAILURE_REASON:')) ?? '';
    expect(reason).toContain('could not read 1 entry');
    expect(reason).toContain('private');

    // The partial snapshot kopia saved is never chosen by a restore.
    const target = join(s.root, 'target');
    mkdirSync(target);
    chownSync(target, user.uid, user.gid);
    writeFileSync(join(target, 'keep.txt'), 'keep');
    const restore = await runMover(['restore'], { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: s.data, KOPIA_ENABLE_FILE_DELETION: 'true' }, { asUser: 'kmtest' });
    expect(restore.exitCode, restore.stdout).toBe(0);
    expect(restore.plainLines).toContain('No eligible snapshots found');
    expect(readdirSync(target)).toEqual(['keep.txt']);
  });

  it('unreadable entries the policy ignores: success with a warning naming the count', async () => {
    const user = ensureTestUser();
    const s = scenario('ignored');
    mkdirSync(join(s.data, 'readable'), { recursive: true });
    mkdirSync(join(s.data, 'private'));
    writeFileSync(join(s.data, 'readable', 'a.txt'), 'a');
    const policies = join(s.root, 'policies');
    mkdirSync(policies);
    writeFileSync(join(policies, 'global-policy.json'), JSON.stringify({ errorHandling: { ignoreDirectoryErrors: true } }));
    chmodSync(s.root, 0o755);
    for (const dir of [s.root, s.data, join(s.data, 'readable'), policies]) chownSync(dir, user.uid, user.gid);
    chmodSync(join(s.data, 'private'), 0o000);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: policies }, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.plainLines.some((l) => /^WARNING: kopia could not read 1 entries and ignored them/.test(l))).toBe(true);
    expect(result.plainLines).toContain('SNAPSHOT_IGNORED_ERRORS: 1');
  });

  it('a snapshot holding nothing from a non-empty source is a failure', async () => {
    const user = ensureTestUser();
    const s = scenario('nothing');
    mkdirSync(join(s.data, 'private'), { recursive: true });
    const policies = join(s.root, 'policies');
    mkdirSync(policies);
    writeFileSync(join(policies, 'global-policy.json'), JSON.stringify({ errorHandling: { ignoreDirectoryErrors: true } }));
    chmodSync(s.root, 0o755);
    for (const dir of [s.root, s.data, policies]) chownSync(dir, user.uid, user.gid);
    chmodSync(join(s.data, 'private'), 0o000);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: policies }, { asUser: 'kmtest' });
    expect(result.exitCode, result.stdout).toBe(1);
    expect(result.plainLines.find((l) => l.startsWith('FAILURE_REASON:'))).toMatch(/holds no files although .* is not empty/);
  });

  it('a snapshot holding far less than the source is reported, and a complete one is not', async () => {
    const s = scenario('farless');
    mkdirSync(s.data);
    for (let i = 0; i < 10; i++) writeFileSync(join(s.data, `kept-${i}.txt`), `kept ${i}`);
    for (let i = 0; i < 30; i++) writeFileSync(join(s.data, `skipped-${i}.bin`), randomBytes(100 * 1024));
    const complete = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(complete.exitCode, complete.stdout).toBe(0);
    expect(complete.plainLines.some((l) => l.includes('holds far less'))).toBe(false);

    const partial = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_ADDITIONAL_ARGS: '--ignore=*.bin' });
    expect(partial.exitCode, partial.stdout).toBe(0);
    const warning = partial.plainLines.find((l) => l.startsWith('WARNING: snapshot') && l.includes('holds far less')) ?? '';
    expect(warning).toContain('10 of 40 files');
  });

  it('a snapshot missing a whole ignored directory is reported with the files inside it', async () => {
    // kopia does not descend into an excluded directory, so its own counts cannot say what it held.
    const s = scenario('farless-dir');
    mkdirSync(join(s.data, 'skipped', 'deeper'), { recursive: true });
    for (let i = 0; i < 3; i++) writeFileSync(join(s.data, `kept-${i}.txt`), `kept ${i}`);
    for (let i = 0; i < 20; i++) writeFileSync(join(s.data, 'skipped', 'deeper', `f-${i}.txt`), `skipped ${i}`);
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_ADDITIONAL_ARGS: '--ignore=skipped/' });
    expect(result.exitCode, result.stdout).toBe(0);
    const warning = result.plainLines.find((l) => l.startsWith('WARNING: snapshot') && l.includes('holds far less')) ?? '';
    expect(warning).toContain('3 of 23 files');
  });
});
