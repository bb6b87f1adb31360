import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';
import { classifyKopiaOutput, KNOWN_FAILURES } from '../../src/kopia/failures.js';
import { KopiaRunner } from '../../src/kopia/runner.js';
import { Output } from '../../src/report/output.js';
import { systemFacts } from '../support/fixtures.js';

/**
 * Stand-in programs (not kopia): a real kopia stalls only behind a silent network, which
 * test/integration/network-faults.test.ts sets up; here the watch's rules are pinned exactly.
 */
function standIn(script: string): { program: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'km-stall-'));
  const program = join(dir, 'stand-in.sh');
  writeFileSync(program, `#!/bin/bash\n${script}\n`);
  chmodSync(program, 0o755);
  return { program, dir };
}

function runnerFor(program: string, dir: string, stallMs: number): KopiaRunner {
  return new KopiaRunner({
    binary: program,
    globalFlags: [],
    env: { PATH: process.env['PATH'] ?? '' },
    output: new Output('json', [], 2),
    progressIntervalMs: 60_000,
    tempDir: dir,
    stallMs,
    stopGraceMs: 500,
  });
}

// The same counts again and again, only the spinner turning: what kopia prints while its upload waits.
const STUCK_PROGRESS = `i=0; s='|/-\\\\'
while true; do printf ' %s 0 hashing, 3 hashed (9 MB), 0 cached (0 B), uploaded 186 B, estimating...\\r' "\${s:i%4:1}" >&2; i=$((i+1)); sleep 0.1; done`;

// Counts that grow every 100 ms for 2 s, then a clean end.
const MOVING_PROGRESS = `for i in $(seq 1 20); do printf ' | 0 hashing, %d hashed (9 MB), 0 cached (0 B), uploaded %d B, estimating...\\r' $i $((i*100)) >&2; sleep 0.1; done; echo done`;

describe('stall watch (stand-in programs for a kopia that waits on a silent network)', () => {
  it('progress lines whose counts never change stop the command within the limit, classified NetworkStalled', async () => {
    const { program, dir } = standIn(STUCK_PROGRESS);
    const started = Date.now();
    const result = await runnerFor(program, dir, 800).run({ args: ['snapshot', 'create'], purpose: 'stuck upload' });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(800);
    expect(took).toBeLessThan(5_000);
    expect(result.exitCode).not.toBe(0);
    const verdict = classifyKopiaOutput(result.rawTail, result.exitCode);
    expect(verdict.class).toBe('NetworkStalled');
    expect(verdict.retryable).toBe(true);
    expect(result.tail.at(-1)).toContain('KOPIA_MOVER_STALL_SECONDS');
  });

  it('a program that prints nothing at all is stopped too (a connect to an endpoint that never answers)', async () => {
    const { program, dir } = standIn('exec sleep 30');
    const started = Date.now();
    const result = await runnerFor(program, dir, 500).run({ args: ['repository', 'connect'], purpose: 'silent connect' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(classifyKopiaOutput(result.rawTail, result.exitCode).class).toBe('NetworkStalled');
  });

  it('counts that keep changing are progress: a run longer than the limit finishes', async () => {
    const { program, dir } = standIn(MOVING_PROGRESS);
    const result = await runnerFor(program, dir, 600).run({ args: ['snapshot', 'create'], purpose: 'moving upload' });
    expect(result.exitCode).toBe(0);
    expect(classifyKopiaOutput(result.rawTail, result.exitCode).outcome).toBe('ok');
  });

  it('a limit of 0 never stops a silent program', async () => {
    const { program, dir } = standIn('sleep 1.2; echo finished');
    const result = await runnerFor(program, dir, 0).run({ args: ['maintenance', 'run'], purpose: 'quiet maintenance' });
    expect(result.exitCode).toBe(0);
  });

  it('kopia cannot print the stall line: only the runner ends its output with it', () => {
    const kopiaWords = ['stall timeout: no progress from kopia for 300 s (KOPIA_MOVER_STALL_SECONDS), it was stopped because of x'];
    expect(classifyKopiaOutput(kopiaWords, 1).class).not.toBe('NetworkStalled');
    expect(KNOWN_FAILURES.NetworkStalled.fix).toContain('KOPIA_MOVER_STALL_SECONDS');
  });
});

describe('KOPIA_MOVER_STALL_SECONDS', () => {
  const system = systemFacts({ username: 'alice', hostname: 'host', homeDir: '/home/alice' });
  const parse = (extra: Record<string, string>) =>
    parseConfig({ KOPIA_PASSWORD: 'pw-never-printed', KOPIA_REPOSITORY: 'filesystem:///repo', DIRECTION: 'maintenance', ...extra }, { system, readMounts: false });

  it('defaults to 300 s, and takes a whole number of seconds', () => {
    expect(parse({}).output.stallMs).toBe(300_000);
    expect(parse({ KOPIA_MOVER_STALL_SECONDS: '45' }).output.stallMs).toBe(45_000);
    expect(parse({ KOPIA_MOVER_STALL_SECONDS: '0' }).output.stallMs).toBe(0);
  });

  it('rejects what is not a whole number of seconds, naming itself', () => {
    for (const bad of ['abc', '-1', '1.5', '5m', '86401']) {
      let caught: unknown;
      try {
        parse({ KOPIA_MOVER_STALL_SECONDS: bad });
      } catch (error) {
        caught = error;
      }
      expect(caught, bad).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).issues.map((i) => i.source), bad).toEqual(['KOPIA_MOVER_STALL_SECONDS']);
    }
  });
});
