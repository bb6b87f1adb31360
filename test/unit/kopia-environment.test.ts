import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { kopiaEnvironment, secretValues } from '../../src/kopia/environment.js';
import { SYSTEM } from '../support/fixtures.js';

const PASSWORD = 'repo-password-123';

const CONTROLLER_ENV = {
  DIRECTION: 'source',
  DATA_DIR: '/data',
  KOPIA_PASSWORD: PASSWORD,
  KOPIA_REPOSITORY: 'filesystem:///repo',
  KOPIA_CACHE_DIR: '/cache',
  KOPIA_CONFIG_PATH: '/kopia-config',
  KOPIA_GLOBAL_POLICY_FILE: '/kopia-config/global-policy.json',
  KOPIA_LOG_LEVEL: 'debug',
  KOPIA_COMPRESSION: 'zstd',
  KOPIA_ADDITIONAL_ARGS: '--parallel=2',
};

const PARENT = {
  ...CONTROLLER_ENV,
  PATH: '/usr/local/bin:/usr/bin',
  HOME: '/home/u',
  TZ: 'UTC',
  // kopia would read these as flag defaults or take them as its own settings.
  KOPIA_CHECK_FOR_UPDATES: 'true',
  KOPIA_PERSIST_CREDENTIALS_ON_CONNECT: 'true',
  KOPIA_LOG_DIR: '/elsewhere',
  KOPIA_CONTENT_CACHE_SIZE_MB: '99999',
  AWS_SECRET_ACCESS_KEY: 'aws-secret-value',
  UNRELATED: 'x',
};

function build() {
  const config = parseConfig(CONTROLLER_ENV, { system: SYSTEM, readMounts: false });
  return { config, env: kopiaEnvironment(config, PARENT) };
}

describe('kopiaEnvironment', () => {
  it('never passes KOPIA_CONFIG_PATH, which kopia would read as its --config-file', () => {
    expect(build().env).not.toHaveProperty('KOPIA_CONFIG_PATH');
  });

  it('passes no KOPIA_* from the parent, only the ones it sets itself', () => {
    const names = Object.keys(build().env).filter((n) => n.startsWith('KOPIA_')).sort();
    expect(names).toEqual([
      'KOPIA_CHECK_FOR_UPDATES',
      'KOPIA_PASSWORD',
      'KOPIA_PERSIST_CREDENTIALS_ON_CONNECT',
      'KOPIA_USE_KEYRING',
    ]);
  });

  it('sets the password from the config and turns off update checks and credential persistence', () => {
    const { env } = build();
    expect(env['KOPIA_PASSWORD']).toBe(PASSWORD);
    expect(env['KOPIA_CHECK_FOR_UPDATES']).toBe('false');
    expect(env['KOPIA_PERSIST_CREDENTIALS_ON_CONNECT']).toBe('false');
  });

  it('the password comes from the parsed config, not the parent env', () => {
    const config = parseConfig(CONTROLLER_ENV, { system: SYSTEM, readMounts: false });
    const env = kopiaEnvironment(config, { ...PARENT, KOPIA_PASSWORD: 'stale-parent-value' });
    expect(env['KOPIA_PASSWORD']).toBe(PASSWORD);
  });

  it('keeps PATH, HOME and TZ but drops unrelated and other backends\' variables', () => {
    const { env } = build();
    expect(env['PATH']).toBe('/usr/local/bin:/usr/bin');
    expect(env['HOME']).toBe('/home/u');
    expect(env['TZ']).toBe('UTC');
    expect(env).not.toHaveProperty('UNRELATED');
    expect(env).not.toHaveProperty('DIRECTION');
    expect(env).not.toHaveProperty('DATA_DIR');
    expect(env).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
  });

  it('does not add an inherited variable the parent lacks', () => {
    const config = parseConfig(CONTROLLER_ENV, { system: SYSTEM, readMounts: false });
    expect(kopiaEnvironment(config, {})).not.toHaveProperty('PATH');
  });
});

describe('secretValues', () => {
  it('lists the password and set secret variables, longest first', () => {
    const config = parseConfig(CONTROLLER_ENV, { system: SYSTEM, readMounts: false });
    const values = secretValues(config, { ...PARENT, WEBDAV_PASSWORD: 'dav', SFTP_PASSWORD: '' });
    expect(values).toEqual(['repo-password-123', 'aws-secret-value']);
  });
});
