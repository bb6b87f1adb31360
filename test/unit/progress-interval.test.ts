import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';
import { SYSTEM } from '../support/fixtures.js';

const base = { DIRECTION: 'source', DATA_DIR: '/data', KOPIA_PASSWORD: 'pw-123456', KOPIA_REPOSITORY: 'filesystem:///repo' };

function configWith(args: string, extra: Record<string, string> = {}) {
  return parseConfig({ ...base, ...extra, KOPIA_ADDITIONAL_ARGS: args }, { system: SYSTEM, readMounts: false });
}

function warningText(config: ReturnType<typeof configWith>): string {
  return JSON.stringify(config.configWarnings);
}

describe("--progress-interval in KOPIA_ADDITIONAL_ARGS (the docs' example reads it as files)", () => {
  it('a bare number is a progress log line every that many files, and the warning says files', () => {
    const config = configWith('--progress-interval=100');
    expect(config.output.progressEveryFiles).toBe(100);
    // The time interval stays what it was: for kopia's other progress lines.
    expect(config.output.progressIntervalMs).toBe(10_000);
    expect(warningText(config)).toContain("logs kopia's progress every 100 files");
    expect(warningText(config)).toContain('a bare number counts files');
    expect(config.additionalArgs).not.toContain('--progress-interval=100');
  });

  it('a duration with its unit stays time', () => {
    const config = configWith('--progress-interval=30s');
    expect(config.output.progressIntervalMs).toBe(30_000);
    expect(config.output.progressEveryFiles).toBeUndefined();
    expect(warningText(config)).toContain("logs kopia's progress every 30s");
    expect(configWith('--progress-interval=1m').output.progressIntervalMs).toBe(60_000);
  });

  it('a bare number no longer means seconds, whatever KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS says', () => {
    const config = configWith('--progress-interval=1000', { KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS: '5' });
    expect(config.output.progressEveryFiles).toBe(1000);
    expect(config.output.progressIntervalMs).toBe(5000);
  });

  for (const bad of ['--progress-interval=0', '--progress-interval=soon', '--progress-interval=500ms', '--progress-interval=2h', '--progress-interval']) {
    it(`${bad} is refused naming KOPIA_ADDITIONAL_ARGS and both forms`, () => {
      let error: unknown;
      try {
        configWith(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const issue = (error as ConfigError).issues.find((i) => i.message.includes('--progress-interval'));
      expect(issue?.source).toBe('KOPIA_ADDITIONAL_ARGS');
      expect(issue?.message).toContain('number of files');
      expect(issue?.message).toContain('30s');
    });
  }
});
