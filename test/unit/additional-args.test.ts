import { describe, expect, it } from 'vitest';
import { ADDITIONAL_ARGS_SEPARATOR, readAdditionalArgs, splitAdditionalArgs, repeatedFlags, withAdditionalArgs } from '../../src/config/additional-args.js';
import { parseConfig } from '../../src/config/parse.js';
import { ConfigError } from '../../src/errors.js';
import { errorsOf, type Finding } from '../../src/findings.js';
import { ARGS_SEPARATOR, SYSTEM } from '../support/fixtures.js';

const SEP = ARGS_SEPARATOR;
const VALUE = 'hunter2-secret-value';

// The contract's list, written out so a flag dropped from the source is caught.
const FORBIDDEN = [
  '--password',
  '--config-file',
  '--config',
  '--repository',
  '--cache-directory',
  '--log-dir',
  '--override-username',
  '--override-hostname',
  '--access-key',
  '--secret-access-key',
  '--session-token',
  '--storage-account',
  '--storage-key',
  '--sas-token',
  '--key-id',
  '--key',
  '--credentials-file',
  '--webdav-password',
  '--sftp-password',
  '--keyfile',
];

/** The errors the additional args of a backup give. */
function check(raw: string): Finding[] {
  return errorsOf(readAdditionalArgs(splitAdditionalArgs(raw), 'backup').findings);
}

describe('splitAdditionalArgs', () => {
  it('the separator is the exact 17-character string', () => {
    expect(ADDITIONAL_ARGS_SEPARATOR).toBe(SEP);
    expect(ADDITIONAL_ARGS_SEPARATOR).toHaveLength(17);
  });

  it('splits on the separator', () => {
    expect(splitAdditionalArgs(`--parallel=4${SEP}--force-hash=10${SEP}--tags=env:prod`)).toEqual([
      '--parallel=4',
      '--force-hash=10',
      '--tags=env:prod',
    ]);
  });

  it('does not split a value containing | or VOLSYNC alone', () => {
    expect(splitAdditionalArgs('--description=a|b')).toEqual(['--description=a|b']);
    expect(splitAdditionalArgs('--description=VOLSYNC_ARG')).toEqual(['--description=VOLSYNC_ARG']);
    expect(splitAdditionalArgs('--description=S|E|P_ARG')).toEqual(['--description=S|E|P_ARG']);
  });

  it('does not split on a separator missing one character', () => {
    expect(splitAdditionalArgs('--a=1|VOLSYNC_ARG_SEP--b=2')).toEqual(['--a=1|VOLSYNC_ARG_SEP--b=2']);
    expect(splitAdditionalArgs('--a=1VOLSYNC_ARG_SEP|--b=2')).toEqual(['--a=1VOLSYNC_ARG_SEP|--b=2']);
  });

  it('drops empty pieces and trims surrounding blanks', () => {
    expect(splitAdditionalArgs(`${SEP} --parallel=4 ${SEP}${SEP}`)).toEqual(['--parallel=4']);
  });

  it('unset gives no arguments', () => {
    expect(splitAdditionalArgs(undefined)).toEqual([]);
  });
});

describe('forbidden flags and unreadable arguments', () => {
  for (const flag of FORBIDDEN) {
    describe(flag, () => {
      const forms = {
        '--flag=value': `${flag}=${VALUE}`,
        '--flag value in one argument': `${flag} ${VALUE}`,
        '--flag then value as the next argument': `${flag}${SEP}${VALUE}`,
        'bare --flag': flag,
      };
      for (const [form, raw] of Object.entries(forms)) {
        it(`is rejected in the ${form} form without quoting the value`, () => {
          const issues = check(`--parallel=2${SEP}${raw}`);
          expect(issues).toHaveLength(1);
          expect(issues[0]?.source).toBe('KOPIA_ADDITIONAL_ARGS');
          expect(issues[0]?.message).toContain(flag);
          expect(issues[0]?.message).not.toContain(VALUE);
        });
      }
    });
  }

  it('rejects -p, kopia\'s short form of --password, in every spelling', () => {
    for (const raw of ['-p', `-p=${VALUE}`, `-p ${VALUE}`, `-p${VALUE}`, `-p${SEP}${VALUE}`]) {
      const issues = check(raw);
      expect(issues, raw).toHaveLength(1);
      expect(issues[0]?.source).toBe('KOPIA_ADDITIONAL_ARGS');
      expect(issues[0]?.message).toContain('--password');
      expect(issues[0]?.message).not.toContain(VALUE);
    }
  });

  it('reports each forbidden flag once', () => {
    const issues = check(`--password=${VALUE}${SEP}--access-key=${VALUE}${SEP}--parallel=4`);
    expect(issues.map((i) => i.message.split(' ')[0])).toEqual(['--password', '--access-key']);
  });

  it('accepts snapshot flags, also with a forbidden flag\'s name in their value', () => {
    expect(check(['--parallel=4', '--description=rotate --password weekly', '--tags=key:value'].join(SEP))).toEqual([]);
  });

  it('a flag whose name only starts like a forbidden one is refused as a flag kopia does not have, not as forbidden', () => {
    for (const arg of ['--password-hint-is-not-a-flag', '--config-ish', '--keyfile2']) {
      expect(check(arg).map((i) => i.message)).toEqual([`kopia snapshot create has no ${arg} flag`]);
    }
  });

  it('refuses a forbidden flag turned off (--no-password) instead of dropping it without a word', () => {
    expect(check('--no-password').map((i) => i.message)).toEqual(['--password is not allowed: VolSync manages it or it carries credentials']);
  });

  it('rejects an argument with a newline or control character', () => {
    const issues = check(`--description=line1\nline2`);
    expect(issues.map((i) => i.source)).toEqual(['KOPIA_ADDITIONAL_ARGS']);
    expect(issues[0]?.message).not.toContain('line1');
  });
});

describe('KOPIA_ADDITIONAL_ARGS through parseConfig', () => {
  const base = { DIRECTION: 'maintenance', KOPIA_PASSWORD: 'pw-123456', KOPIA_REPOSITORY: 'filesystem:///repo' };

  it('accepted arguments reach the config split', () => {
    const config = parseConfig(
      { ...base, KOPIA_ADDITIONAL_ARGS: `--parallel=4${SEP}--tags=a|b` },
      { system: SYSTEM, readMounts: false },
    );
    expect(config.additionalArgs).toEqual(['--parallel=4', '--tags=a|b']);
  });

  it('a forbidden flag is a ConfigError naming KOPIA_ADDITIONAL_ARGS, not quoting the value', () => {
    let error: unknown;
    try {
      parseConfig({ ...base, KOPIA_ADDITIONAL_ARGS: `--parallel=4${SEP}--secret-access-key ${VALUE}` }, { system: SYSTEM, readMounts: false });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const config = error as ConfigError;
    expect(config.issues.map((i) => i.source)).toEqual(['KOPIA_ADDITIONAL_ARGS']);
    expect(config.message).not.toContain(VALUE);
  });
});

describe('the program flags and the additional args together', () => {
  it('an additional arg that repeats a program flag replaces it, and the replacement is reported', () => {
    const own = ['snapshot', 'create', '/data', '--json', '--parallel=2'];
    const { args, replaced } = withAdditionalArgs(own, ['--parallel=4', '--tags=env:prod']);
    expect(args).toEqual(['snapshot', 'create', '/data', '--json', '--parallel=4', '--tags=env:prod']);
    expect(replaced).toEqual([{ flag: '--parallel', ours: '--parallel=2', theirs: '--parallel=4' }]);
  });

  it('--no-x replaces --x', () => {
    const { args } = withAdditionalArgs(['snapshot', 'restore', 'k1', '/d', '--flush-files'], ['--no-flush-files']);
    expect(args).toEqual(['snapshot', 'restore', 'k1', '/d', '--no-flush-files']);
  });

  it('finds flags kopia refuses to take twice, not the repeatable ones nor values', () => {
    expect(repeatedFlags(['snapshot', 'create', '--tags=a:b', '--tags=c:d', '--pin=x', '--pin=y'])).toEqual([]);
    expect(repeatedFlags(['snapshot', 'create', '--json', '--no-json', '--description', '--description'])).toEqual(['--json', '--description']);
  });
});

describe('one record per flag, read in one pass', () => {
  const read = (args: string[], operation: 'backup' | 'restore' = 'backup') => readAdditionalArgs(args, operation);

  it('a flag kopia takes is passed as written, a value given as the next argument with it', () => {
    const { value, findings } = read(['--parallel=4', '--description', 'nightly', '--fail-fast']);
    expect(findings).toEqual([]);
    expect(value.passThrough).toEqual(['--parallel=4', '--description', 'nightly', '--fail-fast']);
  });

  it('a policy flag becomes the path policy, lists adding up, in every spelling', () => {
    const { value, findings } = read(['--ignore=*.tmp', '--add-ignore', 'cache/', '--one-file-system', '--no-ignore-dir-errors', '--max-file-size 1000']);
    expect(findings).toEqual([]);
    expect(value.passThrough).toEqual([]);
    expect(value.pathPolicy).toEqual({
      files: { ignore: ['*.tmp', 'cache/'], oneFileSystem: true, maxFileSize: 1000 },
      errorHandling: { ignoreDirectoryErrors: false },
    });
  });

  it('a flag the docs show that is the mover\'s own setting is translated with a warning, its value also as the next argument', () => {
    const { value, findings } = read(['--upload-speed', '10MB', '--download-speed=1KiB', '--progress-interval', '30s']);
    expect(errorsOf(findings)).toEqual([]);
    expect(value.throttle).toEqual({ uploadBytesPerSecond: 10_000_000, downloadBytesPerSecond: 1024 });
    expect(value.progressIntervalMs).toBe(30_000);
    expect(findings.map((f) => f.message.split(' ')[0])).toEqual(['--upload-speed=10MB', '--download-speed=1KiB', '--progress-interval=30s']);
  });

  it('a flag the mover manages is refused saying what to use instead', () => {
    const { findings } = read(['--delete-extra'], 'restore');
    expect(findings).toEqual([{ source: 'KOPIA_ADDITIONAL_ARGS', severity: 'error', message: expect.stringContaining('use KOPIA_ENABLE_FILE_DELETION') }]);
  });

  it('a flag that means nothing to kopia is dropped with one warning, its value with it', () => {
    const { value, findings } = read(['--block-size', '4096', '--json']);
    expect(findings.map((f) => [f.severity, f.message.split(':')[0]])).toEqual([
      ['warning', '--block-size left out'],
      ['warning', '--json left out'],
    ]);
    expect(value.passThrough).toEqual([]);
  });

  it('a flag of the other command is one kopia does not have, and its value is not taken for it', () => {
    const restoreFlag = read(['--skip-owners'], 'backup').findings.map((f) => f.message);
    expect(restoreFlag).toEqual(['kopia snapshot create has no --skip-owners flag']);
    const policyOnRestore = read(['--ignore', '*.tmp'], 'restore').findings.map((f) => f.message);
    expect(policyOnRestore).toEqual(['kopia snapshot restore has no --ignore flag', expect.stringMatching(/^argument 2 is not a --flag/)]);
  });
});
