// Every kopia output the program reads, as kopia 0.22.3 printed it (recorded against scratch
// repositories in test/unit/recorded/), read through its model; a damaged copy of each is refused
// with an error naming the command and the field.
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { OperationError } from '../../src/errors.js';
import { loadFacts } from '../../src/facts.js';
import { snapshotsExpired } from '../../src/kopia/logs.js';
import { diffLineChange } from '../../src/kopia/models/diff.js';
import { kopiaConfigSchema, kopiaConfigStorageSchema, readKopiaConfig } from '../../src/kopia/models/kopia-config.js';
import { lsEntryLine, lsEntryPath } from '../../src/kopia/models/ls-listing.js';
import { parseMaintenanceInfo } from '../../src/kopia/models/maintenance-info.js';
import { KopiaOutputError } from '../../src/kopia/models/parse.js';
import { ignoredErrors, parseCreatedSnapshot } from '../../src/kopia/models/snapshot-create.js';
import { snapshotLogLine } from '../../src/kopia/models/snapshot-log.js';
import { parseKopiaVersion } from '../../src/kopia/models/version.js';
import { scrubSavedSecrets } from '../../src/operations/connect.js';
import { SnapshotListing } from '../../src/operations/prune.js';
import { uploadFacts } from '../../src/operations/snapshot-statistics.js';
import { SYSTEM } from '../support/fixtures.js';
import { readSnapshotList } from '../support/kopia-output.js';

const RECORDED = join(import.meta.dirname, 'recorded');
const recorded = (name: string): string => readFileSync(join(RECORDED, name), 'utf8');
const recordedJson = (name: string): Record<string, unknown> => JSON.parse(recorded(name)) as Record<string, unknown>;

/** The KopiaOutputError `read` throws, for its command and field to be checked. */
function refusal(read: () => unknown): KopiaOutputError {
  try {
    read();
  } catch (error) {
    if (error instanceof KopiaOutputError) return error;
    throw error;
  }
  throw new Error('the damaged output was read without an error');
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'km-models-'));
}

describe('kopia snapshot create --json --json-verbose', () => {
  const CREATE = 'kopia snapshot create --json';

  it('reads the recorded manifest: id, start time, root object, its summary and the cached and hashed file counts', () => {
    const manifest = parseCreatedSnapshot(recorded('snapshot-create.json'));
    expect(manifest).toEqual({
      id: 'ee3c2b68e710294d52c214f70a4f74a0',
      startTime: '2026-12-02T10:59:46.549509283Z',
      rootEntry: { obj: 'k68f79f5c328cbe56d640f95282bedb36', summ: { size: 17, files: 3, symlinks: 1, dirs: 2, numFailed: 0 } },
      stats: { cachedFiles: 3, nonCachedFiles: 1, excludedFileCount: 0, excludedDirCount: 0 },
    });
  });

  it('takes a missing stats object as all zero, as kopia leaves it out when every counter is zero', () => {
    const { stats: _stats, ...withoutStats } = recordedJson('snapshot-create.json');
    expect(parseCreatedSnapshot(JSON.stringify(withoutStats)).stats).toEqual({ cachedFiles: 0, nonCachedFiles: 0, excludedFileCount: 0, excludedDirCount: 0 });
  });

  it('a missing root object or a counter of the wrong type is an error naming the command and the field', () => {
    const manifest = recordedJson('snapshot-create.json');
    const noRoot = { ...manifest, rootEntry: { ...(manifest['rootEntry'] as object), obj: undefined } };
    const missing = refusal(() => parseCreatedSnapshot(JSON.stringify(noRoot), 'kopia said this'));
    expect([missing.command, missing.field]).toEqual([CREATE, 'rootEntry.obj']);
    expect(missing).toBeInstanceOf(OperationError);
    expect(missing.kopiaOutput).toBe('kopia said this');
    const wrongType = { ...manifest, stats: { ...(manifest['stats'] as object), cachedFiles: 'many' } };
    const wrong = refusal(() => parseCreatedSnapshot(JSON.stringify(wrongType)));
    expect([wrong.command, wrong.field]).toEqual([CREATE, 'stats.cachedFiles']);
    expect(wrong.message).toMatch(/^could not read kopia snapshot create --json: stats\.cachedFiles: /);
  });

  it('standard output that is not JSON is an error about the output as a whole', () => {
    const notJson = refusal(() => parseCreatedSnapshot('Snapshotting app@ns1:/data ...'));
    expect([notJson.command, notJson.field, notJson.problem]).toEqual([CREATE, 'the output as a whole', 'text that is not JSON where JSON was expected']);
    expect(refusal(() => parseCreatedSnapshot('')).problem).toBe('empty where JSON was expected');
  });

  it("counts the entries kopia's closing words say it ignored, and none when they say nothing", () => {
    expect(ignoredErrors('Ignored 2 error(s) while snapshotting /data.')).toBe(2);
    expect(ignoredErrors(recorded('diff.txt'))).toBe(0);
  });
});

describe('kopia snapshot list --json', () => {
  it('reads both recorded snapshots in order', () => {
    const snapshots = readSnapshotList(recorded('snapshot-list.json'));
    expect(snapshots.map((s) => [s.id, s.rootEntry?.summ?.files])).toEqual([
      ['01127dd84100bf6fd01a25f41a0daaba', 2],
      ['ee3c2b68e710294d52c214f70a4f74a0', 3],
    ]);
    expect(snapshots[0]?.source).toEqual({ host: 'ns1', userName: 'app', path: '/tmp/r19m-rec/data' });
  });

  it('a damaged element is an error naming the command, the element and the field', () => {
    const list = JSON.parse(recorded('snapshot-list.json')) as Record<string, unknown>[];
    const damaged = [list[0], { ...list[1], startTime: 'yesterday' }];
    const error = refusal(() => readSnapshotList(JSON.stringify(damaged)));
    expect([error.command, error.field]).toEqual(['kopia snapshot list --json', 'snapshot 2 startTime']);
    const noId = [{ ...list[0], id: undefined }];
    expect(refusal(() => readSnapshotList(JSON.stringify(noId))).field).toBe('snapshot 1 id');
  });
});

describe('kopia maintenance info --json', () => {
  it('reads the owner and the quick cycle, and "" for a repository nobody owns', () => {
    expect(parseMaintenanceInfo(recorded('maintenance-info.json'))).toEqual({ owner: 'app@ns1', quick: { enabled: true } });
    expect(parseMaintenanceInfo(recorded('maintenance-info-no-owner.json'))).toEqual({ owner: '', quick: { enabled: true } });
  });

  it('a missing owner or a quick cycle of the wrong shape is an error naming the command and the field', () => {
    const { owner: _owner, ...noOwner } = recordedJson('maintenance-info.json');
    const missing = refusal(() => parseMaintenanceInfo(JSON.stringify(noOwner)));
    expect([missing.command, missing.field]).toEqual(['kopia maintenance info --json', 'owner']);
    const wrongQuick = { ...recordedJson('maintenance-info.json'), quick: { enabled: 'yes' } };
    expect(refusal(() => parseMaintenanceInfo(JSON.stringify(wrongQuick))).field).toBe('quick.enabled');
    expect(refusal(() => parseMaintenanceInfo('maintenance owner: app@ns1')).field).toBe('the output as a whole');
  });
});

describe('kopia.config, the saved connection', () => {
  function written(name: string, text: string): string {
    const path = join(tempDir(), name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  it('reads the recorded filesystem and S3 connections, keeping the fields the program does not use', () => {
    const fs = readKopiaConfig(join(RECORDED, 'kopia.config.filesystem.json'), kopiaConfigSchema);
    expect(fs).toMatchObject({ hostname: 'ns1', username: 'app', enableActions: false, storage: { type: 'filesystem', config: { path: '/tmp/r19m-rec/repo' } } });
    expect(fs.caching).toMatchObject({ maxCacheSize: 5242880000, maxMetadataCacheSize: 5242880000, cacheDirectory: 'cache' });
    expect(fs['formatBlobCacheDuration']).toBe(900000000000);
    const s3 = readKopiaConfig(join(RECORDED, 'kopia.config.s3.json'), kopiaConfigSchema);
    expect(s3.storage).toMatchObject({ type: 's3', config: { bucket: 'bucket1', endpoint: '127.0.0.1:39417', doNotUseTLS: true } });
  });

  it('a missing identity or a storage of the wrong shape is an error naming kopia.config and the field', () => {
    const { hostname: _hostname, ...noHost } = recordedJson('kopia.config.filesystem.json');
    const missing = refusal(() => readKopiaConfig(written('kopia.config', JSON.stringify(noHost)), kopiaConfigSchema));
    expect([missing.command, missing.field]).toEqual(['kopia.config', 'hostname']);
    const badStorage = { ...recordedJson('kopia.config.s3.json'), storage: { type: 's3', config: 'bucket1' } };
    const wrong = refusal(() => readKopiaConfig(written('kopia.config', JSON.stringify(badStorage)), kopiaConfigStorageSchema));
    expect([wrong.command, wrong.field]).toEqual(['kopia.config', 'storage.config']);
    expect(refusal(() => readKopiaConfig(written('kopia.config', '{"storage": {'), kopiaConfigSchema)).field).toBe('the output as a whole');
  });

  function s3Config(cacheDir: string) {
    const env = {
      DIRECTION: 'source',
      DATA_DIR: '/data',
      KOPIA_PASSWORD: 'pw-for-models',
      KOPIA_REPOSITORY: 's3://bucket1',
      KOPIA_S3_ENDPOINT: 'http://127.0.0.1:39417',
      AWS_ACCESS_KEY_ID: 'recorduser',
      AWS_SECRET_ACCESS_KEY: 'recordsecret123',
      KOPIA_CACHE_DIR: cacheDir,
    };
    return parseConfig(env, { system: SYSTEM, readMounts: false });
  }

  it('a saved connection is a fact of the plan only when it has the shape kopia writes', () => {
    const cacheDir = tempDir();
    writeFileSync(join(cacheDir, 'kopia.config'), recorded('kopia.config.s3.json'));
    expect(loadFacts(s3Config(cacheDir)).savedConnection?.storage?.config['bucket']).toBe('bucket1');
    writeFileSync(join(cacheDir, 'kopia.config'), JSON.stringify({ ...recordedJson('kopia.config.s3.json'), username: 7 }));
    expect(loadFacts(s3Config(cacheDir)).savedConnection).toBeUndefined();
  });

  it('the storage secrets kopia saved are removed and every other field is written back as it was', () => {
    const cacheDir = tempDir();
    const path = join(cacheDir, 'kopia.config');
    writeFileSync(path, recorded('kopia.config.s3.json'));
    scrubSavedSecrets(s3Config(cacheDir));
    const scrubbed = JSON.parse(readFileSync(path, 'utf8')) as { storage: { config: Record<string, unknown> } } & Record<string, unknown>;
    const original = recordedJson('kopia.config.s3.json') as typeof scrubbed;
    const { secretAccessKey: _key, sessionToken: _token, ...kept } = original.storage.config;
    expect(scrubbed.storage.config).toEqual(kept);
    expect({ ...scrubbed, storage: undefined }).toEqual({ ...original, storage: undefined });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('secrets are removed even from a kopia.config that lacks the fields a saved connection needs', () => {
    const cacheDir = tempDir();
    const path = join(cacheDir, 'kopia.config');
    const { hostname: _h, username: _u, ...partial } = recordedJson('kopia.config.s3.json');
    writeFileSync(path, JSON.stringify(partial));
    scrubSavedSecrets(s3Config(cacheDir));
    expect(readFileSync(path, 'utf8')).not.toContain('recordsecret123');
  });
});

describe('kopia ls -r -l', () => {
  const lines = recorded('ls-r-l.txt').split('\n').filter((l) => l !== '');

  it('reads each recorded line as an entry with its kind and relative path', () => {
    const entries = lines.map((line) => {
      const entry = lsEntryLine(Buffer.from(line, 'latin1'));
      if (entry === undefined) throw new Error(`not read as an entry: ${line}`);
      const { kind, path } = lsEntryPath(entry);
      return [kind, path.toString()];
    });
    expect(entries).toEqual([
      ['directory', 'sub'],
      ['other', 'sub/b.txt'],
      ['other', 'a.txt'],
      ['other', 'c.txt'],
      ['symlink', 'link'],
    ]);
  });

  it('a line whose mode, size or time is damaged is not an entry, and a listing starting with one is not understood', () => {
    const [first] = lines;
    for (const damaged of [first!.replace('drwxr-xr-x', 'drwx'), first!.replace(/ 6 /, ' six '), first!.replace('2026-12-02 ', '2026-12 ')]) {
      expect(lsEntryLine(Buffer.from(damaged)), damaged).toBeUndefined();
    }
    const listing = new SnapshotListing('ee3c2b68e710294d52c214f70a4f74a0');
    listing.line(Buffer.from(first!.replace('drwxr-xr-x', 'drwx')));
    expect(listing.understood).toBe(false);
  });

  it('a folder followed by its error count is the folder', () => {
    const entry = lsEntryLine(Buffer.from(`${lines[0]} (2 errors)`));
    expect(entry && lsEntryPath(entry)).toEqual({ kind: 'directory', path: Buffer.from('sub') });
  });
});

describe('kopia --version', () => {
  it('reads the recorded version line', () => {
    expect(parseKopiaVersion(recorded('version.txt'))).toEqual({
      line: '0.22.3 build: 154bf56899228e5c95fb3176b9c6901bbe4ca97b from: kopia/kopia',
      version: '0.22.3',
      build: '154bf56899228e5c95fb3176b9c6901bbe4ca97b',
      from: 'kopia/kopia',
    });
  });

  it('a first line of another shape is an error naming the command', () => {
    const error = refusal(() => parseKopiaVersion('kopia version unknown\n'));
    expect([error.command, error.field]).toEqual(['kopia --version', 'the first line']);
  });
});

describe("kopia diff and the snapshot's debug log", () => {
  it('the recorded diff adds one file and changes none; a content change is read as changed', () => {
    const changes = recorded('diff.txt').split('\n').map(diffLineChange);
    expect(changes.filter((c) => c === 'added')).toHaveLength(1);
    expect(changes.filter((c) => c === 'changed')).toHaveLength(0);
    expect(diffLineChange('changed ./a.txt at 2026-12-02 10:59:44.368505273 +0000 UTC (size 6 -> 9)')).toBe('changed');
    expect(diffLineChange('. modification times differ: 2026-12-02 10:59:44 +0000 UTC 2026-12-02 10:59:46 +0000 UTC')).toBeUndefined();
  });

  function logDirWith(log: string): string {
    const dir = tempDir();
    mkdirSync(join(dir, 'cli-logs'));
    writeFileSync(join(dir, 'cli-logs', 'kopia-20261202-105945-23822-snapshot-create.0.log'), recorded(log));
    return dir;
  }

  it("reads the recorded log's blob writes until kopia's own maintenance starts", () => {
    // The four PutBlob lines before "maintenance due for full maintenance cycle": 186 + 4364 + 4373 + 379.
    expect(uploadFacts(logDirWith('snapshot-create.log'))).toEqual({ uploadedBytes: 9302, previousSnapshots: 0 });
    expect(snapshotsExpired(logDirWith('snapshot-create.log'))).toBe(0);
  });

  it('counts the snapshots retention deleted in the recorded log of a snapshot with --keep-latest=1', () => {
    const dir = logDirWith('snapshot-create-expiring.log');
    expect(snapshotsExpired(dir)).toBe(2);
    // 186 + 4298 + 4339 + 277, compared with the one snapshot before it.
    expect(uploadFacts(dir)).toEqual({ uploadedBytes: 9100, previousSnapshots: 1 });
  });

  it('a PutBlob line whose fields cannot be read, or that failed, stores nothing', () => {
    const at = '2026-12-02T10:59:46.253877Z DEBUG kopia/repo [STORAGE] PutBlob\t';
    expect(snapshotLogLine(`${at}{"blobID":"p1","length":186,"error":null}`)).toEqual({ kind: 'stored', bytes: 186 });
    expect(snapshotLogLine(`${at}{"blobID":"p1","length":"186","error":null}`)).toEqual({ kind: 'stored', bytes: undefined });
    expect(snapshotLogLine(`${at}{"blobID":"p1","length":186,"error":"disk full"}`)).toEqual({ kind: 'stored', bytes: undefined });
  });
});
