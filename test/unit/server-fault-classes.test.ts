// The classifier on what kopia 0.22.3 printed when a real MinIO failed under it
// (test/integration/server-faults.test.ts): a full drive, and requests turned away past its limit.
import { describe, expect, it } from 'vitest';
import { classifyKopiaOutput } from '../../src/kopia/failures.js';

const FULL =
  'flush error: error flushing contents: error writing previously failed pack: error writing pack: can\'t save pack data blob p53f239b0bf3f9dc26fe82a39ca091fe5-s7a0782f83f935795147: error writing pack file: unable to complete PutBlob(p53f239b0bf3f9dc26fe82a39ca091fe5-s7a0782f83f935795147) despite 10 retries: Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.';
const THROTTLED = 'open repository: unable to open repository: cannot open storage: error retrieving storage config from bucket "throttled": Please reduce your request rate';

describe('an object store that fails', () => {
  it('a full MinIO is StorageFull, not retryable, with a fix that points at the object store', () => {
    const verdict = classifyKopiaOutput(FULL, 1);
    expect(verdict).toMatchObject({ class: 'StorageFull', retryable: false, outcome: 'failed' });
    expect(verdict.fix).toMatch(/bucket in KOPIA_REPOSITORY.*KOPIA_S3_ENDPOINT/);
  });

  it("a local volume's disk quota stays NoSpace, and a 507 InsufficientStorage or QuotaExceeded is StorageFull", () => {
    expect(classifyKopiaOutput('error writing file: write /cache/x: disk quota exceeded', 1).class).toBe('NoSpace');
    expect(classifyKopiaOutput('error writing pack file: InsufficientStorage: 507', 1).class).toBe('StorageFull');
    expect(classifyKopiaOutput('error writing pack file: QuotaExceeded: bucket quota', 1).class).toBe('StorageFull');
  });

  it('MinIO turning requests away (429, or 503 SlowDown) is RepositoryUnavailable, retryable, with its own fix', () => {
    for (const words of [THROTTLED, 'error writing pack file: SlowDown: Please reduce your request rate.']) {
      const verdict = classifyKopiaOutput(words, 1);
      expect(verdict).toMatchObject({ class: 'RepositoryUnavailable', retryable: true, opening: words === THROTTLED });
      expect(verdict.fix).toMatch(/MINIO_API_REQUESTS_MAX/);
    }
  });
});
