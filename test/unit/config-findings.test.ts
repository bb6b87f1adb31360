// parseConfig gathers what every reader of the environment found, as one list of findings.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';
import { ARGS_SEPARATOR, SYSTEM } from '../support/fixtures.js';

const BASE = { DIRECTION: 'maintenance', KOPIA_PASSWORD: 'pw-123456', KOPIA_REPOSITORY: 'filesystem:///repo' };

describe('findings from every reader of the environment', () => {
  it('what is given but not applied is a warning from each source, in the order the sources are read', () => {
    const config = parseConfig(
      {
        ...BASE,
        KOPIA_MANUAL_CONFIG: '{"colour": 1}',
        KOPIA_STRUCTURED_REPOSITORY_CONFIG: '{"storage": {"type": "filesystem", "config": {"path": "/r"}}, "extra": 1}',
        KOPIA_ADDITIONAL_ARGS: `--json${ARGS_SEPARATOR}--parallel=2`,
        KOPIA_RETAIN_DAYLY: '3',
      },
      { system: SYSTEM, readMounts: false },
    );
    expect(config.configWarnings).toEqual([
      { source: 'KOPIA_MANUAL_CONFIG', severity: 'warning', message: 'colour: not a create-time setting, not applied' },
      { source: 'KOPIA_STRUCTURED_REPOSITORY_CONFIG', severity: 'warning', message: 'extra: not applied' },
      { source: 'KOPIA_ADDITIONAL_ARGS', severity: 'warning', message: expect.stringMatching(/^--json left out/) },
      { source: 'KOPIA_RETAIN_DAYLY', severity: 'warning', message: expect.stringContaining('did you mean KOPIA_RETAIN_DAILY?') },
    ]);
  });

  it('every error stops the run together, warnings left out of it, each named by the flag it was typed as', () => {
    let error: unknown;
    try {
      parseConfig(
        {
          KOPIA_PASSWORD: 'pw-123456',
          KOPIA_REPOSITORY: 'filesystem:///repo',
          KOPIA_PARALLELISM: 'many',
          KOPIA_MANUAL_CONFIG: '{"colour": 1}',
          KOPIA_ADDITIONAL_ARGS: `--json${ARGS_SEPARATOR}--password=hunter2-secret`,
        },
        { operation: 'backup', system: SYSTEM, readMounts: false, inputs: { given: { KOPIA_PARALLELISM: '--parallel' } } },
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues.map((i) => i.source)).toEqual(['--parallel', 'DATA_DIR', 'KOPIA_ADDITIONAL_ARGS']);
    expect(issues.every((i) => 'severity' in i && i.severity === 'error')).toBe(true);
    expect((error as ConfigError).message).not.toContain('hunter2-secret');
    expect((error as ConfigError).message).not.toContain('colour');
  });
});
