// The one reading of kopia's output, fed every message of kopia 0.22.3 the tests have recorded (see
// failure-classes.test.ts for how each was reproduced; the connect and create ones come from the
// real binary against a filesystem repository and an unreachable S3 endpoint). Each is read raw
// and as the log prints it, with a value of the run's secrets redacted.
import { describe, expect, it } from 'vitest';
import { classifyKopiaOutput, problemLines, readOnlyRestoreParent, type CacheDamage, type FailureClass, type Outcome } from '../../src/kopia/failures.js';
import { fatalErrors } from '../../src/kopia/models/snapshot-create.js';
import { Redactor } from '../../src/report/redact.js';

interface Recorded {
  line: string;
  class: FailureClass;
  retryable: boolean;
  outcome: Outcome;
  /** kopia could not open the repository at all. */
  opening?: boolean;
  cache?: CacheDamage;
  /**
   * A part of the output that a run's secret could be (a path, an id, an address, the source's name
   * in the progress line above): redacted, it must decide nothing.
   */
  secret: string;
}

const CACHE_SHARDS = (folder: string, cache: string) =>
  `failed to open repository: unable to create shared content manager: error setting up read manager caches: ${cache}: unable to open ${folder}: error determining sharded path: error parsing sharding parameters for storage: error parsing JSON: invalid character 'g' looking for beginning of value`;

const RECORDED: readonly Recorded[] = [
  // Opening the repository.
  { line: 'error connecting to repository: unable to create format manager: invalid repository password', class: 'AuthFailure', retryable: false, outcome: 'failed', opening: true, secret: 'format manager' },
  { line: 'failed to open repository: unable to create format manager: invalid repository password', class: 'AuthFailure', retryable: false, outcome: 'failed', opening: true, secret: 'create format' },
  { line: 'error connecting to repository: repository not initialized in the provided storage', class: 'NotInitialized', retryable: false, outcome: 'not-initialized', opening: true, secret: 'app@ns1' },
  { line: "can't connect to storage: cannot access storage path: stat /tmp/r19/nothing: no such file or directory", class: 'Unknown', retryable: true, outcome: 'not-initialized', secret: '/tmp/r19/nothing' },
  { line: 'unable to get repository storage: found existing data in storage location', class: 'Unknown', retryable: true, outcome: 'create-lost', secret: 'unable to get' },
  {
    line: 'open repository: unable to open repository: unable to create format manager: deserialize blob config: unable to decrypt repository blobcfg blob',
    class: 'Unknown',
    retryable: true,
    outcome: 'creation-in-flight',
    opening: true,
    cache: 'blobcfg',
    secret: 'deserialize',
  },
  { line: 'ERROR error connecting to repository: unable to connect to storage: fake', class: 'Unknown', retryable: true, outcome: 'failed', opening: true, secret: 'fake' },
  {
    line: 'can\'t connect to storage: error retrieving storage config from bucket "bucket1": Get "http://127.0.0.1:1/bucket1/?location=": dial tcp 127.0.0.1:1: connect: connection refused',
    class: 'RepositoryUnavailable',
    retryable: true,
    outcome: 'failed',
    secret: '127.0.0.1:1',
  },
  {
    line: 'can\'t connect to storage: error retrieving storage config from bucket "bucket1": Get "http://nohost.invalid:9000/bucket1/?location=": dial tcp: lookup nohost.invalid on 10.255.255.53:53: no such host',
    class: 'RepositoryUnavailable',
    retryable: true,
    outcome: 'failed',
    secret: 'nohost.invalid',
  },
  { line: 'ERROR cannot access storage path: stat /repo/x: not a directory', class: 'Unknown', retryable: true, outcome: 'failed', secret: '/repo/x' },
  // Restoring and backing up.
  { line: 'error restoring: restore error: copy file: error creating file: cannot write data to file "/t/tiny/out/d/big": write /t/tiny/out/d/big: no space left on device', class: 'NoSpace', retryable: false, outcome: 'failed', secret: '/t/tiny/out/d/big' },
  {
    line: "flush error: error flushing contents: error writing pending content: error writing pack content: error writing pack: can't save pack data blob pf32c-s4d72: error writing pack file: unable to complete PutBlobInPath:/t/repo/p/f32/cc8.f despite 10 retries: can't write temporary file: write /t/repo/p/f32/cc8.f.tmp.9de7: no space left on device",
    class: 'NoSpace',
    retryable: false,
    outcome: 'failed',
    secret: 'pf32c-s4d72',
  },
  { line: 'error restoring: restore error: copy file: error creating file: cannot replace "/t/out/s" with tempfile "/t/out/s1528199654": rename /t/out/s1528199654 /t/out/s: device or resource busy', class: 'MountBusy', retryable: false, outcome: 'failed', secret: 's1528199654' },
  { line: 'error restoring: restore error: create directory: error creating directory: unable to create directory, "/t/out/d" already exists and it is not a directory', class: 'TargetConflict', retryable: false, outcome: 'failed', secret: '/t/out/d' },
  { line: 'error restoring: restore error: copy file: error creating file: open /t/out/s: is a directory', class: 'TargetConflict', retryable: false, outcome: 'failed', secret: '/t/out/s' },
  { line: 'error restoring: restore error: create directory: error creating directory: mkdir /t/out/d: file exists', class: 'TargetConflict', retryable: false, outcome: 'failed', secret: '/t/out/d' },
  { line: 'error restoring: restore error: copy file: error creating file: open /data/x: permission denied', class: 'PermissionDenied', retryable: false, outcome: 'failed', secret: '/data/x' },
  { line: 'restore error: open /t/x: permission denied', class: 'PermissionDenied', retryable: false, outcome: 'failed', secret: '/t/x' },
  { line: 'upload error: unable to open snapshot file: permission denied', class: 'PermissionDenied', retryable: false, outcome: 'failed', secret: 'snapshot file' },
  { line: 'upload error: exit status 3', class: 'ActionFailed', retryable: true, outcome: 'failed', secret: 'app@ns1' },
  { line: 'upload error: signal: killed', class: 'ActionFailed', retryable: true, outcome: 'failed', secret: 'app@ns1' },
  { line: 'Found 1 fatal error(s) while snapshotting', class: 'Unknown', retryable: true, outcome: 'failed', secret: 'snapshotting' },
  // The repository's content.
  {
    line: 'error restoring: restore error: copy file: error creating file: unable to open snapshot file for /t/out/s: unable to open object: fae6f2: unexpected content error: error getting cached content from blob "pe0f103c-s2d40": failed to get blob with ID pe0f103c-s2d40: BLOB not found',
    class: 'RepositoryCorrupt',
    retryable: false,
    outcome: 'failed',
    secret: 'pe0f103c-s2d40',
  },
  {
    line: 'error restoring: restore error: copy file: error creating file: unable to open snapshot file for /t/out/d/big: unable to open object: 4f4383: unexpected content error: invalid checksum at pe0f103c-s2d40 offset 66 length 300028/300028: decrypt: unable to decrypt content: cipher: message authentication failed',
    class: 'RepositoryCorrupt',
    retryable: false,
    outcome: 'failed',
    secret: '4f4383',
  },
  {
    line: 'error listing all snapshot manifests: unable to find snapshot manifests: unable to load manifest contents: error loading manifest content: error getting cached content from blob "q8e88-s8d79": failed to get blob with ID q8e88-s8d79: BLOB not found',
    class: 'RepositoryCorrupt',
    retryable: false,
    outcome: 'failed',
    secret: 'q8e88-s8d79',
  },
  {
    line: "open repository: unable to open repository: unable to create format manager: unable to read format blob: error getting kopia.repository blob: error determining sharded path: error parsing sharding parameters for storage: error parsing JSON: invalid character 'g' looking for beginning of value",
    class: 'RepositoryCorrupt',
    retryable: false,
    outcome: 'failed',
    opening: true,
    secret: 'beginning',
  },
  { line: 'unable to decrypt content: BLOB not found', class: 'RepositoryCorrupt', retryable: false, outcome: 'failed', secret: 'decrypt' },
  // The local cache.
  { line: CACHE_SHARDS('contents', 'unable to initialize content cache: unable to create base cache'), class: 'RepositoryCorrupt', retryable: false, outcome: 'failed', opening: true, cache: { folder: 'contents' }, secret: 'shared content manager' },
  { line: CACHE_SHARDS('metadata', 'unable to initialize metadata cache: unable to create base cache'), class: 'RepositoryCorrupt', retryable: false, outcome: 'failed', opening: true, cache: { folder: 'metadata' }, secret: 'shared content manager' },
  { line: CACHE_SHARDS('index-blobs', 'unable to create index blob cache'), class: 'RepositoryCorrupt', retryable: false, outcome: 'failed', opening: true, cache: { folder: 'index-blobs' }, secret: 'shared content manager' },
  { line: 'error loading indexes: unable to open pack index "x": invalid header format: 107', class: 'Unknown', retryable: true, outcome: 'failed', cache: 'unreadable', secret: 'app@ns1' },
  { line: 'unable to open pack index "x": mmap error: invalid argument', class: 'Unknown', retryable: true, outcome: 'failed', cache: 'unreadable', secret: 'argument' },
];

/** Redacts `secret` as the log does: the words kopia printed, with one value of the run's secrets replaced. */
const redacted = (text: string, secret: string) => new Redactor([secret]).redact(text);

describe('one reading of every kopia message the tests recorded', () => {
  for (const r of RECORDED) {
    it(`${r.class}, ${r.outcome}: ${r.line.slice(0, 80)}`, () => {
      // As kopia prints it: progress above the failure, which decides nothing.
      const output = ['Snapshotting app@ns1:/data ...', ' * 0 hashing, 12 hashed (1.2 MB), 0 cached (0 B), uploaded 1.1 MB, estimating...', r.line];
      const verdict = classifyKopiaOutput(output, 1);
      expect(verdict).toMatchObject({ class: r.class, retryable: r.retryable, outcome: r.outcome, opening: r.opening ?? false });
      expect(verdict.cache).toEqual(r.cache);
      expect(verdict.fix.length).toBeGreaterThan(20);
      // The same words in one text decide the same.
      expect(classifyKopiaOutput(output.join('\n'), 1)).toEqual(verdict);

      const printed = output.map((l) => redacted(l, r.secret));
      expect(output.join('\n')).toContain(r.secret);
      expect(printed.join('\n')).not.toContain(r.secret);
      expect(classifyKopiaOutput(printed, 1)).toEqual(verdict);
    });
  }

  it('a command that ended with exit code 0 is ok whatever it printed', () => {
    for (const r of RECORDED) expect(classifyKopiaOutput([r.line], 0).outcome).toBe('ok');
  });

  it('says nothing of a line kopia printed without a problem in it, and nothing of no output', () => {
    for (const output of [[], [''], ['Connected to repository.'], ['Snapshot k1 saved: 12 files, 3 directories']]) {
      expect(classifyKopiaOutput(output, 1)).toMatchObject({ class: 'Unknown', retryable: true, outcome: 'failed', opening: false, cache: undefined });
    }
  });

  it("a secret that is one of the deciding words hides them once redacted: only kopia's raw words are read", () => {
    const raw = 'error connecting to repository: unable to create format manager: invalid repository password';
    for (const password of ['password', 'invalid', 'repository']) {
      expect(classifyKopiaOutput([raw], 1).class).toBe('AuthFailure');
      expect(classifyKopiaOutput([redacted(raw, password)], 1).class, password).not.toBe('AuthFailure');
    }
    const missing = 'error connecting to repository: repository not initialized in the provided storage';
    expect(classifyKopiaOutput([missing], 1).outcome).toBe('not-initialized');
    expect(classifyKopiaOutput([redacted(missing, 'initialized')], 1).outcome).not.toBe('not-initialized');
  });
});

describe("kopia's other words, read where the classifier lives", () => {
  const placeholder = 'error restoring: restore error: finish directory: unlinkat //data.kopia-entry: read-only file system';

  it("finds the root placeholder a read-only parent kept, only when it is kopia's one error line", () => {
    expect(readOnlyRestoreParent(['Restored 3 files', placeholder])).toBe('//data');
    expect(readOnlyRestoreParent([`Processed 3 (1 KB) of 3 (1 KB) 100%${placeholder}`])).toBe('//data');
    expect(readOnlyRestoreParent(['error restoring x: permission denied', placeholder])).toBeUndefined();
    expect(readOnlyRestoreParent(['error restoring: restore error: unlinkat /data/x: read-only file system'])).toBeUndefined();
  });

  it('takes the last lines that report a problem for a reason, not progress or listings', () => {
    const tail = ['Snapshotting 12 files', 'ERROR unable to set policy: invalid value', 'kopia: error: unknown long flag --x', 'done'];
    expect(problemLines(tail)).toEqual(['ERROR unable to set policy: invalid value', 'kopia: error: unknown long flag --x']);
    expect(problemLines(['Snapshotting 12 files'])).toEqual([]);
  });

  it("reads kopia's count of entries it could not read, and the first it named", () => {
    const words = 'Error when processing "secret/key.pem": unable to open file: open /data/secret/key.pem: permission denied\nFound 2 fatal error(s) while snapshotting /data.';
    expect(fatalErrors(words)).toEqual({ count: 2, first: { path: 'secret/key.pem', reason: 'permission denied' } });
    expect(fatalErrors('Found 1 fatal error(s) while snapshotting /data.')).toEqual({ count: 1 });
    expect(fatalErrors('Created snapshot with root k123')).toBeUndefined();
  });
});
