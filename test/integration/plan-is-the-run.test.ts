// `plan` prints the steps a run carries out, from the same function and the same facts: the kopia
// commands it prints are, in order, the commands the run then starts (conditional ones only when
// their condition held). Compared from the argv the recording shim read from /proc.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kopiaText, runMover, scenario, type MoverResult } from '../support/mover.js';

/** The words of a line formatArgv printed: single-quoted words may hold spaces and escaped quotes. */
function words(line: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  let any = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === "'") quoted = false;
      else current += c;
    } else if (c === "'") {
      quoted = true;
      any = true;
    } else if (c === '\\' && line[i + 1] === "'") {
      current += "'";
      i++;
    } else if (c === ' ') {
      if (current !== '' || any) out.push(current);
      current = '';
      any = false;
    } else current += c;
  }
  if (current !== '' || any) out.push(current);
  return out;
}

interface Planned {
  args: string[];
  conditional: boolean;
}

/** The kopia commands of a printed plan, without the binary and with the run's own paths left out. */
function planned(result: MoverResult): Planned[] {
  return result.plainLines
    .filter((l) => /^\d+\. /.test(l))
    .map((l) => {
      const [command, condition] = l.replace(/^\d+\. /, '').split('   # only if ');
      return { args: comparable(words(command!).slice(1)), conditional: condition !== undefined };
    });
}

/** An argv with what differs between a plan and a run by nature (temp file paths, the run folder, the selected snapshot) made equal. */
function comparable(argv: string[], snapshot?: string): string[] {
  return argv.map((a) => {
    const file = /^(--(?:from-file|token-file|credentials-file|log-dir))=/.exec(a);
    if (file) return `${file[1]}=<run's own>`;
    if (snapshot !== undefined && a === snapshot) return '<selected snapshot>';
    return a;
  });
}

/** The run's commands equal the plan's, in order, with only conditional commands left out. */
function expectRunFollowsPlan(plan: Planned[], run: string[][]): void {
  let p = 0;
  for (const argv of run) {
    while (p < plan.length && JSON.stringify(plan[p]!.args) !== JSON.stringify(argv)) {
      expect(plan[p]!.conditional, `the run left out an unconditional planned command: ${plan[p]!.args.join(' ')}`).toBe(true);
      p++;
    }
    expect(p < plan.length, `the run started a command the plan does not have: ${argv.join(' ')}`).toBe(true);
    p++;
  }
  for (; p < plan.length; p++) expect(plan[p]!.conditional, `the run left out: ${plan[p]!.args.join(' ')}`).toBe(true);
}

function setup(name: string) {
  const s = scenario(name);
  mkdirSync(s.data);
  writeFileSync(join(s.data, 'a.txt'), 'a\n');
  const policyDir = join(s.root, 'kopia-config');
  mkdirSync(policyDir);
  writeFileSync(join(policyDir, 'global-policy.json'), JSON.stringify({ retention: { keepDaily: 9 }, compression: { compressor: 'zstd' } }));
  writeFileSync(join(policyDir, 'repository.config'), JSON.stringify({ uploadSpeed: 3_000_000, downloadSpeed: 4_000_000 }));
  return { ...s, policyDir };
}

describe('the plan is the run', () => {
  it('backup with an empty cache, policy files and a throttle', async () => {
    const s = setup('planbackup');
    // The repository exists; this cache has never seen it.
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_CACHE_DIR: join(s.root, 'seed-cache') })).exitCode).toBe(0);
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir, KOPIA_RETAIN_WEEKLY: '2' };
    const plan = await runMover(['plan', '--operation', 'backup'], env);
    expect(plan.exitCode, plan.stdout).toBe(0);
    expect(plan.kopiaCalls).toEqual([]);
    const run = await runMover(['backup'], env);
    expect(run.exitCode, run.stdout).toBe(0);
    const commands = planned(plan);
    expect(commands.filter((c) => !c.conditional).map((c) => c.args.slice(0, 2).join(' '))).toEqual([
      'repository connect',
      'policy import',
      'repository throttle',
      'snapshot create',
    ]);
    expectRunFollowsPlan(commands, run.kopiaCalls.map((a) => comparable(a)));
  });

  it('backup into a repository that does not exist yet: the run takes the plan\'s creation steps', async () => {
    const s = setup('plancreate');
    const env = { ...s.env, DATA_DIR: s.data, KOPIA_CONFIG_PATH: s.policyDir };
    const plan = await runMover(['plan', '--operation', 'backup'], env);
    const run = await runMover(['backup'], env);
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.kopiaCalls.map((a) => a.slice(0, 2).join(' '))).toContain('repository create');
    expectRunFollowsPlan(planned(plan), run.kopiaCalls.map((a) => comparable(a)));
  });

  it('restore with a throttle and file deletion', async () => {
    const s = setup('planrestore');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_SOURCE_PATH_OVERRIDE: '/data' })).exitCode).toBe(0);
    const target = join(s.root, 'target');
    mkdirSync(target);
    writeFileSync(join(target, 'extra.txt'), 'not in the snapshot\n');
    const env = {
      ...s.env,
      DATA_DIR: target,
      KOPIA_SOURCE_PATH_OVERRIDE: '/data',
      KOPIA_CACHE_DIR: join(s.root, 'restore-cache'),
      KOPIA_CONFIG_PATH: s.policyDir,
      KOPIA_ENABLE_FILE_DELETION: 'true',
    };
    const plan = await runMover(['plan', '--operation', 'restore'], env);
    expect(plan.exitCode, plan.stdout).toBe(0);
    const run = await runMover(['restore'], env);
    expect(run.exitCode, run.stdout).toBe(0);
    const snapshot = run.plainLines.find((l) => l.startsWith('RESTORED_SNAPSHOT_ID: '))!.slice('RESTORED_SNAPSHOT_ID: '.length);
    const commands = planned(plan);
    expect(commands.filter((c) => !c.conditional).map((c) => c.args.slice(0, 2).join(' '))).toEqual([
      'repository connect',
      'repository throttle',
      'snapshot list',
      'ls -r',
      'snapshot restore',
    ]);
    expectRunFollowsPlan(commands, run.kopiaCalls.map((a) => comparable(a, snapshot)));
  });

  it('maintenance, claiming ownership', async () => {
    const s = setup('planmaint');
    expect((await runMover(['backup'], { ...s.env, DATA_DIR: s.data })).exitCode).toBe(0);
    // The first backup left maintenance to maintenance@volsync: another client owns it now.
    kopiaText(s.cache, s.password, ['maintenance', 'set', '--owner=planmaint@ns1']);
    const env = { ...s.env, KOPIA_CACHE_DIR: join(s.root, 'maintenance-cache') };
    const plan = await runMover(['plan', '--operation', 'maintenance'], env);
    expect(plan.exitCode, plan.stdout).toBe(0);
    const run = await runMover(['maintenance'], env);
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.kopiaCalls.map((a) => a.slice(0, 2).join(' '))).toContain('maintenance set');
    expectRunFollowsPlan(planned(plan), run.kopiaCalls.map((a) => comparable(a)));
  });
});
