// Property: src/policy/retention.ts keeps and expires exactly what kopia does. Generated snapshot
// times (minutes to years apart, across month, ISO week and year boundaries) are snapshotted for
// real with kopia's --start-time, a generated retention policy is set on the source, and the
// module's reasons for each snapshot must equal the retention reasons `kopia snapshot list`
// prints, and its count of expired snapshots (some snapshots pinned) the count `kopia snapshot
// expire` (without --delete) says it would delete. `npm run fuzz` runs many more cases.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyRetention, type RetentionRules } from '../../src/policy/retention.js';
import { realKopia } from '../support/fixtures.js';
import { tempDir } from '../support/mover.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 5);
const SEED = Number(process.env['FUZZ_SEED'] ?? 21_0004);

const root = tempDir('km-retention-rules-');
const config = join(root, 'kopia.config');
const kopiaEnv = {
  PATH: process.env['PATH'],
  HOME: root,
  KOPIA_PASSWORD: 'retention-rules-password',
  KOPIA_CHECK_FOR_UPDATES: 'false',
  // kopia names weeks and steps back days in its local time zone; the mover's pods run in UTC.
  TZ: 'UTC',
};

function kopia(args: string[]): string {
  return execFileSync(realKopia, [...args, `--config-file=${config}`, `--log-dir=${join(root, 'logs')}`], { env: kopiaEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** What `kopia snapshot expire` says, on either stream (its verdict goes to stderr). */
function expireSays(dir: string): string {
  const result = spawnSync(realKopia, ['snapshot', 'expire', dir, `--config-file=${config}`, `--log-dir=${join(root, 'logs')}`], { env: kopiaEnv, encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return `${result.stdout}${result.stderr}`;
}

/** kopia's --start-time layout: `2006-01-02 15:04:05 MST`. */
function kopiaTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const HOUR = 3_600_000;
/** Gaps between snapshots at every scale retention cares about, so periods are shared and skipped alike. */
const gap = fc.oneof(
  fc.integer({ min: 1, max: 59 }).map((m) => m * 60_000),
  fc.integer({ min: 1, max: 30 }).map((h) => h * HOUR),
  fc.integer({ min: 1, max: 10 }).map((d) => d * 24 * HOUR + 17_000),
  fc.integer({ min: 1, max: 8 }).map((w) => w * 7 * 24 * HOUR - 3_000),
  fc.integer({ min: 25, max: 400 }).map((d) => d * 24 * HOUR),
);
const keep = fc.constantFrom(0, 1, 2, 3, 5);
const rules: fc.Arbitrary<Required<RetentionRules>> = fc.record({
  keepLatest: keep,
  keepHourly: keep,
  keepDaily: keep,
  keepWeekly: keep,
  keepMonthly: keep,
  keepAnnual: keep,
});
/** The newest snapshot's time: any second of 2019..2025, so boundaries of every kind come up. */
const newest = fc.integer({ min: Date.UTC(2019, 0, 1) / 1000, max: Date.UTC(2025, 11, 31) / 1000 }).map((s) => s * 1000);

interface Listed {
  id: string;
  startTime: string;
  retentionReason?: string[];
  pins?: string[];
}

describe("kopia's retention rules", () => {
  beforeAll(() => {
    kopia(['repository', 'create', 'filesystem', `--path=${join(root, 'repo')}`, `--cache-directory=${join(root, 'cache')}`]);
    // While the snapshots are made, the global policy keeps every one of them.
    kopia(['policy', 'set', '--global', '--keep-latest=1000', '--keep-hourly=0', '--keep-daily=0', '--keep-weekly=0', '--keep-monthly=0', '--keep-annual=0']);
  });

  it(`expire the same snapshots, for the same reasons (FUZZ_RUNS=${RUNS}, FUZZ_SEED=${SEED})`, { timeout: 60_000 + RUNS * 30_000 }, async () => {
    let source = 0;
    await fc.assert(
      fc.property(newest, fc.array(gap, { minLength: 1, maxLength: 9 }), rules, fc.array(fc.nat(9), { maxLength: 2 }), (last, gaps, policy, pinned) => {
        const dir = join(root, `source-${++source}`);
        mkdirSync(dir);
        writeFileSync(join(dir, 'file'), `${source}\n`);
        let at = last;
        const times = [at, ...gaps.map((g) => (at -= g))].reverse();
        for (const t of times) kopia(['snapshot', 'create', dir, `--start-time=${kopiaTime(t)}`]);
        kopia(['policy', 'set', dir, ...Object.entries(policy).map(([k, v]) => `--${k.replace('keep', 'keep-').toLowerCase()}=${v}`)]);
        const unpinned = JSON.parse(kopia(['snapshot', 'list', dir, '--json'])) as Listed[];
        // A pinned snapshot never expires, whatever its reasons.
        const pins = [...new Set(pinned.filter((i) => i < unpinned.length).map((i) => unpinned[i]!.id))];
        if (pins.length > 0) kopia(['snapshot', 'pin', ...pins, '--add=kept-by-hand']);
        const listed = JSON.parse(kopia(['snapshot', 'list', dir, '--json'])) as Listed[];
        expect(listed).toHaveLength(times.length);
        expect(listed.filter((l) => (l.pins ?? []).length > 0)).toHaveLength(pins.length);
        const ours = applyRetention(listed, policy);
        const theirs = new Map(listed.map((s) => [s.id, [...(s.retentionReason ?? [])].sort()]));
        for (const v of ours) expect([...v.reasons].sort(), `${v.snapshot.startTime} under ${JSON.stringify(policy)}`).toEqual(theirs.get(v.snapshot.id));
        const said = expireSays(dir);
        const count = /(\d+) snapshot\(s\) of .* would be deleted/.exec(said)?.[1] ?? (/Nothing to delete/.test(said) ? '0' : undefined);
        expect(count, said).toBe(String(ours.filter((v) => v.expires).length));
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });
});
