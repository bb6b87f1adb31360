// The program as a person at a terminal meets it: help and version, a path argument, a repository
// given as a path, plan without a password, problems named as they were typed, fixes that can be
// acted on, and the README's local example run as an ordinary user.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureTestUser, kopiaJson, kopiaRecorder, realKopia, repoRoot, runMover, seededScenario, summaryValue, tempDir } from '../support/mover.js';

const bin = join(repoRoot, 'bin', 'kopia-mover.js');

/** The program's output when asked for help (stdout), exit code included. */
async function help(args: string[]): Promise<{ exitCode: number; text: string }> {
  const result = await runMover(args, {});
  return { exitCode: result.exitCode, text: result.stdout };
}

describe('help and version', () => {
  it('help <command> prints that command\'s help with examples and exit codes, exit 0; help alone the root\'s', async () => {
    const backup = await help(['help', 'backup']);
    expect(backup.exitCode).toBe(0);
    expect(backup.text).toContain('Usage: kopia-mover backup [options] [path]');
    expect(backup.text).toContain('--keep-daily');
    const root = await help(['help']);
    expect(root.exitCode).toBe(0);
    expect(root.text).toContain('Usage: kopia-mover [options] [command]');
    expect(root.text).toMatch(/^\s+help \[command\]/m);
    const unknown = await runMover(['help', 'bakcup'], {});
    expect(unknown.exitCode).toBe(2);
  });

  it('every command\'s --help, and the root\'s, shows examples and exit codes', async () => {
    for (const command of [[], ['backup'], ['restore'], ['maintenance'], ['plan'], ['validate']]) {
      const shown = await help([...command, '--help']);
      expect(shown.exitCode, command.join(' ')).toBe(0);
      expect(shown.text, command.join(' ')).toMatch(/\nExamples:\n {2}(DIRECTION=\w+ )?kopia-mover /);
      expect(shown.text, command.join(' ')).toMatch(/\nExit codes:\n {2}0 /);
      expect(shown.text, command.join(' ')).toMatch(/^ {2}2 {6}\S/m);
    }
  });

  it('-v, version and --version each print the program\'s and kopia\'s versions, exit 0', async () => {
    for (const args of [['-v'], ['version'], ['--version']]) {
      const result = await runMover(args, {});
      expect(result.exitCode, args[0]).toBe(0);
      expect(result.stdout, args[0]).toMatch(/^kopia-mover \d+\.\d+\.\d+\nkopia 0\.22\.3 /);
    }
  });
});

describe('bare kopia-mover', () => {
  it('on a terminal without DIRECTION prints usage and exits 2, starting nothing; in a pod (no terminal) the summary stays', () => {
    const work = tempDir('km-tty-');
    const recorder = kopiaRecorder(work);
    const env = { PATH: process.env['PATH'], HOME: work, TMPDIR: work, KOPIA_BIN: recorder.path, KOPIA_MOVER_TERMINATION_LOG: join(work, 'termination') };
    // script gives the program a pseudo-terminal as stdout; -e returns the program's exit code.
    const tty = spawnSync('script', ['-qec', `node '${bin}'`, '/dev/null'], { env, encoding: 'utf8' });
    expect(tty.status, tty.stdout).toBe(2);
    expect(tty.stdout).toContain('Usage: kopia-mover [options] [command]');
    expect(tty.stdout).toContain('set DIRECTION');
    expect(tty.stdout).not.toContain('OPERATION_SUMMARY');
    expect(tty.stdout).not.toContain('configuration error');
    expect(recorder.calls()).toEqual([]);

    const pod = spawnSync(process.execPath, [bin], { env, encoding: 'utf8' });
    expect(pod.status).toBe(2);
    expect(pod.stdout).toContain('=== OPERATION SUMMARY ===');
    expect(pod.stdout).toContain('DIRECTION: is required');
  });
});

describe('the data directory as a path argument', () => {
  it('backup <path> and restore <path> work as --data-dir does, recorded under that path', async () => {
    const s = seededScenario('positional', 'a.txt', 'positional\n');
    const backup = await runMover(['backup', s.data], s.env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    const snapshots = kopiaJson<{ source: { path: string } }[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    expect(snapshots.map((x) => x.source.path)).toEqual([s.data]);
    const target = join(s.root, 'target');
    const restore = await runMover(['restore', '--source-path', s.data, target], s.env);
    expect(restore.exitCode, restore.stdout).toBe(0);
    expect(readdirSync(target)).toEqual(['a.txt']);
  });

  it('a path argument and a different --data-dir are a usage error naming both, before any kopia process', async () => {
    const s = seededScenario('twodirs');
    const result = await runMover(['backup', '--data-dir', s.root, s.data], s.env);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--data-dir');
    expect(result.stderr).toContain(`the path argument (${s.data})`);
    expect(result.kopiaCalls).toEqual([]);
    const same = await runMover(['backup', '--data-dir', s.data, `${s.data}/`], s.env);
    expect(same.exitCode, same.stdout).toBe(0);
  });
});

describe('--repository given as a path', () => {
  it('an absolute path is a filesystem repository, created on the first backup', async () => {
    const s = seededScenario('repopath');
    const { KOPIA_REPOSITORY: _, ...env } = s.env;
    const result = await runMover(['backup', '--repository', s.repo, '--data-dir', s.data], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(existsSync(join(s.repo, 'kopia.repository.f'))).toBe(true);
    expect(result.kopiaCalls.find((a) => a[1] === 'create')).toContain(`--path=${s.repo}`);
  });

  it('a relative path is refused naming --repository, with the filesystem URL to type instead', async () => {
    const s = seededScenario('reporel');
    const result = await runMover(['backup', '--repository', 'backups/repo', '--data-dir', s.data], s.env);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--repository: backups\/repo is neither a URL nor an absolute path: for a local repository give filesystem:\/\/\/\S+\/backups\/repo/);
    expect(result.kopiaCalls).toEqual([]);
    // `--repository=~/repo`: the shell leaves "~" as it is after "=", and it is no folder of its own.
    const tilde = await runMover(['backup', '--repository=~/kopia-repo', '--data-dir', s.data], s.env);
    expect(tilde.exitCode).toBe(2);
    expect(tilde.stderr).toContain('--repository: ~/kopia-repo: the shell did not expand "~"');
    expect(tilde.kopiaCalls).toEqual([]);
    const password = await runMover(['backup', '--password-file=~/.kopia-pw', '--data-dir', s.data], s.env);
    expect(password.exitCode).toBe(2);
    expect(password.stderr).toContain('--password-file: ~/.kopia-pw: the shell did not expand "~"');
  });
});

describe('plan without a password', () => {
  it('prints the plan with <password> in place of a password it was not given, exit 0, no kopia process', async () => {
    const s = seededScenario('planpw');
    const { KOPIA_PASSWORD: _, ...env } = s.env;
    const result = await runMover(['plan', '--operation', 'backup', '--data-dir', s.data], env);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.plainLines.some((l) => l.includes('snapshot create'))).toBe(true);
    expect(result.plainLines).toContain("# KOPIA_PASSWORD=<password> in kopia's environment (not given: the run needs --password-file or KOPIA_PASSWORD)");
    // With one, it is still never printed.
    const given = await runMover(['backup', '--dry-run', '--data-dir', s.data], s.env);
    expect(given.plainLines).toContain("# KOPIA_PASSWORD=<password> in kopia's environment (given)");
    expect(given.stdout).not.toContain(s.password);
  });

  it('a run without a password is still refused, naming the flag and the variable', async () => {
    const s = seededScenario('nopw');
    const { KOPIA_PASSWORD: _, ...env } = s.env;
    const result = await runMover(['backup', '--data-dir', s.data], env);
    expect(result.exitCode).toBe(2);
    expect(summaryValue(result, 'FAILURE_REASON')).toContain('KOPIA_PASSWORD: is required: give --password-file or set KOPIA_PASSWORD');
  });
});

describe('problems named as they were given', () => {
  it('--as-of yesterday names --as-of, never KOPIA_RESTORE_AS_OF; the same value in the variable names the variable', async () => {
    const s = seededScenario('asof');
    const flag = await runMover(['restore', '--as-of', 'yesterday', '--data-dir', join(s.root, 'target')], s.env);
    expect(flag.exitCode).toBe(2);
    const reason = summaryValue(flag, 'FAILURE_REASON') ?? '';
    expect(reason).toMatch(/^configuration error: --as-of: must be an RFC 3339 timestamp/);
    expect(flag.stdout).not.toContain('KOPIA_RESTORE_AS_OF');
    expect(flag.kopiaCalls).toEqual([]);
    const variable = await runMover(['restore', '--data-dir', join(s.root, 'target')], { ...s.env, KOPIA_RESTORE_AS_OF: 'yesterday' });
    expect(summaryValue(variable, 'FAILURE_REASON')).toMatch(/^configuration error: KOPIA_RESTORE_AS_OF: must be an RFC 3339 timestamp/);
  });

  it('a relative --data-dir is read from the current directory, and a missing one is named by the flag', async () => {
    const s = seededScenario('reldata');
    const inRoot = ['sh', '-c', 'cd "$0" && exec "$@"', s.root];
    const relative = await runMover(['backup', '--data-dir', 'data'], s.env, { wrap: inRoot });
    expect(relative.exitCode, relative.stdout).toBe(0);
    const snapshots = kopiaJson<{ source: { path: string } }[]>(s.cache, s.password, ['snapshot', 'list', '--all']);
    expect(snapshots.map((x) => x.source.path)).toEqual([s.data]);
    const missing = await runMover(['backup', '--data-dir', join(s.root, 'nothing-here')], s.env);
    expect(missing.exitCode).toBe(2);
    expect(summaryValue(missing, 'FAILURE_REASON')).toBe(`configuration error: --data-dir: directory ${join(s.root, 'nothing-here')} does not exist`);
  });

  it('validate names a value read from --env-file with its file', async () => {
    const s = seededScenario('envfilename');
    const envFile = join(s.root, 'mover.env');
    writeFileSync(envFile, `KOPIA_PASSWORD=${s.password}\nKOPIA_REPOSITORY=${s.env['KOPIA_REPOSITORY']}\nDATA_DIR=${s.data}\nKOPIA_RETAIN_DAILY=seven\n`);
    const result = await runMover(['validate', '--env-file', envFile], {});
    expect(result.exitCode).toBe(2);
    expect(result.plainLines).toContain(`ERROR   KOPIA_RETAIN_DAILY in ${envFile}: must be a whole number between 0 and 2147483647`);
    expect(result.plainLines.filter((l) => l.startsWith('ERROR'))).toHaveLength(1);
  });

  it('an empty --password-file is refused naming the file and saying it is empty', async () => {
    const s = seededScenario('emptypw');
    const { KOPIA_PASSWORD: _, ...env } = s.env;
    const file = join(s.root, 'password');
    writeFileSync(file, '\n');
    const result = await runMover(['backup', '--password-file', file, '--data-dir', s.data], env);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`--password-file: ${file} cannot be used: it is empty`);
    expect(result.stdout + result.stderr).not.toContain('is required');
    expect(result.kopiaCalls).toEqual([]);
  });
});

describe('fixes a person can act on', () => {
  it('Unknown with no kopia output does not point at kopia output (fake kopia: a silent failure a real one cannot produce on demand)', async () => {
    const s = seededScenario('silent');
    const work = tempDir('km-silent-');
    const fake = join(work, 'kopia');
    writeFileSync(fake, `#!/bin/sh\nfor a in "$@"; do [ "$a" = create ] && [ "$1" = snapshot ] && exit 1; done\nexec '${realKopia}' "$@"\n`);
    chmodSync(fake, 0o755);
    const result = await runMover(['backup', '--data-dir', s.data], { ...s.env, KOPIA_BIN: fake });
    expect(result.exitCode, result.stdout).toBe(1);
    expect(summaryValue(result, 'FAILURE_CLASS')).toBe('Unknown (retryable: yes)');
    const fix = summaryValue(result, 'FAILURE_FIX') ?? '';
    expect(fix).toContain('KOPIA_LOG_LEVEL=debug');
    expect(fix).not.toMatch(/output above|KOPIA_ERROR_OUTPUT/);
  });

  it('a wrong password names --password-file and KOPIA_PASSWORD in its fix', async () => {
    const s = seededScenario('wrongpw');
    expect((await runMover(['backup', '--data-dir', s.data], s.env)).exitCode).toBe(0);
    const result = await runMover(['backup', '--data-dir', s.data], { ...s.env, KOPIA_PASSWORD: 'not-the-password' });
    expect(result.exitCode).toBe(3);
    expect(summaryValue(result, 'FAILURE_CLASS')).toBe('AuthFailure (retryable: no)');
    expect(summaryValue(result, 'FAILURE_FIX')).toMatch(/--password-file or KOPIA_PASSWORD/);
  });
});

describe("the README's local example, as an ordinary user", () => {
  /** A fresh home owned by the test user, holding a password file and photos. */
  function home(): { dir: string; uid: number; gid: number } {
    const { uid, gid } = ensureTestUser();
    const dir = join(tempDir('km-home-'), 'home');
    mkdirSync(join(dir, 'photos'), { recursive: true });
    writeFileSync(join(dir, 'photos', 'cat.jpg'), 'not really a cat\n');
    writeFileSync(join(dir, '.kopia-pw'), 'a long password\n');
    chmodSync(join(dir, '..'), 0o755);
    for (const path of [dir, join(dir, 'photos'), join(dir, 'photos', 'cat.jpg'), join(dir, '.kopia-pw')]) chownSync(path, uid, gid);
    return { dir, uid, gid };
  }

  it('filesystem:///backups/repo, whose parent is missing, is RepositoryPath with the folder to create; ~/kopia-repo works', async () => {
    const h = home();
    const flags = ['--password-file', join(h.dir, '.kopia-pw'), '--source-path', '/photos', join(h.dir, 'photos')];
    // runuser sets HOME to the user's own; the default cache follows XDG_CACHE_HOME into this fresh home.
    const env = { XDG_CACHE_HOME: join(h.dir, '.cache') };
    const missing = await runMover(['backup', '--repository', 'filesystem:///backups/repo', ...flags], env, { asUser: 'kmtest' });
    expect(missing.exitCode, missing.stdout).toBe(3);
    expect(summaryValue(missing, 'FAILURE_CLASS')).toBe('RepositoryPath (retryable: no)');
    expect(summaryValue(missing, 'FAILURE_FIX')).toMatch(/^\/backups does not exist: create it \(mkdir -p \/backups\), or check the path in --repository or KOPIA_REPOSITORY/);
    expect(missing.kopiaCalls).toEqual([]);
    expect(existsSync('/backups')).toBe(false);

    // kopia creates the repository's own folder when its parent exists.
    const works = await runMover(['backup', '--repository', join(h.dir, 'kopia-repo'), ...flags], env, { asUser: 'kmtest' });
    expect(works.exitCode, works.stdout).toBe(0);
    expect(existsSync(join(h.dir, 'kopia-repo', 'kopia.repository.f'))).toBe(true);
    expect(readdirSync(join(h.dir, '.cache', 'kopia-mover'))).toContain('kopia.config');
  });

  it('a parent this user may not write is RepositoryPath naming it, before any kopia process', async () => {
    const h = home();
    const locked = join(h.dir, '..', 'locked');
    mkdirSync(locked, { mode: 0o755 });
    const result = await runMover(
      ['backup', '--repository', join(locked, 'repo'), '--password-file', join(h.dir, '.kopia-pw'), join(h.dir, 'photos')],
      { XDG_CACHE_HOME: join(h.dir, '.cache') },
      { asUser: 'kmtest' },
    );
    expect(result.exitCode, result.stdout).toBe(3);
    expect(summaryValue(result, 'FAILURE_CLASS')).toBe('RepositoryPath (retryable: no)');
    expect(summaryValue(result, 'FAILURE_FIX')).toContain(`${locked} is not writable for this user`);
    expect(result.kopiaCalls).toEqual([]);
    expect(readdirSync(locked)).toEqual([]);
  });
});
