import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { SYSTEM } from '../support/fixtures.js';

// Parsing must never start a process: any attempt fails the property loudly.
vi.mock('node:child_process', () => {
  const refuse = () => {
    throw new Error('config parsing started a process');
  };
  return { spawn: refuse, exec: refuse, execFile: refuse, execSync: refuse, execFileSync: refuse, fork: refuse, spawnSync: refuse };
});
vi.mock('execa', () => ({
  execa: () => {
    throw new Error('config parsing started a process');
  },
}));

const { parseConfig } = await import('../../src/config/parse.js');
const { ConfigError } = await import('../../src/errors.js');
const { SECRET_VARIABLES } = await import('../../src/env.js');

const VARIABLES = [
  'DIRECTION', 'DATA_DIR', 'KOPIA_CACHE_DIR', 'KOPIA_REPOSITORY', 'KOPIA_OVERRIDE_USERNAME', 'KOPIA_OVERRIDE_HOSTNAME',
  'KOPIA_OVERRIDE_MAINTENANCE_USERNAME', 'KOPIA_SOURCE_PATH_OVERRIDE', 'KOPIA_COMPRESSION', 'KOPIA_PARALLELISM',
  'KOPIA_RETAIN_HOURLY', 'KOPIA_RETAIN_DAILY', 'KOPIA_RETAIN_WEEKLY', 'KOPIA_RETAIN_MONTHLY', 'KOPIA_RETAIN_YEARLY',
  'KOPIA_RETAIN_LATEST', 'KOPIA_BEFORE_SNAPSHOT', 'KOPIA_AFTER_SNAPSHOT', 'KOPIA_RESTORE_AS_OF', 'KOPIA_SHALLOW',
  'KOPIA_PREVIOUS', 'KOPIA_ENABLE_FILE_DELETION', 'KOPIA_DISCOVER_SNAPSHOTS', 'KOPIA_RESTORE_SNAPSHOT_ID', 'KOPIA_RESTORE_ANY_SOURCE',
  'KOPIA_ADDITIONAL_ARGS', 'KOPIA_MANUAL_CONFIG',
  'KOPIA_CONFIG_PATH', 'KOPIA_GLOBAL_POLICY_FILE', 'KOPIA_REPOSITORY_CONFIG_FILE', 'CUSTOM_CA',
  'KOPIA_METADATA_CACHE_SIZE_LIMIT_MB', 'KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB', 'KOPIA_SKIP_CACHE_CONFIG',
  'KOPIA_CACHE_CAPACITY_BYTES', 'KOPIA_FORCE_CACHE_REBUILD', 'KOPIA_LOG_LEVEL', 'KOPIA_FILE_LOG_LEVEL',
  'KOPIA_LOG_DIR_MAX_FILES', 'KOPIA_LOG_DIR_MAX_AGE', 'KOPIA_S3_BUCKET', 'KOPIA_S3_ENDPOINT', 'AWS_S3_ENDPOINT',
  'AWS_ACCESS_KEY_ID', 'SFTP_HOST', 'SFTP_PORT', 'SFTP_USERNAME', 'SFTP_PATH', 'WEBDAV_URL', 'RCLONE_REMOTE_PATH',
  'KOPIA_AZURE_CONTAINER', 'KOPIA_GCS_BUCKET', 'KOPIA_B2_BUCKET', 'GOOGLE_DRIVE_FOLDER_ID', 'DEBUG_MOVER',
  'KOPIA_MOVER_STALL_SECONDS', 'KOPIA_MOVER_METRICS_PUSHGATEWAY', 'KOPIA_VERIFY_PERCENT', 'KOPIA_MAINTENANCE_VERIFY_PERCENT',
  'KOPIA_MOVER_MAX_AGE',
];

/** Values that stress parsing: plausible, hostile and random. */
const value = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', 'source', 'destination', 'maintenance', 'true', 'false', '-1', '0', '7', '1e9', 'NaN',
    '--password=x', '/data', '/restore/data', 'filesystem:///repo', 'filesystem://relative', 's3://b/p', 'a\nb',
    '2024-01-01T00:00:00Z', '2024-01-01T02:00:00+02:00', 'zstd', '{}', '{"compression":{"compressor":"zstd"}}', '[1,2]',
    '/x/../y', '\u0000', 'x'.repeat(5000), 'status', '26h', '1d12h', '7d', '100', '100.0000001', '0.5', '1e2',
    'http://gw:9091', 'https://gw/a/b?c', 'ftp://gw', 'http://', 'http://[::1', 'http://u:p@gw:9091/'),
  fc.integer().map(String),
  fc.json(),
);

/** A distinctive secret, so finding it in a message can only mean a leak. */
const secret = fc.stringMatching(/^[A-Za-z0-9]{10,30}$/).map((s) => `Zq9${s}`);

/**
 * A gateway URL whose password is a secret, well formed or not (a refused URL must not be repeated
 * in the refusal): it must reach no message and no printed config.
 */
const gatewayWithPassword = fc
  .tuple(secret, fc.constantFrom('http://pusher:%s@127.0.0.1:9091/', 'ftp://pusher:%s@gw/', 'http://pusher:%s@[::1', 'pusher:%s@gw:9091', 'https://:%s@gw/x y'))
  .map(([pw, form]) => ({ pw, url: form.replace('%s', pw) }));

const environment = fc.record({
  plain: fc.dictionary(fc.constantFrom(...VARIABLES), value, { maxKeys: 14 }),
  secrets: fc.dictionary(fc.constantFrom(...SECRET_VARIABLES), secret, { maxKeys: 5 }),
});

describe('config parser over random environments', () => {
  it('returns a config or a ConfigError naming variables, never anything else, and never leaks a secret', () => {
    fc.assert(
      fc.property(environment, ({ plain, secrets }) => {
        const env = { ...plain, ...secrets, KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG: '/nonexistent/legacy.config' };
        let outcome: unknown;
        try {
          outcome = parseConfig(env, { system: SYSTEM });
        } catch (error) {
          outcome = error;
        }
        if (outcome instanceof ConfigError) {
          expect(outcome.issues.length).toBeGreaterThan(0);
          for (const issue of outcome.issues) {
            // Issues name a variable, or a file path that a variable pointed at.
            expect(issue.source).toMatch(/^([A-Z][A-Z0-9_]*|\/.*)$/);
          }
          for (const s of Object.values(secrets)) expect(outcome.message.includes(s)).toBe(false);
        } else {
          expect(outcome).toMatchObject({ cacheDir: expect.any(String), identity: expect.any(Object) });
          // The password is held as a Secret: it prints redacted however the config is formatted.
          for (const s of Object.values(secrets)) expect(JSON.stringify(outcome).includes(s)).toBe(false);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('the metrics gateway URL over random environments', () => {
  it('holds its password as a secret: in no ConfigError message and no formatted config', () => {
    fc.assert(
      fc.property(environment, gatewayWithPassword, ({ plain, secrets }, { pw, url }) => {
        const env = { ...plain, ...secrets, KOPIA_MOVER_METRICS_PUSHGATEWAY: url, KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG: '/nonexistent/legacy.config' };
        let outcome: unknown;
        try {
          outcome = parseConfig(env, { system: SYSTEM });
        } catch (error) {
          outcome = error;
        }
        const shown = outcome instanceof Error ? outcome.message : JSON.stringify(outcome);
        expect(shown.includes(pw)).toBe(false);
      }),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 200), seed: 210021 },
    );
  });
});
