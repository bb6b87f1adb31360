import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARGS_SEPARATOR } from '../support/fixtures.js';
import { runMover, scenario, seededScenario } from '../support/mover.js';

/**
 * Each bad input must end with exit 2, a message naming the variable or file,
 * and no kopia process, whatever the operation.
 */
interface Case {
  name: string;
  env: Record<string, string | undefined>;
  names: string;
  operation?: string[];
}

const s = scenario('bad');
mkdirSync(s.data, { recursive: true });
writeFileSync(join(s.data, 'f'), 'x');
const oversize = join(s.root, 'big.json');
writeFileSync(oversize, '{}' + ' '.repeat(1_048_576));

const cases: Case[] = [
  { name: 'DIRECTION missing', env: { DIRECTION: undefined }, names: 'DIRECTION', operation: [] },
  { name: 'DIRECTION unknown', env: { DIRECTION: 'sideways' }, names: 'DIRECTION', operation: [] },
  { name: 'KOPIA_PASSWORD missing', env: { KOPIA_PASSWORD: undefined }, names: 'KOPIA_PASSWORD' },
  { name: 'KOPIA_PASSWORD empty counts as unset', env: { KOPIA_PASSWORD: '' }, names: 'KOPIA_PASSWORD' },
  { name: 'DATA_DIR missing for a backup', env: { DATA_DIR: undefined }, names: 'DATA_DIR' },
  { name: 'DATA_DIR relative', env: { DATA_DIR: 'data' }, names: 'DATA_DIR' },
  { name: 'DATA_DIR with ..', env: { DATA_DIR: '/data/../etc' }, names: 'DATA_DIR' },
  { name: 'DATA_DIR with a newline', env: { DATA_DIR: '/data\n/etc' }, names: 'DATA_DIR' },
  { name: 'DATA_DIR that does not exist', env: { DATA_DIR: '/nonexistent/kopia-mover-data' }, names: 'DATA_DIR' },
  { name: 'KOPIA_CACHE_DIR relative', env: { KOPIA_CACHE_DIR: 'cache' }, names: 'KOPIA_CACHE_DIR' },
  { name: 'KOPIA_REPOSITORY missing', env: { KOPIA_REPOSITORY: undefined }, names: 'KOPIA_REPOSITORY' },
  { name: 'KOPIA_REPOSITORY unknown scheme', env: { KOPIA_REPOSITORY: 'ftp://host/x' }, names: 'KOPIA_REPOSITORY' },
  { name: 'filesystem:// relative path', env: { KOPIA_REPOSITORY: 'filesystem://relative/path' }, names: 'KOPIA_REPOSITORY' },
  { name: 'filesystem path with ..', env: { KOPIA_REPOSITORY: 'filesystem:///repo/../etc' }, names: 'KOPIA_REPOSITORY' },
  { name: 'filesystem path with a control character', env: { KOPIA_REPOSITORY: 'filesystem:///repo\u0007' }, names: 'KOPIA_REPOSITORY' },
  { name: 'username read as a flag', env: { KOPIA_OVERRIDE_USERNAME: '--password=x' }, names: 'KOPIA_OVERRIDE_USERNAME' },
  { name: 'username with a newline', env: { KOPIA_OVERRIDE_USERNAME: 'app\nother' }, names: 'KOPIA_OVERRIDE_USERNAME' },
  { name: 'username with a space', env: { KOPIA_OVERRIDE_USERNAME: 'my app' }, names: 'KOPIA_OVERRIDE_USERNAME' },
  { name: 'hostname read as a flag', env: { KOPIA_OVERRIDE_HOSTNAME: '-h' }, names: 'KOPIA_OVERRIDE_HOSTNAME' },
  { name: 'hostname with @', env: { KOPIA_OVERRIDE_HOSTNAME: 'ns@x' }, names: 'KOPIA_OVERRIDE_HOSTNAME' },
  { name: 'hostname too long', env: { KOPIA_OVERRIDE_HOSTNAME: 'h'.repeat(300) }, names: 'KOPIA_OVERRIDE_HOSTNAME' },
  { name: 'maintenance identity with two @', env: { KOPIA_OVERRIDE_MAINTENANCE_USERNAME: 'a@b@c' }, names: 'KOPIA_OVERRIDE_MAINTENANCE_USERNAME' },
  { name: 'source path override relative', env: { KOPIA_SOURCE_PATH_OVERRIDE: 'app/data' }, names: 'KOPIA_SOURCE_PATH_OVERRIDE' },
  { name: 'compression unknown', env: { KOPIA_COMPRESSION: 'zstd-ultra' }, names: 'KOPIA_COMPRESSION' },
  { name: 'parallelism zero', env: { KOPIA_PARALLELISM: '0' }, names: 'KOPIA_PARALLELISM' },
  { name: 'parallelism not a number', env: { KOPIA_PARALLELISM: 'lots' }, names: 'KOPIA_PARALLELISM' },
  { name: 'retain hourly negative', env: { KOPIA_RETAIN_HOURLY: '-1' }, names: 'KOPIA_RETAIN_HOURLY' },
  { name: 'retain daily a fraction', env: { KOPIA_RETAIN_DAILY: '1.5' }, names: 'KOPIA_RETAIN_DAILY' },
  { name: 'retain weekly a word', env: { KOPIA_RETAIN_WEEKLY: 'four' }, names: 'KOPIA_RETAIN_WEEKLY' },
  { name: 'retain monthly too large', env: { KOPIA_RETAIN_MONTHLY: '99999999999' }, names: 'KOPIA_RETAIN_MONTHLY' },
  { name: 'retain yearly in exponent form', env: { KOPIA_RETAIN_YEARLY: '1e3' }, names: 'KOPIA_RETAIN_YEARLY' },
  { name: 'retain latest hexadecimal', env: { KOPIA_RETAIN_LATEST: '0x10' }, names: 'KOPIA_RETAIN_LATEST' },
  { name: 'as-of without a zone', env: { KOPIA_RESTORE_AS_OF: '2024-01-01T00:00:00' }, names: 'KOPIA_RESTORE_AS_OF', operation: ['restore'] },
  { name: 'as-of not a date', env: { KOPIA_RESTORE_AS_OF: 'yesterday' }, names: 'KOPIA_RESTORE_AS_OF', operation: ['restore'] },
  { name: 'as-of impossible date', env: { KOPIA_RESTORE_AS_OF: '2024-13-45T00:00:00Z' }, names: 'KOPIA_RESTORE_AS_OF', operation: ['restore'] },
  { name: 'shallow negative', env: { KOPIA_SHALLOW: '-2' }, names: 'KOPIA_SHALLOW', operation: ['restore'] },
  { name: 'previous a word', env: { KOPIA_PREVIOUS: 'last' }, names: 'KOPIA_PREVIOUS', operation: ['restore'] },
  { name: 'file deletion not a boolean', env: { KOPIA_ENABLE_FILE_DELETION: 'maybe' }, names: 'KOPIA_ENABLE_FILE_DELETION', operation: ['restore'] },
  { name: 'discovery not a boolean', env: { KOPIA_DISCOVER_SNAPSHOTS: 'sure' }, names: 'KOPIA_DISCOVER_SNAPSHOTS', operation: ['restore'] },
  { name: 'additional args with --password', env: { KOPIA_ADDITIONAL_ARGS: '--password=x' }, names: 'KOPIA_ADDITIONAL_ARGS' },
  { name: 'additional args with -p', env: { KOPIA_ADDITIONAL_ARGS: '-px' }, names: 'KOPIA_ADDITIONAL_ARGS' },
  { name: 'additional args with --config-file value', env: { KOPIA_ADDITIONAL_ARGS: '--config-file /x' }, names: 'KOPIA_ADDITIONAL_ARGS' },
  { name: 'additional args with a flag kopia lacks', env: { KOPIA_ADDITIONAL_ARGS: '--no-such-flag=1' }, names: 'KOPIA_ADDITIONAL_ARGS' },
  { name: 'an upload speed that is not a speed', env: { KOPIA_ADDITIONAL_ARGS: '--upload-speed=fast' }, names: 'KOPIA_ADDITIONAL_ARGS' },
  { name: 'additional args not a flag', env: { KOPIA_ADDITIONAL_ARGS: 'snapshot' }, names: 'KOPIA_ADDITIONAL_ARGS' },
  { name: 'manual config not JSON', env: { KOPIA_MANUAL_CONFIG: '{encryption:' }, names: 'KOPIA_MANUAL_CONFIG' },
  { name: 'manual config unknown encryption', env: { KOPIA_MANUAL_CONFIG: '{"encryption":{"algorithm":"ROT13"}}' }, names: 'KOPIA_MANUAL_CONFIG' },
  // An env value over 1 MiB cannot reach a process at all (the kernel caps one at 128 KiB); the size check is unit-tested.
  { name: 'manual config cache size not bytes', env: { KOPIA_MANUAL_CONFIG: '{"caching":{"maxCacheSize":"big"}}' }, names: 'KOPIA_MANUAL_CONFIG' },
  { name: 'structured config without storage', env: { KOPIA_STRUCTURED_REPOSITORY_CONFIG: '{"policies":{}}' }, names: 'KOPIA_STRUCTURED_REPOSITORY_CONFIG' },
  { name: 'structured config not JSON', env: { KOPIA_STRUCTURED_REPOSITORY_CONFIG: 'storage: s3' }, names: 'KOPIA_STRUCTURED_REPOSITORY_CONFIG' },
  { name: 'legacy repository config over 1 MiB', env: { KOPIA_MOVER_LEGACY_REPOSITORY_CONFIG: oversize, KOPIA_REPOSITORY: undefined }, names: oversize },
  { name: 'CUSTOM_CA that does not exist', env: { CUSTOM_CA: '/nonexistent/ca.crt' }, names: 'CUSTOM_CA' },
  { name: 'KOPIA_CONFIG_PATH relative', env: { KOPIA_CONFIG_PATH: 'kopia-config' }, names: 'KOPIA_CONFIG_PATH' },
  { name: 'metadata cache limit negative', env: { KOPIA_METADATA_CACHE_SIZE_LIMIT_MB: '-5' }, names: 'KOPIA_METADATA_CACHE_SIZE_LIMIT_MB' },
  { name: 'content cache limit a word', env: { KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB: 'big' }, names: 'KOPIA_CONTENT_CACHE_SIZE_LIMIT_MB' },
  { name: 'skip cache config not a boolean', env: { KOPIA_SKIP_CACHE_CONFIG: 'skip' }, names: 'KOPIA_SKIP_CACHE_CONFIG' },
  { name: 'cache capacity zero', env: { KOPIA_CACHE_CAPACITY_BYTES: '0' }, names: 'KOPIA_CACHE_CAPACITY_BYTES' },
  { name: 'force cache rebuild not a boolean', env: { KOPIA_FORCE_CACHE_REBUILD: 'please' }, names: 'KOPIA_FORCE_CACHE_REBUILD' },
  { name: 'log level unknown', env: { KOPIA_LOG_LEVEL: 'verbose' }, names: 'KOPIA_LOG_LEVEL' },
  { name: 'file log level unknown', env: { KOPIA_FILE_LOG_LEVEL: 'loud' }, names: 'KOPIA_FILE_LOG_LEVEL' },
  { name: 'log dir max files negative', env: { KOPIA_LOG_DIR_MAX_FILES: '-3' }, names: 'KOPIA_LOG_DIR_MAX_FILES' },
  { name: 'log dir max age not a duration', env: { KOPIA_LOG_DIR_MAX_AGE: '4 hours' }, names: 'KOPIA_LOG_DIR_MAX_AGE' },
  { name: 'content log max files a word', env: { KOPIA_CONTENT_LOG_DIR_MAX_FILES: 'three' }, names: 'KOPIA_CONTENT_LOG_DIR_MAX_FILES' },
  { name: 'content log max age not a duration', env: { KOPIA_CONTENT_LOG_DIR_MAX_AGE: '1d' }, names: 'KOPIA_CONTENT_LOG_DIR_MAX_AGE' },
  { name: 'log format unknown', env: { KOPIA_MOVER_LOG_FORMAT: 'xml' }, names: 'KOPIA_MOVER_LOG_FORMAT' },
  {
    name: 'a flag kopia takes once given twice in additional args',
    env: { KOPIA_ADDITIONAL_ARGS: `--description=a${ARGS_SEPARATOR}--description=b` },
    names: 'KOPIA_ADDITIONAL_ARGS',
  },
  { name: 'CUSTOM_CA and KOPIA_CUSTOM_CA naming different files', env: { CUSTOM_CA: oversize, KOPIA_CUSTOM_CA: s.data }, names: 'KOPIA_CUSTOM_CA' },
  { name: 'KOPIA_CUSTOM_CA that is a directory', env: { KOPIA_CUSTOM_CA: s.data }, names: 'KOPIA_CUSTOM_CA' },
  { name: 'PRIVILEGED_MOVER not a boolean', env: { PRIVILEGED_MOVER: 'sometimes' }, names: 'PRIVILEGED_MOVER' },
];

describe('bad inputs are rejected before any repository is touched', () => {
  it('a --password-file that cannot be read: exit 2 naming the flag, no kopia process', async () => {
    const result = await runMover(['backup', '--password-file', '/nonexistent/pw'], { ...s.env, KOPIA_PASSWORD: undefined, DATA_DIR: s.data });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--password-file');
    expect(result.kopiaCalls).toEqual([]);
  });

  it('an invalid value is exit 2 naming the variable, with no kopia process', async () => {
    const s = seededScenario('badvalue');
    const result = await runMover(['backup'], { ...s.env, DATA_DIR: s.data, KOPIA_RETAIN_DAILY: 'seven' });
    expect(result.exitCode).toBe(2);
    expect(result.kopiaCalls).toEqual([]);
    expect(result.stdout).toContain('KOPIA_RETAIN_DAILY');
    expect(result.plainLines).toContain('EXIT_CODE: 2');
  });

  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  for (const c of cases) {
    it(`${c.name}: exit 2, names ${c.names.length > 40 ? 'the file' : c.names}, no kopia process`, async () => {
      const env = { ...s.env, DATA_DIR: s.data, ...c.env };
      const result = await runMover(c.operation ?? ['backup'], env as Record<string, string>);
      expect(result.exitCode, result.stdout).toBe(2);
      expect(result.kopiaCalls).toEqual([]);
      expect(result.stdout).toContain(c.names);
      expect(result.plainLines).toContain('EXIT_CODE: 2');
    });
  }
});
