// KOPIA_MANUAL_CONFIG and KOPIA_STRUCTURED_REPOSITORY_CONFIG: a new repository's format, and connecting without KOPIA_REPOSITORY.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kopiaJson, policyScenario, runMover } from '../support/mover.js';

describe('manual and structured repository configs', () => {
  it('KOPIA_MANUAL_CONFIG sets the encryption of a new repository and zstd as the global compression', async () => {
    const s = policyScenario('manual');
    const backup = await runMover(['backup'], {
      ...s.env,
      DATA_DIR: s.data,
      KOPIA_MANUAL_CONFIG: JSON.stringify({ encryption: { algorithm: 'CHACHA20-POLY1305-HMAC-SHA256' }, compression: { compressor: 'zstd' } }),
    });
    expect(backup.exitCode, backup.stdout).toBe(0);
    const create = backup.kopiaCalls.find((a) => a[0] === 'repository' && a[1] === 'create') ?? [];
    expect(create).toContain('--encryption=CHACHA20-POLY1305-HMAC-SHA256');
    expect(create.some((a) => a.startsWith('--compression'))).toBe(false);
    const status = kopiaJson<{ contentFormat: { encryption: string } }>(s.cache, s.password, ['repository', 'status']);
    expect(status.contentFormat.encryption).toBe('CHACHA20-POLY1305-HMAC-SHA256');
    const policy = kopiaJson<{ compression: { compressorName: string } }>(s.cache, s.password, ['policy', 'show', '--global']);
    expect(policy.compression.compressorName).toBe('zstd');
  });

  it('KOPIA_STRUCTURED_REPOSITORY_CONFIG connects a filesystem repository without KOPIA_REPOSITORY and leaves no temp file', async () => {
    const s = policyScenario('structured');
    const first = await runMover(['backup'], { ...s.env, DATA_DIR: s.data });
    expect(first.exitCode).toBe(0);
    const structured = JSON.stringify({ storage: { type: 'filesystem', config: { path: s.repo } }, policies: { retention: { keepYearly: 4 } } });
    const env = { ...s.env, KOPIA_REPOSITORY: undefined, KOPIA_CACHE_DIR: join(s.root, 'cache2'), DATA_DIR: s.data, KOPIA_STRUCTURED_REPOSITORY_CONFIG: structured };
    const backup = await runMover(['backup'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    const connect = backup.kopiaCalls.find((a) => a[0] === 'repository' && a[1] === 'connect') ?? [];
    expect(connect.slice(0, 3)).toEqual(['repository', 'connect', 'from-config']);
    const file = connect.find((a) => a.startsWith('--token-file='))?.slice('--token-file='.length) ?? '';
    expect(file).not.toBe('');
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(backup.tmpDir)).toEqual([]);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(2);
    const policy = kopiaJson<{ retention: { keepAnnual: number } }>(join(s.root, 'cache2'), s.password, ['policy', 'show', '--global']);
    expect(policy.retention.keepAnnual).toBe(4);
  });
});

describe('KOPIA_STRUCTURED_REPOSITORY_CONFIG for a repository that does not exist yet', () => {
  it('creates it on the first backup (kopia reads only a token for create from-config)', async () => {
    const s = policyScenario('structuredcreate');
    // An empty, existing directory, as a mounted volume would be: create from-config does not make it.
    const repo = join(s.root, 'new-repo');
    mkdirSync(repo);
    const structured = JSON.stringify({ storage: { type: 'filesystem', config: { path: repo } } });
    const env = { ...s.env, KOPIA_REPOSITORY: undefined, DATA_DIR: s.data, KOPIA_STRUCTURED_REPOSITORY_CONFIG: structured };
    const backup = await runMover(['backup'], env);
    expect(backup.exitCode, backup.stdout).toBe(0);
    const create = backup.kopiaCalls.find((a) => a[0] === 'repository' && a[1] === 'create') ?? [];
    expect(create.slice(0, 3)).toEqual(['repository', 'create', 'from-config']);
    expect(create.some((a) => a.startsWith('--token-file='))).toBe(true);
    expect(existsSync(join(repo, 'kopia.repository.f'))).toBe(true);
    expect(kopiaJson<unknown[]>(s.cache, s.password, ['snapshot', 'list', '--all'])).toHaveLength(1);
  });
});
