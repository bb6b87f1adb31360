// Property: once a run applied retention from the mounted files, no corruption of those files
// (truncated, not JSON, wrong types, numbers out of range, empty, unreadable, a directory) makes a
// backup lose a snapshot or a setting, and the summary names the file. Real kopia, one repository.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureTestUser, kopiaJson, policyScenario, runMover } from '../support/mover.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 6);
const SEED = Number(process.env['FUZZ_SEED'] ?? 17_0304);
const USER = 'kmtest';

const GLOBAL_POLICY = JSON.stringify({ retention: { keepLatest: 20 }, compression: { compressorName: 'zstd' } }, null, 2);
const REPOSITORY_CONFIG = JSON.stringify({ uploadSpeed: 500_000_000, enableActions: false }, null, 2);
/** More than kopia's default keepLatest (10) keeps: a reset to the defaults would expire some. */
const SEED_BACKUPS = 12;

type Corruption =
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'retention'; value: string }
  | { kind: 'field'; value: string }
  | { kind: 'empty' }
  | { kind: 'unreadable' }
  | { kind: 'directory' };

/** Values of the wrong type, or numbers kopia cannot take; never null, which says "not set" on purpose. */
const badValue = fc.constantFrom('-1', '5.5', '1e309', '-1e309', '9007199254740993', '"20"', 'true', '[]', '{}', '"ten"', '-0.5');

const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(',', '}', ']', '#', '//', "'", ',,', '{') }),
  // Not `{}` (an empty retention section sets nothing, on purpose) nor a whole number (a valid
  // uploadSpeed: 7 bytes a second is a setting, not a corruption).
  fc.record({ kind: fc.constant('retention' as const), value: fc.constantFrom('"keep"', '7.5', '[1]', 'true', '-1') }),
  fc.record({ kind: fc.constant('field' as const), value: badValue }),
  fc.constant({ kind: 'empty' as const }),
  fc.constant({ kind: 'unreadable' as const }),
  fc.constant({ kind: 'directory' as const }),
);

/** The corrupted text of a file, or undefined when the corruption is not of its text. */
function corruptText(good: string, c: Corruption, field: string): string | undefined {
  switch (c.kind) {
    case 'truncate':
      return good.slice(0, c.at % good.length);
    case 'insert': {
      const at = c.at % (good.length + 1);
      return good.slice(0, at) + c.text + good.slice(at);
    }
    case 'retention':
      // The whole retention section of the wrong type (in the repository config, an unknown field next to a bad value).
      return field === 'keepLatest' ? `{"retention": ${c.value}, "compression": {"compressorName": "zstd"}}` : `{"uploadSpeed": ${c.value}, "retention": 1}`;
    case 'field':
      return field === 'keepLatest'
        ? `{"retention": {"keepLatest": ${c.value}}, "compression": {"compressorName": "zstd"}}`
        : `{"uploadSpeed": ${c.value}, "enableActions": false}`;
    case 'empty':
      return '';
    default:
      return undefined;
  }
}

describe('corrupted policy and repository config files after retention was applied', () => {
  const s = policyScenario('retprop');
  const files = { global: join(s.policyDir, 'global-policy.json'), repository: join(s.policyDir, 'repository.config') };
  const env = { ...s.env, DIRECTION: 'source', DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
  let owner: { uid: number; gid: number };
  let backups = 0;

  /** The pod runs as an unprivileged user; whatever root (these checks) leaves in the folders goes back to it. */
  const giveBack = () => execFileSync('chown', ['-R', `${owner.uid}:${owner.gid}`, s.root]);
  const snapshotCount = () => kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all']).length;
  const globalPolicy = () => {
    const policy = kopiaJson<{ retention: { keepLatest: number }; compression: { compressorName: string } }>(s.cache, s.password, ['policy', 'show', '--global']);
    return { keepLatest: policy.retention.keepLatest, compressor: policy.compression.compressorName };
  };
  const uploadThrottle = () => kopiaJson<Record<string, number>>(s.cache, s.password, ['repository', 'throttle', 'get'])['maxUploadSpeedBytesPerSecond'];
  const backup = async () => {
    writeFileSync(join(s.data, 'keep.txt'), `backup ${++backups}\n`);
    chmodSync(join(s.data, 'keep.txt'), 0o644);
    return runMover([], env, { asUser: USER });
  };

  beforeAll(async () => {
    owner = ensureTestUser(USER);
    writeFileSync(files.global, GLOBAL_POLICY);
    writeFileSync(files.repository, REPOSITORY_CONFIG);
    giveBack();
    for (let i = 0; i < SEED_BACKUPS; i++) {
      const result = await backup();
      expect(result.exitCode, result.stdout).toBe(0);
    }
    expect(snapshotCount()).toBe(SEED_BACKUPS);
    giveBack();
  });

  // Each case is one backup and two or three kopia calls that look at the repository.
  it(`never loses a snapshot or a setting, and names the file (FUZZ_RUNS=${RUNS}, FUZZ_SEED=${SEED})`, { timeout: 60_000 + RUNS * 40_000 }, async () => {
    const expected = { keepLatest: 20, compressor: 'zstd' };
    expect(globalPolicy()).toEqual(expected);
    expect(uploadThrottle()).toBe(500_000_000);
    let count = snapshotCount();
    giveBack();
    console.log(`retention property: ${RUNS} runs, seed ${SEED}`);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('global' as const, 'repository' as const), corruption, async (which, c) => {
        const file = files[which];
        const good = which === 'global' ? GLOBAL_POLICY : REPOSITORY_CONFIG;
        const text = corruptText(good, c, which === 'global' ? 'keepLatest' : 'uploadSpeed');
        const before = count;
        try {
          if (c.kind === 'directory') {
            rmSync(file);
            mkdirSync(file);
          } else {
            writeFileSync(file, text ?? good);
            if (c.kind === 'unreadable') chmodSync(file, 0o000);
          }
          giveBack();
          const result = await backup();
          const after = (count = snapshotCount());
          // A run refused before it starts (exit 2) takes no snapshot; one that goes on takes one, and
          // expires one only once keepLatest 20 says so. kopia's defaults (10) would expire several.
          expect([0, 2], result.stdout).toContain(result.exitCode);
          const least = result.exitCode === 0 ? Math.min(before + 1, 20) : before;
          expect(after, `${which} ${JSON.stringify(c)}: ${result.stdout}`).toBeGreaterThanOrEqual(least);
          expect(globalPolicy(), `${which} ${JSON.stringify(c)}`).toEqual(expected);
          if (which === 'repository') expect(uploadThrottle(), `${which} ${JSON.stringify(c)}`).toBe(500_000_000);
          const summary = result.plainLines.filter((l) => /^(POLICY_FAILURE|WARNING|FAILURE_REASON): /.test(l));
          expect(summary.some((l) => l.includes(file)), `${which} ${JSON.stringify(c)}: ${summary.join('\n')}`).toBe(true);
        } finally {
          rmSync(file, { recursive: true, force: true });
          writeFileSync(file, good);
          giveBack();
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });
});
