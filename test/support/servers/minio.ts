/**
 * S3 (MinIO, tools/bin/minio), over http or https with a private CA. Buckets are made and listed
 * with rclone as an S3 client, configured for this server alone through its environment.
 *
 * What kopia 0.22.3 did against it:
 *   kopia repository create s3 --bucket=B --endpoint=127.0.0.1:PORT --disable-tls [--prefix=dir/]
 *   Credentials: env AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or --access-key / --secret-access-key.
 *   --endpoint is host:port only; "http://..." fails ("Endpoint url cannot have fully qualified paths").
 *   --region may stay empty; path-style addressing needs no option. The bucket must already exist.
 *   HTTPS: no --disable-tls, plus --root-ca-pem-path=CA.pem or --root-ca-pem-base64=<base64 PEM>.
 *   The env var ROOT_CA_PEM_BASE64 shown in --help is NOT honoured (the flag's loader only runs
 *   for a command-line value); without a CA the create fails with "certificate signed by unknown authority".
 *   Object keys: kopia.repository, kopia.blobcfg, _log_*, q*, xn0_* right after create; p* after a snapshot.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  LOOPBACK,
  makeTempDir,
  minioPath,
  pollUntil,
  rclonePath,
  removeTempDir,
  requireBinary,
  runClient,
  runSync,
  spawnServer,
  startOnFreePort,
  type Running,
} from './common.js';

export interface S3Server {
  endpoint: string;
  url: string;
  accessKey: string;
  secretKey: string;
  region: string;
  caFile?: string;
  /** Creates the bucket; one that exists already is fine. */
  createBucket(name: string): Promise<void>;
  /** Every object key in the bucket that starts with `prefix`, sorted. */
  listObjects(bucket: string, prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export interface S3ServerOptions {
  tls?: boolean;
  /**
   * DNS names the certificate is also valid for (with tls), e.g. a name that a test's own
   * /etc/hosts maps to 127.0.0.1: Go never sends an IP-literal loopback host through a proxy.
   */
  hostnames?: readonly string[];
  /** Fixed root credentials, e.g. the ones a recorded pod spec carries; random by default. */
  accessKey?: string;
  secretKey?: string;
}

export function makeTestCa(dir: string, hostnames: readonly string[] = []): { caFile: string; certFile: string; keyFile: string } {
  const openssl = requireBinary('openssl');
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'private.key');
  const csr = path.join(dir, 'server.csr');
  const certFile = path.join(dir, 'public.crt');
  const ext = path.join(dir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  runSync(openssl, [
    'req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '7',
    '-subj', '/CN=kopia-mover test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  runSync(openssl, ['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  writeFileSync(
    ext,
    `subjectAltName=${['IP:127.0.0.1', ...hostnames.map((h) => `DNS:${h}`)].join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  runSync(openssl, [
    'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '7', '-extfile', ext, '-out', certFile,
  ]);
  return { caFile, certFile, keyFile };
}

/** The rclone remote that stands for this server; it exists only in rclone's environment. */
export const REMOTE = 'kms3';
const MINIO_READY_TIMEOUT_MS = 90_000;

export interface S3Client {
  /** rclone with the remote `kms3:` configured for the server; each call fails fast, without retries. */
  run(args: string[]): Promise<string>;
}

export function s3Client(dir: string, url: string, accessKey: string, secretKey: string, region: string, caFile?: string): S3Client {
  const rclone = rclonePath();
  // An empty config keeps rclone away from the user's own; the remote comes from the environment.
  const configFile = path.join(dir, 'rclone-client.conf');
  writeFileSync(configFile, '');
  const prefix = `RCLONE_CONFIG_${REMOTE.toUpperCase()}_`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    RCLONE_CONFIG: configFile,
    [`${prefix}TYPE`]: 's3',
    [`${prefix}PROVIDER`]: 'Minio',
    [`${prefix}ENDPOINT`]: url,
    [`${prefix}ACCESS_KEY_ID`]: accessKey,
    [`${prefix}SECRET_ACCESS_KEY`]: secretKey,
    [`${prefix}REGION`]: region,
  };
  // A starting MinIO answers 503 to everything: the readiness poll must see that at once, not
  // after rclone's own retries.
  const common = ['--retries', '1', '--low-level-retries', '1', '--contimeout', '5s', '--timeout', '10s'];
  if (caFile) common.push('--ca-cert', caFile);
  return { run: (args) => runClient(rclone, [...args, ...common], env) };
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const exe = minioPath();
  const tls = options.tls ?? false;
  const dir = makeTempDir('s3');
  const dataDir = path.join(dir, 'data');
  const certsDir = path.join(dir, 'certs');
  mkdirSync(dataDir);
  mkdirSync(certsDir);
  const ca = tls ? makeTestCa(certsDir, options.hostnames) : undefined;
  const accessKey = options.accessKey ?? 'kmtest-access';
  const secretKey = options.secretKey ?? randomBytes(16).toString('hex');
  const region = 'us-east-1';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MINIO_ROOT_USER: accessKey,
    MINIO_ROOT_PASSWORD: secretKey,
    MINIO_BROWSER: 'off',
    MINIO_UPDATE: 'off',
    MINIO_REGION: region,
    HOME: dir,
  };
  let started: Running | undefined;
  try {
    const { port, running } = await startOnFreePort(async (port) => {
      const args = ['server', dataDir, '--address', `${LOOPBACK}:${port}`, '--certs-dir', certsDir, '--quiet'];
      return { port, running: await spawnServer('minio', exe, args, port, env) };
    });
    started = running;
    const url = `${tls ? 'https' : 'http'}://${LOOPBACK}:${port}`;
    const client = s3Client(dir, url, accessKey, secretKey, region, ca?.caFile);
    // The port opens before MinIO serves requests, and its health probe can pass while the object
    // layer still answers every S3 request with 503 "not initialized" (seen under load): ready
    // means a signed ListBuckets succeeds. A first start on a busy machine (the suite's first files,
    // each starting its servers while the build finishes) has taken over 30 s: wait up to 90.
    await pollUntil(`minio on port ${port} never became ready (ListBuckets)`, async () => {
      await client.run(['lsd', `${REMOTE}:`]);
      return true;
    }, { intervalMs: 200, timeoutMs: MINIO_READY_TIMEOUT_MS });
    let stopped: Promise<void> | undefined;
    return {
      endpoint: `${LOOPBACK}:${port}`,
      url,
      accessKey,
      secretKey,
      region,
      ...(ca ? { caFile: ca.caFile } : {}),
      createBucket: async (name) => {
        await client.run(['mkdir', `${REMOTE}:${name}`]);
      },
      listObjects: async (bucket, prefix = '') => {
        // The whole bucket, then the prefix: an S3 prefix is any start of a key, not a folder.
        const listing = await client.run(['lsf', '--recursive', '--files-only', '--fast-list', `${REMOTE}:${bucket}`]);
        return listing
          .split('\n')
          .filter((key) => key !== '' && key.startsWith(prefix))
          .sort();
      },
      stop: () => (stopped ??= running.stop().then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await started?.stop();
    await removeTempDir(dir);
    throw err;
  }
}
