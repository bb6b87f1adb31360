import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/secret.js';
import { KopiaRunner } from '../../src/kopia/runner.js';
import { Output } from '../../src/report/output.js';
import { realKopia } from '../support/fixtures.js';

/** A stand-in for kopia (not kopia): prints the content of the file passed as --token-file. */
function printer(): string {
  const dir = mkdtempSync(join(tmpdir(), 'km-runner-'));
  const path = join(dir, 'print-token-file.sh');
  writeFileSync(path, '#!/bin/sh\nfor a in "$@"; do case "$a" in --token-file=*) cat "${a#--token-file=}";; esac; done\n');
  chmodSync(path, 0o755);
  return path;
}

/** The run's private folder, where the runner must write its secret files. */
function runDir(): string {
  return mkdtempSync(join(tmpdir(), 'km-runner-run-'));
}

describe('kopia runner temp files (with a stand-in program that prints its temp file)', () => {
  it('two commands with the same flag but different secrets each get their own file, all removed by cleanup', async () => {
    const tempDir = runDir();
    const runner = new KopiaRunner({ binary: printer(), globalFlags: [], env: { PATH: process.env['PATH'] ?? '' }, output: new Output('json', [], 2), progressIntervalMs: 0, tempDir });
    const first = await runner.run({ args: ['one'], purpose: 'first', captureStdout: true, secretFiles: [{ flag: '--token-file', content: new Secret('first-token'), purpose: 'a' }] });
    const second = await runner.run({ args: ['two'], purpose: 'second', captureStdout: true, secretFiles: [{ flag: '--token-file', content: new Secret('second-token'), purpose: 'b' }] });
    expect(first.stdout).toBe('first-token');
    expect(second.stdout).toBe('second-token');
    const paths = [...runner['files'].values()];
    expect(paths).toHaveLength(2);
    for (const p of paths) expect(dirname(p)).toBe(tempDir);
    runner.cleanup();
    for (const p of paths) expect(existsSync(p)).toBe(false);
  });

  it('the same secret file reused by later commands is written once', async () => {
    const runner = new KopiaRunner({ binary: printer(), globalFlags: [], env: { PATH: process.env['PATH'] ?? '' }, output: new Output('json', [], 2), progressIntervalMs: 0, tempDir: runDir() });
    const file = { flag: '--token-file', content: new Secret('same-token'), purpose: 'a' };
    await runner.run({ args: ['one'], purpose: 'first', captureStdout: true, secretFiles: [file] });
    const again = await runner.run({ args: ['two'], purpose: 'second', captureStdout: true, secretFiles: [file] });
    expect(again.stdout).toBe('same-token');
    expect(runner['files'].size).toBe(1);
    runner.cleanup();
  });
});

describe('kopia runner progress lines (with a stand-in program that prints progress)', () => {
  it('a held-back progress update never comes after the final line it is older than', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-progress-'));
    const program = join(dir, 'progress.sh');
    writeFileSync(program, "#!/bin/sh\nprintf ' 10%%\\r' >&2\nprintf ' 50%%\\r' >&2\nprintf ' * 100%% done\\n' >&2\n");
    chmodSync(program, 0o755);
    const logFile = join(dir, 'log.jsonl');
    const fd = openSync(logFile, 'w');
    const runner = new KopiaRunner({ binary: program, globalFlags: [], env: { PATH: process.env['PATH'] ?? '' }, output: new Output('json', [], fd), progressIntervalMs: 60_000, tempDir: dir });
    await runner.run({ args: ['snapshot', 'create'], purpose: 'progress' });
    closeSync(fd);
    const records = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; progress?: string });
    const shown = records.filter((r) => r.progress !== undefined || r.msg.includes('%')).map((r) => r.progress ?? r.msg.trim());
    expect(shown).toEqual(['10%', '50%', '* 100% done']);
  });
});

describe('kopia runner tails (the real kopia, a wrong password that is a common word)', () => {
  it('keeps kopia raw words for classification beside the redacted tail that is printed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-runner-tail-'));
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir, KOPIA_CHECK_FOR_UPDATES: 'false' };
    const flags = [`--config-file=${join(dir, 'create.config')}`, `--log-dir=${join(dir, 'logs')}`, `--cache-directory=${join(dir, 'cache')}`];
    execFileSync(realKopia, ['repository', 'create', 'filesystem', `--path=${join(dir, 'repo')}`, ...flags], { env: { ...env, KOPIA_PASSWORD: 'the-right-one' }, stdio: 'ignore' });
    const runner = new KopiaRunner({
      binary: realKopia,
      globalFlags: [`--config-file=${join(dir, 'other.config')}`, `--log-dir=${join(dir, 'logs')}`],
      env: { ...env, KOPIA_PASSWORD: 'invalid' },
      output: new Output('json', ['invalid'], 2),
      progressIntervalMs: 0,
      tempDir: runDir(),
    });
    const result = await runner.run({ args: ['repository', 'connect', 'filesystem', `--path=${join(dir, 'repo')}`], purpose: 'connect' });
    expect(result.exitCode).not.toBe(0);
    expect(result.rawTail.some((l) => l.includes('invalid repository password'))).toBe(true);
    expect(result.tail.some((l) => l.includes('invalid'))).toBe(false);
    expect(result.tail.length).toBe(result.rawTail.length);
  });
});

describe('kopia runner raw stdout lines (with a stand-in program that prints bytes)', () => {
  it('splits on 0x0A only and never decodes: invalid UTF-8, CR and a character cut between writes stay exact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'km-raw-'));
    const program = join(dir, 'bytes.sh');
    // \377 is not UTF-8; \303 then (after a pause, another write) \251 is one é cut in two.
    writeFileSync(program, "#!/bin/sh\nprintf 'k1/bad\\377name\\nk1/cr\\rx\\nk1/\\303'\nsleep 0.2\nprintf '\\251\\nk1/no-end'\n");
    chmodSync(program, 0o755);
    const runner = new KopiaRunner({ binary: program, globalFlags: [], env: { PATH: process.env['PATH'] ?? '' }, output: new Output('json', [], 2), progressIntervalMs: 0, tempDir: dir });
    const lines: Buffer[] = [];
    await runner.run({ args: ['ls'], purpose: 'raw' }, { onStdoutRawLine: (line) => lines.push(Buffer.from(line)) });
    expect(lines).toEqual([Buffer.from('k1/bad\xffname', 'latin1'), Buffer.from('k1/cr\rx'), Buffer.from('k1/é'), Buffer.from('k1/no-end')]);
  });
});
