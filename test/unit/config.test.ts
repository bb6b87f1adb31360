import { describe, expect, it } from 'vitest';
import { parseConfig, type MoverConfig } from '../../src/config/parse.js';
import type { Operation } from '../../src/config/types.js';
import { ConfigError, type ConfigIssue } from '../../src/errors.js';
import { systemFacts } from '../support/fixtures.js';

const SYSTEM = systemFacts({ username: 'alice', hostname: 'Laptop.Example.com', homeDir: '/home/alice' });

const PASSWORD = 'Pa55-word-never-printed';
const BASE = { KOPIA_PASSWORD: PASSWORD, KOPIA_REPOSITORY: 'filesystem:///repo' };

type Env = Record<string, string | undefined>;

function parse(env: Env, operation?: Operation) {
  // readMounts false: the legacy /credentials file and CUSTOM_CA must not depend on this machine.
  return parseConfig(env, { system: SYSTEM, readMounts: false, operation });
}

function parseAs<O extends MoverConfig['operation']>(operation: O, env: Env): Extract<MoverConfig, { operation: O }> {
  const config = parse(env);
  if (config.operation !== operation) throw new Error(`expected a ${operation} config, got ${config.operation}`);
  return config as Extract<MoverConfig, { operation: O }>;
}

function configError(env: Env): ConfigError {
  try {
    parse(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function issues(env: Env): ConfigIssue[] {
  return configError(env).issues;
}

function sources(env: Env): string[] {
  return issues(env).map((i) => i.source);
}

describe('DIRECTION', () => {
  it('source with DATA_DIR is a backup of that directory', () => {
    const config = parseAs('backup', { ...BASE, DIRECTION: 'source', DATA_DIR: '/data' });
    expect(config.operation).toBe('backup');
    expect(config.dataDir).toBe('/data');
    expect(config.sourcePath).toBe('/data');
    expect(config.storage?.backend).toBe('filesystem');
    expect(config.storage?.args).toEqual(['filesystem', '--path=/repo']);
  });

  it('destination with DATA_DIR is a restore', () => {
    const config = parseAs('restore', { ...BASE, DIRECTION: 'destination', DATA_DIR: '/restore/data' });
    expect(config.operation).toBe('restore');
    expect(config.dataDir).toBe('/restore/data');
  });

  it('maintenance needs no DATA_DIR', () => {
    const config = parse({ ...BASE, DIRECTION: 'maintenance' });
    expect(config.operation).toBe('maintenance');
    expect('dataDir' in config).toBe(false);
  });

  it('source and destination without DATA_DIR name DATA_DIR', () => {
    expect(sources({ ...BASE, DIRECTION: 'source' })).toEqual(['DATA_DIR']);
    expect(sources({ ...BASE, DIRECTION: 'destination' })).toEqual(['DATA_DIR']);
  });

  it('missing DIRECTION is an issue naming DIRECTION', () => {
    const found = issues({ ...BASE });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ source: 'DIRECTION', message: expect.stringMatching(/required/) });
  });

  it('unknown DIRECTION is an issue naming DIRECTION', () => {
    for (const direction of ['backup', 'Source', 'restore', 'sauce']) {
      expect(sources({ ...BASE, DIRECTION: direction, DATA_DIR: '/data' })).toEqual(['DIRECTION']);
    }
  });

  it('a subcommand operation wins over a missing DIRECTION', () => {
    expect(parse({ ...BASE }, 'maintenance').operation).toBe('maintenance');
  });
});

describe('empty values count as unset', () => {
  it('an empty or blank DIRECTION reads as missing, not unknown', () => {
    for (const direction of ['', '   ']) {
      const found = issues({ ...BASE, DIRECTION: direction });
      expect(found.map((i) => i.source)).toEqual(['DIRECTION']);
      expect(found[0]?.message).toMatch(/required/);
    }
  });

  it('an empty numeric variable is not validated and takes its default', () => {
    const config = parse({
      ...BASE,
      DIRECTION: 'destination',
      DATA_DIR: '/restore/data',
      KOPIA_PARALLELISM: '',
      KOPIA_PREVIOUS: '',
      KOPIA_LOG_DIR_MAX_FILES: ' ',
    });
    if (config.operation !== 'restore') throw new Error('expected a restore config');
    expect(config.parallelism).toBeUndefined();
    expect(config.restore.previous).toBe(0);
    expect(config.kopiaLogging.maxFiles).toBe(3);
  });

  it('an empty KOPIA_PASSWORD is reported as required', () => {
    expect(sources({ ...BASE, DIRECTION: 'maintenance', KOPIA_PASSWORD: '' })).toEqual(['KOPIA_PASSWORD']);
  });

  it('an empty DATA_DIR is reported as required', () => {
    expect(sources({ ...BASE, DIRECTION: 'source', DATA_DIR: '' })).toEqual(['DATA_DIR']);
  });
});

describe('numeric variables', () => {
  const NUMERIC = [
    'KOPIA_PARALLELISM',
    'KOPIA_RETAIN_HOURLY',
    'KOPIA_RETAIN_DAILY',
    'KOPIA_RETAIN_WEEKLY',
    'KOPIA_RETAIN_MONTHLY',
    'KOPIA_RETAIN_YEARLY',
    'KOPIA_RETAIN_LATEST',
    'KOPIA_ACTION_TIMEOUT_SECONDS',
    'KOPIA_SHALLOW',
    'KOPIA_PREVIOUS',
    'KOPIA_METADATA_CACHE_SIZE_LIMIT_MB',
    'KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB',
    'KOPIA_CACHE_CAPACITY_BYTES',
    'KOPIA_LOG_DIR_MAX_FILES',
    'KOPIA_CONTENT_LOG_DIR_MAX_FILES',
    'KOPIA_MOVER_PROGRESS_INTERVAL_SECONDS',
  ];

  for (const name of NUMERIC) {
    it(`${name} rejects non-numbers, negatives and fractions, naming itself`, () => {
      for (const bad of ['abc', '-1', '1.5', '3x', '0x10', '1e3']) {
        const found = issues({ ...BASE, DIRECTION: 'maintenance', [name]: bad });
        expect(found.map((i) => i.source), `${name}=${bad}`).toEqual([name]);
      }
    });

    it(`${name} accepts a whole number`, () => {
      expect(() => parse({ ...BASE, DIRECTION: 'maintenance', [name]: '7' })).not.toThrow();
    });
  }

  it('parsed numbers land in the config as numbers', () => {
    const config = parse({
      ...BASE,
      DIRECTION: 'source',
      DATA_DIR: '/data',
      KOPIA_PARALLELISM: ' 8 ',
      KOPIA_RETAIN_YEARLY: '2',
      KOPIA_ACTION_TIMEOUT_SECONDS: '30',
    });
    if (config.operation !== 'backup') throw new Error('expected a backup config');
    expect(config.parallelism).toBe(8);
    expect(config.backup.retention.yearly).toBe(2);
    expect(config.backup.actionTimeoutMs).toBe(30_000);
  });

  it('KOPIA_PARALLELISM rejects 0, below its minimum', () => {
    expect(sources({ ...BASE, DIRECTION: 'maintenance', KOPIA_PARALLELISM: '0' })).toEqual(['KOPIA_PARALLELISM']);
  });
});

describe('KOPIA_RESTORE_AS_OF', () => {
  const restore = { ...BASE, DIRECTION: 'destination', DATA_DIR: '/restore/data' };
  // Rejections are checked under maintenance, where no other variable is required.
  const other = { ...BASE, DIRECTION: 'maintenance' };

  it('rejects a timestamp without a zone', () => {
    expect(sources({ ...other, KOPIA_RESTORE_AS_OF: '2024-01-31T23:00:00' })).toEqual(['KOPIA_RESTORE_AS_OF']);
  });

  it('rejects text that is not a timestamp', () => {
    expect(sources({ ...other, KOPIA_RESTORE_AS_OF: 'yesterday' })).toEqual(['KOPIA_RESTORE_AS_OF']);
    expect(sources({ ...other, KOPIA_RESTORE_AS_OF: '2024-01-31' })).toEqual(['KOPIA_RESTORE_AS_OF']);
  });

  it('parses a +02:00 offset to the instant it denotes', () => {
    const config = parseAs('restore', { ...restore, KOPIA_RESTORE_AS_OF: '2024-02-01T01:00:00+02:00' });
    expect(config.restore.asOf?.getTime()).toBe(Date.UTC(2024, 0, 31, 23, 0, 0));
  });

  it('parses a Z timestamp with fractional seconds', () => {
    const config = parseAs('restore', { ...restore, KOPIA_RESTORE_AS_OF: '2024-01-31T23:00:00.250Z' });
    expect(config.restore.asOf?.toISOString()).toBe('2024-01-31T23:00:00.250Z');
  });
});

describe('identity overrides', () => {
  const backup = { ...BASE, DIRECTION: 'source', DATA_DIR: '/data' };
  // Rejections are checked under maintenance, where no other variable is required.
  const other = { ...BASE, DIRECTION: 'maintenance' };

  for (const name of ['KOPIA_OVERRIDE_USERNAME', 'KOPIA_OVERRIDE_HOSTNAME']) {
    it(`${name} rejects a value that would read as a flag`, () => {
      expect(new Set(sources({ ...other, [name]: '--password=x' }))).toEqual(new Set([name]));
    });

    it(`${name} rejects an embedded newline`, () => {
      expect(new Set(sources({ ...other, [name]: 'app\nEXIT_CODE: 0' }))).toEqual(new Set([name]));
    });

    it(`${name} rejects an embedded space`, () => {
      expect(new Set(sources({ ...other, [name]: 'my app' }))).toEqual(new Set([name]));
    });
  }

  it('accepted overrides become the snapshot owner', () => {
    const config = parse({ ...backup, KOPIA_OVERRIDE_USERNAME: 'app-data', KOPIA_OVERRIDE_HOSTNAME: 'ns.cluster-1' });
    expect(config.identity).toEqual({ username: 'app-data', hostname: 'ns.cluster-1' });
  });

  it('without overrides the owner comes from the machine, host lower-cased without its domain', () => {
    expect(parse(backup).identity).toEqual({ username: 'alice', hostname: 'laptop' });
  });
});

describe('KOPIA_OVERRIDE_MAINTENANCE_USERNAME', () => {
  const maintenance = { ...BASE, DIRECTION: 'maintenance' };

  it('defaults to maintenance@volsync', () => {
    expect(parse(maintenance).maintenanceIdentity).toEqual({ username: 'maintenance', hostname: 'volsync' });
  });

  it('a bare user gets the volsync host', () => {
    const config = parse({ ...maintenance, KOPIA_OVERRIDE_MAINTENANCE_USERNAME: 'ops' });
    expect(config.maintenanceIdentity).toEqual({ username: 'ops', hostname: 'volsync' });
  });

  it('user@host is taken as both parts', () => {
    const config = parse({ ...maintenance, KOPIA_OVERRIDE_MAINTENANCE_USERNAME: 'ops@site' });
    expect(config.maintenanceIdentity).toEqual({ username: 'ops', hostname: 'site' });
  });

  it('rejects two @ signs, an empty host and a flag-like user', () => {
    for (const bad of ['a@b@c', 'ops@', '--owner=x', 'o ps']) {
      expect(sources({ ...maintenance, KOPIA_OVERRIDE_MAINTENANCE_USERNAME: bad }), bad).toEqual([
        'KOPIA_OVERRIDE_MAINTENANCE_USERNAME',
      ]);
    }
  });
});

describe('restore source path', () => {
  const restore = { ...BASE, DIRECTION: 'destination' };

  it('KOPIA_SOURCE_PATH_OVERRIDE wins over DATA_DIR', () => {
    const config = parseAs('restore', { ...restore, DATA_DIR: '/restore/data', KOPIA_SOURCE_PATH_OVERRIDE: '/srv/app' });
    expect(config.sourcePath).toBe('/srv/app');
  });

  it('DATA_DIR /restore/data looks up snapshots of /data', () => {
    expect(parseAs('restore', { ...restore, DATA_DIR: '/restore/data' }).sourcePath).toBe('/data');
  });

  it('any other DATA_DIR is looked up as itself', () => {
    expect(parseAs('restore', { ...restore, DATA_DIR: '/mnt/volume' }).sourcePath).toBe('/mnt/volume');
  });

  it('a backup of /restore/data is recorded under that path, not /data', () => {
    expect(parseAs('backup', { ...BASE, DIRECTION: 'source', DATA_DIR: '/restore/data' }).sourcePath).toBe('/restore/data');
  });

  it('a relative or .. override is rejected', () => {
    const other = { ...BASE, DIRECTION: 'maintenance' };
    expect(sources({ ...other, KOPIA_SOURCE_PATH_OVERRIDE: 'data' })).toEqual(['KOPIA_SOURCE_PATH_OVERRIDE']);
    expect(sources({ ...other, KOPIA_SOURCE_PATH_OVERRIDE: '/data/../etc' })).toEqual(['KOPIA_SOURCE_PATH_OVERRIDE']);
  });
});

describe('filesystem repository URL', () => {
  const maintenance = { KOPIA_PASSWORD: PASSWORD, DIRECTION: 'maintenance' };

  it('a relative path is rejected naming KOPIA_REPOSITORY', () => {
    const found = issues({ ...maintenance, KOPIA_REPOSITORY: 'filesystem://relative/repo' });
    expect(found.map((i) => i.source)).toEqual(['KOPIA_REPOSITORY']);
    expect(found[0]?.message).toMatch(/absolute/);
  });

  it('a .. segment is rejected naming KOPIA_REPOSITORY', () => {
    const found = issues({ ...maintenance, KOPIA_REPOSITORY: 'filesystem:///repo/../etc' });
    expect(found.map((i) => i.source)).toEqual(['KOPIA_REPOSITORY']);
    expect(found[0]?.message).toMatch(/\.\./);
  });

  it('a name that merely contains dots is fine and the path is normalised', () => {
    const config = parse({ ...maintenance, KOPIA_REPOSITORY: 'filesystem:///backups//..repo/' });
    expect(config.storage?.args).toEqual(['filesystem', '--path=/backups/..repo']);
  });

  it('an unknown scheme is rejected naming KOPIA_REPOSITORY', () => {
    expect(sources({ ...maintenance, KOPIA_REPOSITORY: 'ftp://host/repo' })).toEqual(['KOPIA_REPOSITORY']);
  });

  it('no repository at all is rejected naming KOPIA_REPOSITORY', () => {
    expect(sources(maintenance)).toEqual(['KOPIA_REPOSITORY']);
  });

  it('an upper-case filesystem scheme is accepted', () => {
    const config = parse({ DIRECTION: 'maintenance', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'FILESYSTEM:///r' });
    expect(config.storage?.args).toEqual(['filesystem', '--path=/r']);
  });
});

describe('several problems', () => {
  it('are all reported in one ConfigError, not just the first', () => {
    const error = configError({
      DIRECTION: 'sideways',
      KOPIA_REPOSITORY: 'filesystem://relative',
      KOPIA_SHALLOW: 'many',
      KOPIA_RESTORE_AS_OF: '2024-01-01 10:00',
      KOPIA_COMPRESSION: 'brotli',
      KOPIA_ADDITIONAL_ARGS: '--password=x',
    });
    expect(new Set(error.issues.map((i) => i.source))).toEqual(
      new Set([
        'DIRECTION',
        'KOPIA_PASSWORD',
        'KOPIA_REPOSITORY',
        'KOPIA_SHALLOW',
        'KOPIA_RESTORE_AS_OF',
        'KOPIA_COMPRESSION',
        'KOPIA_ADDITIONAL_ARGS',
      ]),
    );
    // The message lists them too, so a log line alone tells the operator everything.
    for (const issue of error.issues) expect(error.message).toContain(issue.source);
    expect(error.exitCode).toBe(2);
  });

  it('one invalid value does not invent a missing DATA_DIR', () => {
    const found = issues({ DIRECTION: 'source', DATA_DIR: '/data', KOPIA_PASSWORD: 'pw', KOPIA_REPOSITORY: 'filesystem:///r', KOPIA_PARALLELISM: 'abc' });
    expect(found.map((i) => i.source)).toEqual(['KOPIA_PARALLELISM']);
  });

  it('one invalid value does not hide a bad maintenance identity', () => {
    const found = issues({
      DIRECTION: 'maintenance',
      KOPIA_PASSWORD: 'pw',
      KOPIA_REPOSITORY: 'filesystem:///r',
      KOPIA_PARALLELISM: 'abc',
      KOPIA_OVERRIDE_MAINTENANCE_USERNAME: 'a b',
    });
    expect(found.map((i) => i.source).sort()).toEqual(['KOPIA_OVERRIDE_MAINTENANCE_USERNAME', 'KOPIA_PARALLELISM']);
  });
});

describe('secrets in errors', () => {
  it('KOPIA_PASSWORD never appears in an error, whatever else is invalid', () => {
    const error = configError({
      KOPIA_PASSWORD: PASSWORD,
      DIRECTION: PASSWORD,
      DATA_DIR: PASSWORD,
      KOPIA_CACHE_DIR: PASSWORD,
      KOPIA_REPOSITORY: `filesystem://${PASSWORD}`,
      KOPIA_OVERRIDE_USERNAME: `-${PASSWORD}`,
      KOPIA_OVERRIDE_MAINTENANCE_USERNAME: `${PASSWORD}@@`,
      KOPIA_PARALLELISM: PASSWORD,
      KOPIA_RESTORE_AS_OF: PASSWORD,
      KOPIA_COMPRESSION: PASSWORD,
      KOPIA_LOG_LEVEL: PASSWORD,
      KOPIA_LOG_DIR_MAX_AGE: PASSWORD,
      KOPIA_ENABLE_FILE_DELETION: PASSWORD,
      KOPIA_ADDITIONAL_ARGS: `--password=${PASSWORD}|VOLSYNC_ARG_SEP|-p${PASSWORD}`,
    });
    expect(error.issues.length).toBeGreaterThan(3);
    expect(error.message).not.toContain(PASSWORD);
    expect(JSON.stringify(error.issues)).not.toContain(PASSWORD);
  });

  it('an over-long KOPIA_PASSWORD is rejected without quoting it', () => {
    const long = `${PASSWORD}${'x'.repeat(5000)}`;
    const error = configError({ ...BASE, KOPIA_PASSWORD: long, DIRECTION: 'maintenance' });
    expect(error.issues.map((i) => i.source)).toEqual(['KOPIA_PASSWORD']);
    expect(error.message).not.toContain(PASSWORD);
  });

  it('the parsed config does not print the password', () => {
    const config = parse({ ...BASE, DIRECTION: 'maintenance' });
    expect(config.password.reveal()).toBe(PASSWORD);
    expect(JSON.stringify(config)).not.toContain(PASSWORD);
    expect(`${config.password}`).not.toContain(PASSWORD);
  });
});

describe('KOPIA_CONFIG_PATH', () => {
  it('is accepted as the policy mount directory', () => {
    const config = parse({
      ...BASE,
      DIRECTION: 'source',
      DATA_DIR: '/data',
      KOPIA_CONFIG_PATH: '/kopia-config',
      KOPIA_GLOBAL_POLICY_FILE: '/kopia-config/global-policy.json',
    });
    expect(config.files.configPath).toBe('/kopia-config');
    expect(config.files.globalPolicyFile).toBe('/kopia-config/global-policy.json');
    // It is a mount directory for us, never kopia's config file.
    expect(config.cacheDir).not.toBe('/kopia-config');
  });

  it('must be absolute', () => {
    expect(sources({ ...BASE, DIRECTION: 'maintenance', KOPIA_CONFIG_PATH: 'kopia-config' })).toEqual([
      'KOPIA_CONFIG_PATH',
    ]);
  });
});
