// The runner's word on a kopia process that ended with a non-zero exit: a warning, unless the
// caller said it expected that outcome (a first connect that finds no repository yet). Real kopia,
// connecting to a filesystem repository that does not exist.
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KopiaRunner, type RunOptions } from '../../src/kopia/runner.js';
import { Output } from '../../src/report/output.js';
import { realKopia } from '../support/fixtures.js';

async function connectToNothing(options: RunOptions): Promise<{ exitCode: number; records: { level: number; msg: string }[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'km-expected-exit-'));
  const logFile = join(dir, 'log.jsonl');
  const fd = openSync(logFile, 'w');
  const runner = new KopiaRunner({
    binary: realKopia,
    globalFlags: [`--config-file=${join(dir, 'kopia.config')}`, `--log-dir=${join(dir, 'logs')}`],
    env: { PATH: process.env['PATH'] ?? '', HOME: dir, KOPIA_PASSWORD: 'a password for nothing', KOPIA_CHECK_FOR_UPDATES: 'false' },
    output: new Output('json', [], fd),
    progressIntervalMs: 0,
    tempDir: dir,
  });
  const command = { args: ['repository', 'connect', 'filesystem', `--path=${join(dir, 'no-repository')}`, '--no-persist-credentials'], purpose: 'connect to nothing' };
  const result = await runner.run(command, options);
  closeSync(fd);
  const records = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: number; msg: string });
  return { exitCode: result.exitCode, records };
}

describe('kopia runner, a non-zero exit', () => {
  it('is a warning naming the exit code when the caller expected nothing', async () => {
    const { exitCode, records } = await connectToNothing({});
    expect(exitCode).toBe(1);
    expect(records.filter((r) => r.level === 40).map((r) => r.msg)).toEqual(['connect to nothing: kopia ended with exit code 1']);
  });

  it('is the caller\'s info line, and no warning, when the caller expected it', async () => {
    const { exitCode, records } = await connectToNothing({ expected: (result) => (result.rawTail.some((l) => /no such file or directory/.test(l)) ? 'no repository yet: creating it' : undefined) });
    expect(exitCode).toBe(1);
    expect(records.filter((r) => r.level === 40)).toEqual([]);
    expect(records.filter((r) => r.level === 30).map((r) => r.msg)).toContain('no repository yet: creating it');
  });
});
