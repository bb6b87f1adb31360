// Restore flags that would leave a restore incomplete are refused in every spelling kopia parses.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readAdditionalArgs } from '../../src/config/additional-args.js';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';
import { errorsOf, type Finding } from '../../src/findings.js';
import { ARGS_SEPARATOR, SYSTEM } from '../support/fixtures.js';

const SEED = Number(process.env['FC_SEED'] ?? 17);

function restoreIssues(args: string[]): { issues: Finding[]; passThrough: string[] } {
  const { value, findings } = readAdditionalArgs(args, 'restore');
  return { issues: errorsOf(findings), passThrough: value.passThrough };
}

/** How kopia's parser reads an integer: Go's base prefixes and a sign are all the same number. */
const goInteger = fc.oneof(
  fc.nat(64).map(String),
  fc.nat(64).map((n) => `0${n.toString(8)}`),
  fc.nat(64).map((n) => `0x${n.toString(16)}`),
  fc.nat(64).map((n) => `+${n}`),
  fc.nat(64).map((n) => `-${n}`),
);

/** Every spelling of one flag with a value: =, one element with a space, or two elements. */
const withValue = (flag: string, value: fc.Arbitrary<string>) =>
  fc.tuple(value, fc.constantFrom('=', ' ', 'pair')).map(([v, how]) => (how === 'pair' ? [flag, v] : [`${flag}${how}${v}`]));

const BOOLEAN_VALUES = fc.constantFrom('true', 'false', '1', '0', 't', 'f', 'T', 'F', 'yes', '');

/** [the arguments, the flag name the refusal must give]. */
const refused: fc.Arbitrary<[string[], string]> = fc.oneof(
  withValue('--shallow', goInteger).map((a) => [a, '--shallow'] as [string[], string]),
  fc.constant<[string[], string]>([['--shallow'], '--shallow']),
  fc.constant<[string[], string]>([['--no-shallow'], '--no-shallow']),
  withValue('--shallow-minsize', goInteger).map((a) => [a, '--shallow-minsize'] as [string[], string]),
  fc.constantFrom('--skip-existing', '--ignore-errors').map((f) => [[f], f] as [string[], string]),
  fc.tuple(fc.constantFrom('--skip-existing', '--ignore-errors', '--no-skip-existing', '--no-ignore-errors'), BOOLEAN_VALUES).map(
    ([f, v]) => [[`${f}=${v}`], f] as [string[], string],
  ),
  fc.constantFrom('files', 'directories', 'symlinks').map((t) => [[`--no-overwrite-${t}`], `--no-overwrite-${t}`] as [string[], string]),
  fc.tuple(fc.constantFrom('files', 'directories', 'symlinks'), BOOLEAN_VALUES).map(
    ([t, v]) => [[`--overwrite-${t}=${v}`], `--overwrite-${t}`] as [string[], string],
  ),
  withValue('--mode', fc.constantFrom('zip', 'zip-nocompress', 'tar', 'tgz')).map((a) => [a, '--mode'] as [string[], string]),
);

/** Restore flags that leave every entry written: they pass through unchanged. */
const allowed = fc.constantFrom<string[]>(
  ['--no-skip-existing'],
  ['--no-ignore-errors'],
  ['--overwrite-files'],
  ['--overwrite-directories'],
  ['--overwrite-symlinks'],
  ['--mode=auto'],
  ['--mode=local'],
  ['--mode', 'local'],
  ['--skip-owners'],
  ['--skip-permissions'],
  ['--skip-times'],
  ['--ignore-permission-errors'],
  ['--no-ignore-permission-errors'],
  ['--write-sparse-files'],
  ['--no-write-files-atomically'],
  ['--parallel=4'],
);

describe('restore flags that leave a restore incomplete', () => {
  it('are refused in every generated spelling, naming the variable and the flag, with what to do instead', () => {
    fc.assert(
      fc.property(refused, allowed, fc.boolean(), ([args, flag], other, before) => {
        const { issues } = restoreIssues(before ? [...other, ...args] : [...args, ...other]);
        expect(issues).toHaveLength(1);
        expect(issues[0]!.source).toBe('KOPIA_ADDITIONAL_ARGS');
        expect(issues[0]!.message).toContain(`${flag} is refused for a restore`);
        expect(issues[0]!.message).toMatch(/incomplete\. Remove it/);
      }),
      { numRuns: 400, seed: SEED },
    );
  });

  it('abbreviations and other letter cases, which kopia does not read as these flags, are refused as unknown flags', () => {
    for (const arg of ['--shal=1', '--SHALLOW=1', '--skip-exist', '--Skip-Existing', '--ignore-err']) {
      const { issues } = restoreIssues([arg]);
      expect(issues.map((i) => i.message)).toEqual([`kopia snapshot restore has no ${arg.split('=')[0]} flag`]);
    }
  });

  it('leaves flags that write every entry to kopia', () => {
    fc.assert(
      fc.property(allowed, (args) => {
        const { issues, passThrough } = restoreIssues(args);
        expect(issues).toEqual([]);
        expect(passThrough).toEqual(args);
      }),
      { numRuns: 50, seed: SEED },
    );
  });

  it('are a configuration error of the whole restore (exit 2), and no concern of a backup, which has no such flags', () => {
    const env = { KOPIA_PASSWORD: 'pw-123456', KOPIA_REPOSITORY: 'filesystem:///repo', DATA_DIR: '/data', KOPIA_ADDITIONAL_ARGS: `--parallel=2${ARGS_SEPARATOR}--shallow=1` };
    let error: unknown;
    try {
      parseConfig(env, { operation: 'restore', system: SYSTEM });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    expect((error as ConfigError).message).toMatch(/^KOPIA_ADDITIONAL_ARGS: --shallow is refused for a restore: kopia writes placeholder files/);
  });
});
