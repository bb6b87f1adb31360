// The classifier on kopia 0.22.3's own messages, as the real binary printed them (reproduced with a
// filesystem repository: wrong passwords, a tmpfs that filled up, a bind mount over a restored file,
// a file where the snapshot has a directory, a deleted and an altered pack blob, a damaged .shards).
import { describe, expect, it } from 'vitest';
import { cacheCorruption } from '../../src/operations/cache-recovery.js';
import { classifyKopiaOutput } from '../../src/kopia/failures.js';

const REAL: ReadonlyArray<[string, string]> = [
  ['AuthFailure', 'error connecting to repository: unable to create format manager: invalid repository password'],
  ['NoSpace', 'error restoring: restore error: copy file: error creating file: cannot write data to file "/t/tiny/out/d/big": write /t/tiny/out/d/big: no space left on device'],
  [
    'NoSpace',
    'flush error: error flushing contents: error writing pending content: error writing pack content: error writing pack: can\'t save pack data blob pf32c-s4d72: error writing pack file: unable to complete PutBlobInPath:/t/repo/p/f32/cc8.f despite 10 retries: can\'t write temporary file: write /t/repo/p/f32/cc8.f.tmp.9de7: no space left on device',
  ],
  ['MountBusy', 'error restoring: restore error: copy file: error creating file: cannot replace "/t/out/s" with tempfile "/t/out/s1528199654": rename /t/out/s1528199654 /t/out/s: device or resource busy'],
  ['TargetConflict', 'error restoring: restore error: create directory: error creating directory: unable to create directory, "/t/out/d" already exists and it is not a directory'],
  ['TargetConflict', 'error restoring: restore error: copy file: error creating file: open /t/out/s: is a directory'],
  ['TargetConflict', 'error restoring: restore error: create directory: error creating directory: mkdir /t/out/d: file exists'],
  [
    'RepositoryCorrupt',
    'error restoring: restore error: copy file: error creating file: unable to open snapshot file for /t/out/s: unable to open object: fae6f2: unexpected content error: error getting cached content from blob "pe0f103c-s2d40": failed to get blob with ID pe0f103c-s2d40: BLOB not found',
  ],
  [
    'RepositoryCorrupt',
    'error restoring: restore error: copy file: error creating file: unable to open snapshot file for /t/out/d/big: unable to open object: 4f4383: unexpected content error: invalid checksum at pe0f103c-s2d40 offset 66 length 300028/300028: decrypt: unable to decrypt content: cipher: message authentication failed',
  ],
  [
    'RepositoryCorrupt',
    'error listing all snapshot manifests: unable to find snapshot manifests: unable to load manifest contents: error loading manifest content: error getting cached content from blob "q8e88-s8d79": failed to get blob with ID q8e88-s8d79: BLOB not found',
  ],
  [
    'RepositoryCorrupt',
    "open repository: unable to open repository: unable to create format manager: unable to read format blob: error getting kopia.repository blob: error determining sharded path: error parsing sharding parameters for storage: error parsing JSON: invalid character 'g' looking for beginning of value",
  ],
  ['PermissionDenied', 'error restoring: restore error: copy file: error creating file: open /data/x: permission denied'],
];

const CACHE_SHARDS = [
  "failed to open repository: unable to create shared content manager: error setting up read manager caches: unable to initialize content cache: unable to create base cache: unable to open contents: error determining sharded path: error parsing sharding parameters for storage: error parsing JSON: invalid character 'g' looking for beginning of value",
  "failed to open repository: unable to create shared content manager: error setting up read manager caches: unable to initialize metadata cache: unable to create base cache: unable to open metadata: error determining sharded path: error parsing sharding parameters for storage: error parsing JSON: invalid character 'g' looking for beginning of value",
  "failed to open repository: unable to create shared content manager: error setting up read manager caches: unable to create index blob cache: unable to open index-blobs: error determining sharded path: error parsing sharding parameters for storage: error parsing JSON: invalid character 'g' looking for beginning of value",
];

describe("failure classes from kopia's real messages", () => {
  for (const [expected, line] of REAL) {
    it(`${expected}: ${line.slice(0, 90)}`, () => {
      const failure = classifyKopiaOutput(`Restoring to local filesystem (/t/out) with parallelism=8...\n${line}`);
      expect(failure?.class).toBe(expected);
      expect(failure?.fix.length).toBeGreaterThan(20);
      // Each of these fails the same way on the next attempt.
      expect(failure?.retryable).toBe(false);
    });
  }

  it('a wrong password is AuthFailure in the raw words, and redaction of a common-word password would have hidden it', () => {
    const raw = 'error connecting to repository: unable to create format manager: invalid repository password';
    for (const password of ['password', 'invalid', 'repository']) {
      const redacted = raw.split(password).join('***');
      expect(classifyKopiaOutput(raw)?.class).toBe('AuthFailure');
      expect(classifyKopiaOutput(redacted)?.class).not.toBe('AuthFailure');
    }
  });

  it("a cache folder's damaged .shards file is cache corruption (recovered by clearing); the repository's own is not", () => {
    for (const line of CACHE_SHARDS) expect(cacheCorruption([line])).toBe(true);
    expect(cacheCorruption([REAL.at(-2)![1]])).toBe(false);
  });

  it("the program's own file operations, in Node's words, get the same classes", () => {
    expect(classifyKopiaOutput("file deletion failed: EBUSY: resource busy or locked, rmdir '/data/mnt'")?.class).toBe('MountBusy');
    expect(classifyKopiaOutput("file deletion failed: ENOSPC: no space left on device, write '/data/x'")?.class).toBe('NoSpace');
    expect(classifyKopiaOutput("file deletion failed: EACCES: permission denied, unlink '/data/x'")?.class).toBe('PermissionDenied');
  });

  it('a path of the wrong type outside a restore is not called a conflict in DATA_DIR', () => {
    expect(classifyKopiaOutput('ERROR cannot access storage path: stat /repo/x: not a directory')?.class).not.toBe('TargetConflict');
  });
});

describe('a failing essential policy action', () => {
  it("kopia's 'upload error' with a command's exit status or kill is ActionFailed, whatever the action printed before it", () => {
    for (const words of ['upload error: exit status 3', 'upload error: signal: killed']) {
      const output = ['Snapshotting app@ns1:/data ...', 'psql: connection refused', words].join('\n');
      expect(classifyKopiaOutput(output)?.class, words).toBe('ActionFailed');
    }
    // An upload error of kopia's own is not an action.
    expect(classifyKopiaOutput('upload error: unable to open snapshot file: permission denied')?.class).toBe('PermissionDenied');
  });
});
