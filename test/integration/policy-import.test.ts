import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonFileSync } from '../../src/policy/json-input.js';
import { globalImportDocument, mapPolicyDocument, valueAtPath } from '../../src/policy/kopia-policy.js';
import { realKopia, POLICY_FIXTURES } from '../support/fixtures.js';

/**
 * Imports every policy example from the docs into a real kopia repository
 * and reads it back, so the mapping is checked against kopia itself rather
 * than against our idea of its format.
 */

const run = promisify(execFile);
const PASSWORD = 'policy-import-test-password';

const policyFiles = readdirSync(POLICY_FIXTURES).filter((f) => f.startsWith('policy-') && f.endsWith('.json')).sort();
const structuredFiles = readdirSync(POLICY_FIXTURES)
  .filter((f) => f.startsWith('structured-repository-config-') && f.endsWith('.json'))
  .sort();

let root: string;

beforeAll(async () => {
  if (!existsSync(realKopia)) throw new Error(`kopia not found at ${realKopia}; run npm run install-kopia`);
  root = await mkdtemp(join(tmpdir(), 'policy-import-'));
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** A fresh filesystem repository with its own config, cache and logs under one temp dir. */
async function freshRepository(name: string) {
  const dir = join(root, name.replace(/[^A-Za-z0-9.-]/g, '_'));
  const config = join(dir, 'kopia.config');
  // Only what kopia needs: no inherited KOPIA_* variable may change its behaviour here.
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    KOPIA_PASSWORD: PASSWORD,
    KOPIA_CHECK_FOR_UPDATES: 'false',
  };
  const kopia = async (...args: string[]) => {
    const { stdout } = await run(realKopia, [`--config-file=${config}`, `--log-dir=${join(dir, 'logs')}`, ...args], {
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  };
  await kopia(
    'repository',
    'create',
    'filesystem',
    `--path=${join(dir, 'repo')}`,
    `--cache-directory=${join(dir, 'cache')}`,
    '--no-persist-credentials',
  );
  return { dir, kopia };
}

/** Go's encoding/json leaves zero values of plain (non-pointer) fields out; absent means the zero value. */
function zeroLike(v: unknown): unknown {
  if (typeof v === 'boolean') return false;
  if (typeof v === 'number') return 0;
  if (typeof v === 'string') return '';
  if (Array.isArray(v)) return [];
  return undefined;
}

async function importAndShow(name: string, policy: Record<string, unknown>) {
  const { dir, kopia } = await freshRepository(name);
  const file = join(dir, 'global-policy-import.json');
  await writeFile(file, JSON.stringify(globalImportDocument(policy)), { mode: 0o600 });
  await kopia('policy', 'import', '--global', `--from-file=${file}`);
  return JSON.parse(await kopia('policy', 'show', '--global', '--json')) as Record<string, unknown>;
}

function expectApplied(shown: Record<string, unknown>, policy: Record<string, unknown>, applied: string[]) {
  expect(applied.length).toBeGreaterThan(0);
  for (const path of applied) {
    const expected = valueAtPath(policy, path);
    const actual = valueAtPath(shown, path) ?? zeroLike(expected);
    expect(actual, path).toEqual(expected);
  }
}

describe('kopia policy import of the docs’ policies', () => {
  it('finds the fixtures', () => {
    expect(policyFiles.length).toBeGreaterThanOrEqual(20);
    expect(structuredFiles.length).toBeGreaterThanOrEqual(2);
  });

  it.each(policyFiles)('%s', async (file) => {
    const path = join(POLICY_FIXTURES, file);
    const { policy, applied } = mapPolicyDocument(await readJsonFileSync(path), path);
    const shown = await importAndShow(file, policy);
    expectApplied(shown, policy, applied);
  });

  it.each(structuredFiles)('the policies section of %s', async (file) => {
    const path = join(POLICY_FIXTURES, file);
    const doc = (await readJsonFileSync(path)) as { policies: unknown };
    const { policy, applied } = mapPolicyDocument(doc.policies, `${path}#policies`);
    const shown = await importAndShow(`structured-${file}`, policy);
    expectApplied(shown, policy, applied);
  });

  it('maps a policy that sets every section kopia has, and kopia reports each value back', async () => {
    const input = {
      retention: { keepLatest: 3, keepHourly: 0, keepDaily: 5, keepWeekly: 2, keepMonthly: 1, keepYearly: 4, ignoreIdenticalSnapshots: true },
      files: {
        ignore: ['*.tmp'],
        noParentIgnoreRules: true,
        dotIgnoreFiles: ['.backupignore'],
        noParentDotIgnoreFiles: true,
        ignoreCacheDirectories: false,
        maxFileSize: 4096,
        oneFileSystem: true,
      },
      errorHandling: { ignoreFileErrors: true, ignoreDirErrors: true, ignoreUnknownTypes: false },
      scheduling: { intervalSeconds: 7200, timeOfDay: ['23:15', '01:05'], cron: ['0 3 * * *'], runMissed: false, uploadParallelism: 6 },
      compression: { compressor: 's2', onlyCompress: ['.txt', '.log'], neverCompress: ['.jpg'], minSize: 10, maxSize: 100000 },
      metadataCompression: { compressor: 'zstd-fastest' },
      splitter: { algorithm: 'fixed-1m' },
      actions: {
        beforeSnapshotRoot: { script: 'echo before', timeout: '2m', mode: 'essential' },
        afterSnapshotRoot: { path: '/bin/echo', args: ['after'], timeout: 30, mode: 'async' },
      },
      osSnapshots: { volumeShadowCopy: { enable: 'always' } },
      logging: { directories: { snapshotted: 1, ignored: 2 }, entries: { snapshotted: 3, ignored: 4, cacheHit: 6, cacheMiss: 7 } },
      upload: { maxParallelSnapshots: 2, parallelUploadAboveSize: 1048576 },
    };
    const { policy, applied, warnings } = mapPolicyDocument(input, 'inline');
    expect(warnings).toEqual(['compression.compressor: "s2" is not a kopia compressor name, using "s2-default"']);
    const shown = await importAndShow('every-section', policy);
    expectApplied(shown, policy, applied);
    // spot checks of the aliases and conversions against kopia's own view
    expect(valueAtPath(shown, 'retention.keepAnnual')).toBe(4);
    expect(valueAtPath(shown, 'upload.maxParallelFileReads')).toBe(6);
    expect(valueAtPath(shown, 'actions.beforeSnapshotRoot.timeout')).toBe(120);
    expect(valueAtPath(shown, 'splitter.algorithm')).toBe('FIXED-1M');
    expect(valueAtPath(shown, 'compression.compressorName')).toBe('s2-default');
    expect(valueAtPath(shown, 'scheduling.timeOfDay')).toEqual([
      { hour: 1, min: 5 },
      { hour: 23, min: 15 },
    ]);
    expect(applied).toHaveLength(45);
  });

  it('kopia refuses the docs’ spellings unmapped, which is why the mapping exists', async () => {
    const { dir, kopia } = await freshRepository('unmapped');
    const file = join(dir, 'raw.json');
    const raw = await readFile(join(POLICY_FIXTURES, 'policy-configmap-doc-spellings.json'), 'utf8');
    await writeFile(file, `{"(global)": ${raw}}`);
    await expect(kopia('policy', 'import', '--global', `--from-file=${file}`)).rejects.toThrow(/unknown field/);
  });
});
