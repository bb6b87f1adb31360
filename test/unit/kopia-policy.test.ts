import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGoDurationMs } from '../../src/text.js';
import { ConfigError } from '../../src/errors.js';
import {
  GLOBAL_POLICY_KEY,
  POLICY_ALIASES,
  globalImportDocument,
  kopiaPolicySchema,
  mapPolicyDocument,
  valueAtPath,
} from '../../src/policy/kopia-policy.js';
import { POLICY_FIXTURES } from '../support/fixtures.js';

const SRC = '/kopia-config/global-policy.json';

function map(input: unknown) {
  return mapPolicyDocument(input, SRC);
}

/** Builds {"a": {"b": value}} from "a.b". */
function nest(path: string, value: unknown): Record<string, unknown> {
  const parts = path.split('.');
  let out: unknown = value;
  for (const p of parts.reverse()) out = { [p]: out };
  return out as Record<string, unknown>;
}

describe('aliases', () => {
  const cases: Array<[string, string, unknown]> = [
    ['compression.compressor', 'compression.compressorName', 'zstd'],
    ['metadataCompression.compressor', 'metadataCompression.compressorName', 'zstd-fastest'],
    ['retention.keepYearly', 'retention.keepAnnual', 3],
    ['files.ignoreCacheDirectories', 'files.ignoreCacheDirs', true],
    ['files.noParentIgnoreRules', 'files.noParentIgnore', true],
    ['files.dotIgnoreFiles', 'files.ignoreDotFiles', ['.kopiaignore', '.gitignore']],
    ['files.noParentDotIgnoreFiles', 'files.noParentDotFiles', true],
    ['errorHandling.ignoreDirErrors', 'errorHandling.ignoreDirectoryErrors', true],
    ['scheduling.uploadParallelism', 'upload.maxParallelFileReads', 4],
    ['upload.parallelUploads', 'upload.maxParallelFileReads', 8],
  ];

  it('covers every alias in the table', () => {
    expect(cases.map(([from, to]) => [from, to]).sort()).toEqual(Object.entries(POLICY_ALIASES).sort());
  });

  it.each(cases)('%s maps to kopia’s %s', (from, to, value) => {
    const r = map(nest(from, value));
    expect(r.warnings).toEqual([]);
    expect(valueAtPath(r.policy, to)).toEqual(value);
    expect(valueAtPath(r.policy, from)).toBeUndefined();
    expect(r.applied).toEqual([to]);
  });

  it('prefers kopia’s spelling when both are given and says so', () => {
    const r = map({ retention: { keepYearly: 3, keepAnnual: 5 } });
    expect(r.policy).toEqual({ retention: { keepAnnual: 5 } });
    expect(r.warnings).toEqual([
      'retention.keepYearly: ignored because retention.keepAnnual is also given, not applied',
    ]);
  });

  it('names the alias that won when two aliases meet', () => {
    const r = map({ scheduling: { uploadParallelism: 4 }, upload: { parallelUploads: 8 } });
    expect(r.policy).toEqual({ upload: { maxParallelFileReads: 4 } });
    expect(r.warnings).toEqual([
      'upload.parallelUploads: ignored because scheduling.uploadParallelism also sets upload.maxParallelFileReads, not applied',
    ]);
  });

  it('maps the docs’ "s2" to kopia’s s2-default and says so', () => {
    const r = map({ compression: { compressorName: 's2' } });
    expect(r.policy).toEqual({ compression: { compressorName: 's2-default' } });
    expect(r.warnings).toEqual(['compression.compressorName: "s2" is not a kopia compressor name, using "s2-default"']);
  });

  it('turns action timeouts given as durations into seconds', () => {
    const r = map({ actions: { beforeSnapshotRoot: { script: 'true', timeout: '5m', mode: 'essential' } } });
    expect(r.policy).toEqual({ actions: { beforeSnapshotRoot: { script: 'true', timeout: 300, mode: 'essential' } } });
    expect(r.warnings).toEqual([]);
    expect(map({ actions: { afterSnapshotRoot: { path: '/bin/true', timeout: '1h30m' } } }).policy).toEqual({
      actions: { afterSnapshotRoot: { path: '/bin/true', timeout: 5400 } },
    });
    expect(map({ actions: { afterFolder: { path: '/bin/true', timeout: 45 } } }).policy).toEqual({
      actions: { afterFolder: { path: '/bin/true', timeout: 45 } },
    });
  });

  it('rounds sub-second timeouts up and warns', () => {
    const r = map({ actions: { beforeFolder: { path: '/bin/true', timeout: '1500ms' } } });
    expect(valueAtPath(r.policy, 'actions.beforeFolder.timeout')).toBe(2);
    expect(r.warnings).toEqual(['actions.beforeFolder.timeout: kopia counts whole seconds, rounded up to 2s']);
  });

  it('accepts times of day as "HH:MM" and sorts them as kopia does', () => {
    const r = map({ scheduling: { timeOfDay: ['22:30', { hour: 6, min: 0 }, '6:00'] } });
    expect(r.policy).toEqual({ scheduling: { timeOfDay: [{ hour: 6, min: 0 }, { hour: 22, min: 30 }] } });
    expect(r.warnings).toEqual([]);
  });

  it('accepts the named volume shadow copy modes', () => {
    expect(map({ osSnapshots: { volumeShadowCopy: { enable: 'when-available' } } }).policy).toEqual({
      osSnapshots: { volumeShadowCopy: { enable: 2 } },
    });
  });

  it('unwraps kopia’s own export shape and warns about other targets', () => {
    const r = map({ [GLOBAL_POLICY_KEY]: { retention: { keepDaily: 3 } }, 'alice@host:/data': { retention: {} } });
    expect(r.policy).toEqual({ retention: { keepDaily: 3 } });
    expect(r.warnings).toEqual([
      'alice@host:/data: only the global policy "(global)" is applied from this file, not applied',
    ]);
  });
});

describe('unknown and unsupported fields', () => {
  it('warns with the JSON path of an unknown field', () => {
    const r = map({ retention: { keepForever: true, keepDaily: 2 } });
    expect(r.warnings).toEqual(['retention.keepForever: unknown field, not applied']);
    expect(r.policy).toEqual({ retention: { keepDaily: 2 } });
    expect(r.applied).toEqual(['retention.keepDaily']);
  });

  it('warns at every depth, including inside actions and at the top', () => {
    const r = map({
      colour: 'blue',
      actions: { beforeSnapshotRoot: { script: 'true', retries: 3 }, onError: { script: 'x' } },
      logging: { entries: { verbose: 1 } },
    });
    expect(r.warnings.sort()).toEqual(
      [
        'colour: unknown field, not applied',
        'actions.beforeSnapshotRoot.retries: unknown field, not applied',
        'actions.onError: unknown field, not applied',
        'logging.entries.verbose: unknown field, not applied',
      ].sort(),
    );
    expect(r.policy).toEqual({ actions: { beforeSnapshotRoot: { script: 'true' } } });
  });

  it('treats inherited property names as unknown', () => {
    const r = map(JSON.parse('{"__proto__": {"x": 1}, "constructor": 1, "retention": {"toString": 2}}'));
    expect(r.warnings.sort()).toEqual(
      [
        '__proto__: unknown field, not applied',
        'constructor: unknown field, not applied',
        'retention.toString: unknown field, not applied',
      ].sort(),
    );
    expect(r.policy).toEqual({});
  });

  it.each([
    ['compression.compressionLevel', 3, 'no compression level'],
    ['scheduling.downloadParallelism', 4, 'no download parallelism'],
    ['splitter.minSize', 1048576, 'only an algorithm'],
    ['splitter.maxSize', 8388608, 'only an algorithm'],
    ['encryption', { algorithm: 'AES256-GCM-HMAC-SHA256' }, 'repository is created'],
  ])('explains why the docs’ %s is not applied', (path, value, reason) => {
    const r = map(nest(path, value));
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(new RegExp(`^${path.replace('.', '\\.')}: .*${reason}.*, not applied$`));
    expect(r.policy).toEqual({});
  });

  it('warns when a section is not an object', () => {
    const r = map({ retention: 7, files: ['x'] });
    expect(r.warnings).toEqual([
      'retention: must be an object, not a number, not applied',
      'files: must be an object, not an array, not applied',
    ]);
  });

  it('treats null as not set, like kopia', () => {
    const r = map({ actions: { beforeSnapshotRoot: null, afterSnapshotRoot: null }, retention: { keepDaily: null } });
    expect(r).toEqual({ policy: {}, warnings: [], applied: [] });
  });
});

describe('values kopia would refuse', () => {
  it.each([
    ['retention.keepDaily', -1, 'must not be negative'],
    ['retention.keepLatest', 2.5, 'must be a whole number'],
    ['retention.keepHourly', '24', 'must be a number'],
    ['files.ignoreCacheDirs', 'yes', 'must be true or false'],
    ['files.ignore', '*.tmp', 'must be a list of strings'],
    ['files.maxFileSize', -10, 'must not be negative'],
    ['compression.compressorName', 'brotli', 'unknown compressor "brotli"'],
    ['compression.compressorName', 'zstd|gzip|s2|none', 'unknown compressor'],
    ['metadataCompression.compressorName', 'zip', 'unknown compressor'],
    ['splitter.algorithm', 'DYNAMIC-16M-BUZHASH', 'unknown splitter'],
    ['upload.maxParallelFileReads', -4, 'must not be negative'],
    ['upload.parallelUploadAboveSize', 1e300, 'too large'],
    ['logging.directories.snapshotted', 11, 'between 0 and 10'],
    ['scheduling.intervalSeconds', -60, 'must not be negative'],
    ['scheduling.timeOfDay', ['25:00'], 'hour must be 0-23'],
    ['scheduling.cron', ['every day'], 'cron expressions'],
    ['osSnapshots.volumeShadowCopy.enable', 'sometimes', 'never, always or when-available'],
    ['noParent', 'true', 'must be true or false'],
  ])('%s = %j is left out with a warning', (path, value, message) => {
    const input = nest(path, value);
    const retention = (input['retention'] ??= {}) as Record<string, unknown>;
    retention['keepMonthly'] = 6;
    const r = map(input);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain(`${path}: `);
    expect(r.warnings[0]).toContain(message);
    expect(r.warnings[0]).toMatch(/, not applied$/);
    expect(valueAtPath(r.policy, path)).toBeUndefined();
    expect(r.applied).toEqual(['retention.keepMonthly']);
  });

  it('drops a bad action mode and timeout but keeps the rest of the action', () => {
    const r = map({ actions: { beforeSnapshotRoot: { script: 'sync', mode: 'essential|optional', timeout: 'soon' } } });
    expect(r.policy).toEqual({ actions: { beforeSnapshotRoot: { script: 'sync' } } });
    expect(r.warnings.sort()).toEqual([
      'actions.beforeSnapshotRoot.mode: must be one of essential, optional, async, not applied',
      'actions.beforeSnapshotRoot.timeout: must be seconds or a duration such as 30s, 5m or 1h30m, not applied',
    ]);
  });

  it('drops an action that has nothing to run', () => {
    const r = map({ actions: { beforeSnapshotRoot: { timeout: '5m', mode: 'essential' } } });
    expect(r.policy).toEqual({});
    expect(r.applied).toEqual([]);
    expect(r.warnings).toEqual(['actions.beforeSnapshotRoot: needs a "script" or a "path" to run, not applied']);
  });

  it('drops manual scheduling combined with other scheduling, as kopia refuses it', () => {
    const r = map({ scheduling: { manual: true, intervalSeconds: 3600 } });
    expect(r.policy).toEqual({ scheduling: { intervalSeconds: 3600 } });
    expect(r.warnings).toEqual([
      'scheduling.manual: kopia does not allow manual together with scheduling.intervalSeconds, not applied',
    ]);
    expect(map({ scheduling: { manual: true } }).policy).toEqual({ scheduling: { manual: true } });
  });

  it('never echoes long values into warnings', () => {
    const secret = `curl -H 'Authorization: Bearer ${'z'.repeat(80)}'`;
    const r = map({ compression: { compressorName: secret }, actions: { beforeSnapshotRoot: { script: secret, mode: secret } } });
    for (const w of r.warnings) expect(w).not.toContain('z'.repeat(41));
  });
});

describe('document shape', () => {
  it.each([
    [[], 'an array'],
    [null, 'null'],
    ['{"a":1}', 'a string'],
    [42, 'a number'],
  ])('refuses %j at the top level naming the source', (input, kind) => {
    let caught: unknown;
    try {
      map(input);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.issues[0]?.source).toBe(SRC);
    expect(err.message).toContain(`policy must be a JSON object, not ${kind}`);
  });

  it('refuses a "(global)" entry that is not an object', () => {
    expect(() => map({ [GLOBAL_POLICY_KEY]: [1] })).toThrow(ConfigError);
  });

  it('keeps kopia’s own spelling as it is', () => {
    const exported = {
      retention: { keepLatest: 10, keepHourly: 48, keepDaily: 7, keepWeekly: 4, keepMonthly: 24, keepAnnual: 3, ignoreIdenticalSnapshots: false },
      files: { ignore: ['*.tmp'], ignoreDotFiles: ['.kopiaignore'], ignoreCacheDirs: true, maxFileSize: 1000, oneFileSystem: true },
      errorHandling: { ignoreFileErrors: false, ignoreDirectoryErrors: false, ignoreUnknownTypes: true },
      scheduling: { intervalSeconds: 3600, timeOfDay: [{ hour: 10, min: 0 }], cron: ['0 * * * *'], runMissed: true },
      compression: { compressorName: 'zstd', onlyCompress: ['.txt'], neverCompress: ['.jpg'], minSize: 1024, maxSize: 1048576 },
      metadataCompression: { compressorName: 'zstd-fastest' },
      splitter: { algorithm: 'DYNAMIC-4M-BUZHASH' },
      actions: { beforeSnapshotRoot: { path: 'echo', args: ['bs'], timeout: 420, mode: 'optional' } },
      osSnapshots: { volumeShadowCopy: { enable: 0 } },
      logging: { directories: { snapshotted: 5, ignored: 5 }, entries: { snapshotted: 0, ignored: 5, cacheHit: 0, cacheMiss: 0 } },
      upload: { maxParallelSnapshots: 1, maxParallelFileReads: 8, parallelUploadAboveSize: 2147483648 },
    };
    const r = map(exported);
    expect(r.warnings).toEqual([]);
    expect(r.policy).toEqual(exported);
    expect(r.applied).toContain('logging.entries.cacheMiss');
    expect(r.applied).toHaveLength(40);
  });

  it('does not change its input', () => {
    const input = { retention: { keepYearly: 3 }, compression: { compressor: 's2' } };
    const copy = structuredClone(input);
    map(input);
    expect(input).toEqual(copy);
  });

  it('wraps the policy the way kopia policy import expects', () => {
    expect(globalImportDocument({ retention: { keepDaily: 1 } })).toEqual({ '(global)': { retention: { keepDaily: 1 } } });
  });
});

describe('the docs’ examples', () => {
  const files = readdirSync(POLICY_FIXTURES).filter((f) => f.startsWith('policy-') && f.endsWith('.json'));

  it('are all here', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  it.each(files)('%s maps to a policy kopia accepts, with applied listing its leaves', (file) => {
    const r = map(JSON.parse(readFileSync(join(POLICY_FIXTURES, file), 'utf8')));
    expect(kopiaPolicySchema.safeParse(r.policy).success).toBe(true);
    expect(r.applied.length).toBeGreaterThan(0);
    for (const path of r.applied) expect(valueAtPath(r.policy, path)).not.toBeUndefined();
  });

  it('maps the ConfigMap example written in the docs’ own spellings', () => {
    const r = map(JSON.parse(readFileSync(join(POLICY_FIXTURES, 'policy-configmap-doc-spellings.json'), 'utf8')));
    expect(r.policy).toEqual({
      retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepAnnual: 3 },
      files: { ignore: ['.git', '*.tmp', 'node_modules'], ignoreDotFiles: ['.kopiaignore'], maxFileSize: 10737418240 },
      errorHandling: { ignoreFileErrors: true, ignoreDirectoryErrors: false },
      compression: { compressorName: 'zstd' },
      upload: { maxParallelFileReads: 4 },
    });
    expect(r.warnings).toEqual([
      'compression.compressionLevel: kopia has no compression level setting; choose a compressor variant instead (e.g. zstd-better-compression, gzip-best-compression), not applied',
    ]);
  });

  it('maps the policies section of a structured repository config', () => {
    const doc = JSON.parse(readFileSync(join(POLICY_FIXTURES, 'structured-repository-config-s3.json'), 'utf8')) as { policies: unknown };
    const r = map(doc.policies);
    expect(r.policy).toEqual({
      retention: { keepLatest: 10, keepDaily: 30, keepWeekly: 8, keepMonthly: 12, keepAnnual: 5 },
      compression: { compressorName: 'zstd' },
      splitter: { algorithm: 'DYNAMIC-4M-BUZHASH' },
      upload: { maxParallelFileReads: 8 },
    });
    expect(r.warnings.map((w) => w.split(':')[0]).sort()).toEqual(
      ['compression.compressionLevel', 'scheduling.downloadParallelism', 'splitter.maxSize', 'splitter.minSize'],
    );
  });
});

describe('aliases in more detail', () => {
  it('reports what is said about an alias’s value where the document wrote it', () => {
    const r = map({ compression: { compressor: 'S2' }, retention: { keepYearly: -1 } });
    expect(r.policy).toEqual({ compression: { compressorName: 's2-default' } });
    expect(r.warnings.sort()).toEqual([
      'compression.compressor: "S2" is not a kopia compressor name, using "s2-default"',
      'retention.keepYearly: must not be negative, not applied',
    ]);
  });

  it('ignores a losing alias without reading its value', () => {
    const r = map({ compression: { compressorName: 'zstd', compressor: 's2' } });
    expect(r.policy).toEqual({ compression: { compressorName: 'zstd' } });
    expect(r.warnings).toEqual(['compression.compressor: ignored because compression.compressorName is also given, not applied']);
  });

  it('lets kopia’s spelling win even when its value is refused, and says both', () => {
    const r = map({ retention: { keepAnnual: 'three', keepYearly: 3 } });
    expect(r.policy).toEqual({});
    expect(r.warnings.sort()).toEqual([
      'retention.keepAnnual: must be a number, not applied',
      'retention.keepYearly: ignored because retention.keepAnnual is also given, not applied',
    ]);
  });

  it('between two aliases, the one listed first wins whatever the order in the document', () => {
    const r = map({ upload: { parallelUploads: 8 }, scheduling: { uploadParallelism: 4 } });
    expect(r.policy).toEqual({ upload: { maxParallelFileReads: 4 } });
    expect(r.warnings).toEqual([
      'upload.parallelUploads: ignored because scheduling.uploadParallelism also sets upload.maxParallelFileReads, not applied',
    ]);
  });

  it('kopia’s spelling wins over the alias in another section', () => {
    const r = map({ scheduling: { uploadParallelism: 4, intervalSeconds: 60 }, upload: { maxParallelFileReads: 2 } });
    expect(r.policy).toEqual({ scheduling: { intervalSeconds: 60 }, upload: { maxParallelFileReads: 2 } });
    expect(r.warnings).toEqual([
      'scheduling.uploadParallelism: ignored because upload.maxParallelFileReads is also given, not applied',
    ]);
  });

  it('applies the alias from another section even when that section was not an object', () => {
    const r = map({ upload: 5, scheduling: { uploadParallelism: 4 } });
    expect(r.policy).toEqual({ upload: { maxParallelFileReads: 4 } });
    expect(r.warnings).toEqual(['upload: must be an object, not a number, not applied']);
  });

  it('a manual schedule is not kept apart from the other scheduling by an alias moved out of it', () => {
    expect(map({ scheduling: { manual: true, uploadParallelism: 2 } })).toEqual({
      policy: { scheduling: { manual: true }, upload: { maxParallelFileReads: 2 } },
      warnings: [],
      applied: ['scheduling.manual', 'upload.maxParallelFileReads'],
    });
  });
});

describe('values in more detail', () => {
  it.each([
    ['retention.keepDaily', -2.5, 'retention.keepDaily: must be a whole number, not applied'],
    ['retention.keepDaily', 1e300, 'retention.keepDaily: is too large, not applied'],
    ['logging.entries.ignored', -1.5, 'logging.entries.ignored: must be a whole number, not applied'],
    ['actions.beforeFolder.path', [], 'actions.beforeFolder.path: must be a string, not applied'],
    ['actions.beforeFolder.timeout', 2.5, 'actions.beforeFolder.timeout: must be a whole number, not applied'],
    ['actions.beforeFolder.timeout', 1e300, 'actions.beforeFolder.timeout: is too large, not applied'],
    ['actions.beforeFolder.timeout', '99999999999999999999s', 'actions.beforeFolder.timeout: is too large, not applied'],
    ['osSnapshots.volumeShadowCopy.enable', 2.5, 'osSnapshots.volumeShadowCopy.enable: must be never, always or when-available, not applied'],
  ])('%s = %j gets one reason', (path, value, warning) => {
    const input = nest(path, value);
    if (path.startsWith('actions.')) (input['actions'] as { beforeFolder: Record<string, unknown> }).beforeFolder['script'] = 'true';
    expect(map(input).warnings).toEqual([warning]);
  });

  it('reads timeouts given as a number in text, with spaces, as seconds', () => {
    const r = map({ actions: { beforeFolder: { path: '/bin/true', timeout: ' 45 ' }, afterFolder: { path: '/bin/true', timeout: '0' } } });
    expect(r.policy).toEqual({
      actions: { beforeFolder: { path: '/bin/true', timeout: 45 }, afterFolder: { path: '/bin/true', timeout: 0 } },
    });
    expect(r.warnings).toEqual([]);
  });

  it('reads action modes and splitters in any case, and names kopia’s spelling', () => {
    const r = map({ actions: { afterSnapshotRoot: { script: 'x', mode: ' ASYNC ' } }, splitter: { algorithm: 'dynamic-4m-buzhash' } });
    expect(r.policy).toEqual({ actions: { afterSnapshotRoot: { script: 'x', mode: 'async' } }, splitter: { algorithm: 'DYNAMIC-4M-BUZHASH' } });
    expect(r.warnings).toEqual([]);
  });

  it('sorts and de-duplicates the compression lists as kopia keeps them', () => {
    const r = map({ compression: { onlyCompress: ['.txt', '.log', '.txt'], neverCompress: ['b', 'B', 'a'] } });
    expect(r.policy).toEqual({ compression: { onlyCompress: ['.log', '.txt'], neverCompress: ['B', 'a', 'b'] } });
  });

  it('de-duplicates times of day that are the same minute, however written', () => {
    const r = map({ scheduling: { timeOfDay: ['06:05', { hour: 6, min: 5 }, ' 6:05 ', '00:00'] } });
    expect(r.policy).toEqual({ scheduling: { timeOfDay: [{ hour: 0, min: 0 }, { hour: 6, min: 5 }] } });
  });

  it('gives each different reason a list is refused for, once', () => {
    const r = map({ scheduling: { timeOfDay: ['25:00', '10:99', '26:00', 'noon'] } });
    expect(r.policy).toEqual({});
    expect(r.warnings.sort()).toEqual([
      'scheduling.timeOfDay: hour must be 0-23, not applied',
      'scheduling.timeOfDay: minute must be 0-59, not applied',
      'scheduling.timeOfDay: must be a list of {"hour","min"} or "HH:MM", not applied',
    ]);
  });

  it('drops an action whose only command is refused, and says why for both', () => {
    const r = map({ actions: { beforeSnapshotRoot: { script: '', timeout: 60 } } });
    expect(r.policy).toEqual({});
    expect(r.warnings.sort()).toEqual([
      'actions.beforeSnapshotRoot.script: must not be empty, not applied',
      'actions.beforeSnapshotRoot: needs a "script" or a "path" to run, not applied',
    ]);
  });

  it('says nothing more about an action of which nothing applies', () => {
    const r = map({ actions: { beforeSnapshotRoot: { mode: 'sometimes' }, afterSnapshotRoot: {} } });
    expect(r.policy).toEqual({});
    expect(r.warnings).toEqual(['actions.beforeSnapshotRoot.mode: must be one of essential, optional, async, not applied']);
  });

  it('keeps manual scheduling when the other scheduling fields are all refused', () => {
    const r = map({ scheduling: { manual: true, intervalSeconds: -1 } });
    expect(r.policy).toEqual({ scheduling: { manual: true } });
    expect(r.warnings).toEqual(['scheduling.intervalSeconds: must not be negative, not applied']);
  });

  it('treats null for an unknown or unsupported field as not set', () => {
    expect(map({ colour: null, compression: { compressionLevel: null } })).toEqual({ policy: {}, warnings: [], applied: [] });
  });

  it('refuses a "(global)" entry that is null, naming it', () => {
    expect(() => map({ [GLOBAL_POLICY_KEY]: null })).toThrow('"(global)" must be a JSON object, not null');
  });

  it('warns in the order of the document', () => {
    const r = map({ compression: { compressor: 's2', compressionLevel: 3 }, colour: 1, retention: { keepDaily: -1 } });
    expect(r.warnings).toEqual([
      'compression.compressor: "s2" is not a kopia compressor name, using "s2-default"',
      expect.stringMatching(/^compression\.compressionLevel: kopia has no compression level setting/),
      'colour: unknown field, not applied',
      'retention.keepDaily: must not be negative, not applied',
    ]);
  });

  it('gives kopia’s JSON in kopia’s field order, whatever the document’s', () => {
    const r = map({ upload: { maxParallelSnapshots: 1 }, retention: { keepAnnual: 1, keepLatest: 2 } });
    expect(JSON.stringify(r.policy)).toBe('{"retention":{"keepLatest":2,"keepAnnual":1},"upload":{"maxParallelSnapshots":1}}');
  });
});

describe('parseGoDurationMs', () => {
  it.each([
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['90s', 90_000],
    ['250ms', 250],
    ['0', 0],
  ])('%s is %i ms', (text, ms) => {
    expect(parseGoDurationMs(text)).toBe(ms);
  });

  it.each(['', '5', 'five minutes', '5 m', '-5m', '1d'])('%j is not a duration', (text) => {
    expect(parseGoDurationMs(text)).toBeUndefined();
  });
});
