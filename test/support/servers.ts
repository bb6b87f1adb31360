/**
 * Real storage servers on 127.0.0.1 for integration tests, one module each under servers/:
 * minio.ts (S3), sftp.ts (OpenSSH), webdav.ts (rclone serve webdav), rclone.ts (a local rclone
 * remote), azurite.ts (Azure Blob Storage), fake-gcs.ts (Google Cloud Storage), and common.ts (binaries, ports, readiness, cleanup). Each module notes what kopia
 * 0.22.3 did against its server; test/integration/test-servers.test.ts covers the main path of each.
 *
 * Install them with `bash scripts/install-test-servers.sh` (MinIO and fake-gcs-server into
 * tools/bin, sshd and rclone from apt; Azurite is an npm devDependency). A missing binary is an Error naming it and that script, never a skip.
 *
 * API (every start* picks a free port, waits until the server answers, and returns an async
 * stop() that kills the server and deletes its temp dirs; stop() is safe to call twice.
 * Servers still running when the test process exits, or gets SIGINT/SIGTERM/SIGHUP, are killed):
 *
 *   freePort(): Promise<number>
 *   startS3Server({ tls?, hostnames?, accessKey?, secretKey? }): Promise<S3Server>
 *     { endpoint "127.0.0.1:PORT", url "http(s)://127.0.0.1:PORT", accessKey, secretKey, region,
 *       caFile? (PEM of the CA that signed the cert for IP 127.0.0.1 and every name in
 *       `hostnames`; only with tls),
 *       createBucket(name), listObjects(bucket, prefix?) -> keys, stop() }
 *     Ready once a signed ListBuckets succeeds; buckets are made and listed with rclone.
 *   startSftpServer(): Promise<SftpServer>
 *     { host "127.0.0.1", port, user, password, keyFile (ed25519, 0600, root-owned), publicKey,
 *       knownHostsFile, knownHostsData ("[127.0.0.1]:PORT ssh-ed25519 ..."), root, stop() }
 *     Needs root: it creates the login user `kmtest` and runs sshd (as root, own config, high port).
 *   startWebdavServer(): Promise<WebdavServer>
 *     { url "http://127.0.0.1:PORT/", username, password, root, stop() }
 *   rcloneLocalRemote(): Promise<RcloneLocalRemote>
 *     { remotePath "kmlocal:/abs/dir", root (the same dir), configFile, rcloneExe, cleanup() }
 *   startAzurite(): Promise<AzuriteServer>
 *     { port, account, key, caFile, host "ACCOUNT.blob.azurite.test" (only the test's /etc/hosts
 *       knows it), endpointSuffix "azurite.test:PORT", sasToken(permissions?), createContainer(name),
 *       listBlobs(container), stop() }  Over https; the certificate covers `host`.
 *   startFakeGcs(): Promise<FakeGcsServer>
 *     { port (http JSON API), tlsAddress "127.0.0.1:PORT" (https as storage.googleapis.com, for a
 *       CONNECT proxy), caFile, tokenUri, trustKey(pem), createBucket(name), listObjects(bucket,
 *       prefix?), stop() }
 */
import { afterAll, beforeAll } from 'vitest';
import { startS3Server as startMinio, type S3Server as Minio } from './servers/minio.js';

export { freePort } from './servers/common.js';
export { startAzurite, type AzuriteServer } from './servers/azurite.js';
export { GCS_HOST, startFakeGcs, type FakeGcsServer } from './servers/fake-gcs.js';
export { startS3Server, type S3Server, type S3ServerOptions } from './servers/minio.js';
export { rcloneLocalRemote, type RcloneLocalRemote } from './servers/rclone.js';
export { startSftpServer, type SftpServer } from './servers/sftp.js';
export { startWebdavServer, type WebdavServer } from './servers/webdav.js';

/**
 * One MinIO with one bucket for the tests of a file: started before the first, stopped after the
 * last. Returns the server's getter, to call inside a test or hook.
 */
export function minioWithBucket(bucket: string): () => Minio {
  let server: Minio | undefined;
  beforeAll(async () => {
    server = await startMinio();
    await server.createBucket(bucket);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error(`MinIO for bucket ${bucket} is not started: use it inside a test or a hook`);
    return server;
  };
}
