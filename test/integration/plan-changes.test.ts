// `plan --read-repository` says what the run would change, and the run then does exactly that:
// retention lowered shows old → new and the snapshots it would expire (the backup expires those),
// a restore shows its snapshot and the files it would add, replace and remove (the restore does
// that). Without the password, or the flag, or a repository to read, the plan says what it could
// not know. The password is never in the output.
import { lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertNoSecrets, kopiaJson, runMover, scenario, tempDir, type MoverResult } from '../support/mover.js';

interface Snapshot {
  id: string;
  startTime: string;
}

const SOURCE = '/data';
/** Four backups in the past, kept by keepLatest 10; lowered to 2 the newest past one stays besides the new one. */
const START_TIMES = ['2024-03-01 10:00:00 UTC', '2024-03-01 11:00:00 UTC', '2024-03-02 10:00:00 UTC', '2024-04-01 10:00:00 UTC'];

function reportLines(result: MoverResult): string[] {
  return result.plainLines.filter((l) => l.startsWith('#   ') || l.startsWith('# what') || l.startsWith('# not known'));
}

/** Every entry below a folder, as relative paths, without following symlinks. */
function tree(root: string, relative = ''): Map<string, 'dir' | 'other'> {
  const out = new Map<string, 'dir' | 'other'>();
  for (const name of readdirSync(join(root, relative))) {
    const path = relative === '' ? name : `${relative}/${name}`;
    const isDir = lstatSync(join(root, path)).isDirectory();
    out.set(path, isDir ? 'dir' : 'other');
    if (isDir) for (const [k, v] of tree(root, path)) out.set(k, v);
  }
  return out;
}

/** The count a report line gives for a kind of change, e.g. `into /x: 2 added: a, b`. */
function counted(lines: string[], kind: string): number {
  const line = lines.find((l) => new RegExp(`: \\d+ ${kind}\\b`).test(l));
  expect(line, `no "${kind}" line in:\n${lines.join('\n')}`).toBeDefined();
  return Number(new RegExp(`: (\\d+) ${kind}\\b`).exec(line!)![1]);
}

describe('plan shows what the run would change', () => {
  const s = scenario('planchanges');
  const env = { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: SOURCE };
  const snapshots = () => kopiaJson<Snapshot[]>(s.cache, s.password, ['snapshot', 'list', '--all']);

  beforeAll(async () => {
    mkdirSync(join(s.data, 'dir'), { recursive: true });
    writeFileSync(join(s.data, 'a.txt'), 'a\n');
    writeFileSync(join(s.data, 'dir', 'b.txt'), 'b\n');
    for (const [i, startTime] of START_TIMES.entries()) {
      writeFileSync(join(s.data, 'version.txt'), `${i}\n`);
      const result = await runMover(['backup'], { ...env, KOPIA_RETAIN_LATEST: '10', KOPIA_ADDITIONAL_ARGS: `--start-time=${startTime}` });
      expect(result.exitCode, result.stdout).toBe(0);
    }
    expect(snapshots()).toHaveLength(START_TIMES.length);
  });

  it('lowered retention: old → new, and the count of snapshots that would expire, which the backup then expires', async () => {
    const lowered = { ...env, KOPIA_RETAIN_LATEST: '2' };
    const plan = await runMover(['plan', '--operation', 'backup', '--read-repository'], lowered);
    expect(plan.exitCode, plan.stdout).toBe(0);
    assertNoSecrets(plan, [s.password]);
    // The policy fields and the retention both need the repository's policies: read once.
    expect(plan.kopiaCalls.filter((a) => a[0] === 'policy' && a[1] === 'export')).toHaveLength(1);
    const lines = reportLines(plan);
    expect(lines).toContain('# what this run would change (read from the repository just now, read-only):');
    // Only the field that changes: kopia's empty sections are no fields.
    expect(lines, lines.join('\n')).toContain('#   policies (old: the repository): 1 field(s) differ');
    expect(lines).toContain(`#     planchanges@ns1:${SOURCE} retention.keepLatest: 10 → 2`);
    const summary = lines.find((l) => / would expire \d+ of the \d+ snapshot\(s\)/.test(l));
    expect(summary, lines.join('\n')).toBeDefined();
    const [, expiring, of] = / would expire (\d+) of the (\d+) /.exec(summary!)!;
    expect(Number(of)).toBe(START_TIMES.length);
    // keepLatest 2: the new snapshot and the April one; annual keeps no other 2024 snapshot, the rest is too old.
    expect(Number(expiring)).toBe(3);
    const named = lines.flatMap((l) => /^#     ([0-9a-f]{32}) /.exec(l)?.[1] ?? []);
    expect(named).toHaveLength(3);

    const before = snapshots().map((x) => x.id);
    const run = await runMover(['backup'], lowered);
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.plainLines).toContain(`NOTE: retention expired 3 older snapshots of planchanges@ns1:${SOURCE}`);
    const after = snapshots().map((x) => x.id);
    expect(before.filter((id) => !after.includes(id)).sort()).toEqual([...named].sort());
  });

  it('a restore: the chosen snapshot and the files it would add, replace and remove, as the restore then does', async () => {
    const target = tempDir('km-plan-target-');
    writeFileSync(join(target, 'a.txt'), 'changed\n');
    writeFileSync(join(target, 'extra.txt'), 'not in the snapshot\n');
    mkdirSync(join(target, 'old-dir'));
    writeFileSync(join(target, 'old-dir', 'inside.txt'), 'x\n');
    const restoreEnv = { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: SOURCE, KOPIA_ENABLE_FILE_DELETION: 'true' };
    const plan = await runMover(['plan', '--operation', 'restore', '--read-repository'], restoreEnv);
    expect(plan.exitCode, plan.stdout).toBe(0);
    assertNoSecrets(plan, [s.password]);
    const lines = reportLines(plan);
    const newest = snapshots().sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime))[0]!;
    expect(lines.some((l) => l.startsWith(`#   restore: snapshot ${newest.id} of planchanges@ns1:${SOURCE}`) && l.includes('the newest complete snapshot'))).toBe(true);
    const planned = { added: counted(lines, 'added'), replaced: counted(lines, 'replaced'), removed: counted(lines, 'removed') };

    const before = tree(target);
    const run = await runMover(['restore'], restoreEnv);
    expect(run.exitCode, run.stdout).toBe(0);
    const after = tree(target);
    const added = [...after.keys()].filter((p) => !before.has(p));
    // Deletion counts a removed folder once, with what it held.
    const removed = [...before.keys()].filter((p) => !after.has(p));
    const topRemoved = removed.filter((p) => !removed.includes(p.split('/').slice(0, -1).join('/')));
    const replaced = [...before.entries()].filter(([p, kind]) => after.has(p) && (kind === 'other' || after.get(p) === 'other'));
    expect(planned).toEqual({ added: added.length, replaced: replaced.length, removed: topRemoved.length });
    expect(planned).toEqual({ added: 3, replaced: 1, removed: 2 });
  });

  it('without the password, or without --read-repository, or with no repository to read: the commands, and what it could not know', async () => {
    const target = tempDir('km-plan-offline-');
    const restoreEnv = { ...s.env, DATA_DIR: target, KOPIA_SOURCE_PATH_OVERRIDE: SOURCE };
    const noPassword = await runMover(['plan', '--operation', 'restore', '--read-repository'], { ...restoreEnv, KOPIA_PASSWORD: undefined });
    expect(noPassword.exitCode, noPassword.stdout).toBe(0);
    expect(noPassword.kopiaCalls).toEqual([]);
    expect(noPassword.plainLines.some((l) => /^\d+\. .* snapshot restore /.test(l))).toBe(true);
    expect(reportLines(noPassword)).toContain('# not known, as no password was given (--password-file or KOPIA_PASSWORD) to read the repository with:');
    expect(reportLines(noPassword).some((l) => l.includes('the snapshot the restore would choose'))).toBe(true);

    const notAsked = await runMover(['plan', '--operation', 'backup'], { ...env, KOPIA_RETAIN_LATEST: '1' });
    expect(notAsked.exitCode, notAsked.stdout).toBe(0);
    expect(notAsked.kopiaCalls).toEqual([]);
    assertNoSecrets(notAsked, [s.password]);
    const lines = reportLines(notAsked);
    expect(lines.some((l) => l.includes('policies (old: as this cache last applied them'))).toBe(true);
    // 10 from the seeding backups, 2 once the lowered backup above ran: what this cache applied last.
    expect(lines.some((l) => new RegExp(`^# {5}planchanges@ns1:${SOURCE} retention\\.keepLatest: (10|2) → 1$`).test(l)), lines.join('\n')).toBe(true);
    expect(lines).toContain('# not known, as the plan reads the repository only when asked (--read-repository, with the password):');
    expect(lines.some((l) => l.includes(`which snapshots of planchanges@ns1:${SOURCE} retention would expire`))).toBe(true);

    // A mounted volume that holds no repository: connecting fails.
    const elsewhere = scenario('planchanges-missing');
    mkdirSync(join(elsewhere.root, 'no-repo'));
    const unreachable = await runMover(['plan', '--operation', 'restore', '--read-repository'], { ...elsewhere.env, KOPIA_PASSWORD: s.password, DATA_DIR: target, KOPIA_REPOSITORY: `filesystem://${join(elsewhere.root, 'no-repo')}` });
    expect(unreachable.exitCode, unreachable.stdout).toBe(0);
    assertNoSecrets(unreachable, [s.password]);
    expect(reportLines(unreachable).some((l) => l.startsWith('# not known, as the repository could not be read ('))).toBe(true);
  });
});
