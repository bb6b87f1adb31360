/**
 * A MinIO the test can hurt: killed with SIGKILL and started again on the same port and data,
 * started with its own settings (MINIO_API_REQUESTS_MAX and the like), its request slots held
 * by slow downloads, or its data dir on a small tmpfs that fills up and can be grown again.
 *
 * What MinIO (RELEASE of 2026-02) and kopia 0.22.3 did here:
 *   - With MINIO_API_REQUESTS_MAX=N, a request that finds N requests under way is answered at once
 *     with 429 "TooManyRequests: Please reduce your request rate" (cmd/handler-api.go, maxClients);
 *     this MinIO no longer queues it nor answers 503 SlowDown. kopia's S3 client retries both.
 *   - On a full drive, every PutObject is answered 507 "XMinioStorageFull"; kopia retries ten times
 *     and then prints only the description: "Storage backend has reached its minimum free drive
 *     threshold. Please delete a few objects to proceed." (no code, no status).
 *   - The small tmpfs lives in a mount namespace of MinIO's own (unshare -m), so nothing outside
 *     it sees the mount; `nsenter` into that namespace remounts it larger.
 */
import { request } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  LOOPBACK,
  makeTempDir,
  minioPath,
  pollUntil,
  removeTempDir,
  requireBinary,
  runSync,
  spawnServer,
  startOnFreePort,
  type Running,
} from './common.js';
import { REMOTE, s3Client, type S3Client } from './minio.js';

export interface FaultyS3Options {
  /** Puts MinIO's data dir on a tmpfs of this many bytes, in a mount namespace of its own. */
  diskBytes?: number;
  /** MinIO settings for the first start, e.g. { MINIO_API_REQUESTS_MAX: '1' }. */
  settings?: Record<string, string>;
}

export interface FaultyS3Server {
  endpoint: string;
  url: string;
  accessKey: string;
  secretKey: string;
  region: string;
  /** MinIO's data dir; with diskBytes its contents are seen only inside MinIO's mount namespace. */
  dataDir: string;
  createBucket(name: string): Promise<void>;
  /** MinIO's process id (the same process from start to kill). */
  pid(): number;
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>;
  /** Starts MinIO again on the same port and data dir, with these settings; resolves once it serves. */
  restart(settings?: Record<string, string>): Promise<void>;
  /** Remounts the tmpfs (diskBytes) at this size, in MinIO's own mount namespace. */
  resizeDisk(bytes: number): void;
  /** Fills the tmpfs (diskBytes) to the last byte with a file beside MinIO's buckets. */
  fillDisk(): void;
  /**
   * Holds `count` of MinIO's request slots with downloads of a large object that read nothing,
   * so requests beyond its MINIO_API_REQUESTS_MAX are refused; release() lets them go. The first
   * call for a bucket uploads that object (64 MiB): make it before the requests it would compete with.
   */
  holdRequestSlots(bucket: string, count: number): Promise<{ release(): void }>;
  stop(): Promise<void>;
}

function minioEnv(dir: string, accessKey: string, secretKey: string, region: string, settings: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dir,
    MINIO_ROOT_USER: accessKey,
    MINIO_ROOT_PASSWORD: secretKey,
    MINIO_BROWSER: 'off',
    MINIO_UPDATE: 'off',
    MINIO_REGION: region,
    ...settings,
  };
}

/** The command line: MinIO itself, or MinIO under unshare with its data dir on a tmpfs mounted first. */
function minioCommand(exe: string, dataDir: string, port: number, diskBytes?: number): [string, string[]] {
  const serve = ['server', dataDir, '--address', `${LOOPBACK}:${port}`, '--quiet'];
  if (diskBytes === undefined) return [exe, serve];
  // unshare and sh exec in turn, so the spawned pid is MinIO's own.
  const script = 'mount -t tmpfs -o "size=$1" kmfull "$2" && shift 2 && exec "$@"';
  const args = ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', String(diskBytes), dataDir, exe, ...serve];
  return [requireBinary('unshare'), args];
}

/** A download that reads nothing: MinIO's handler stays blocked writing it, holding its request slot. */
function stalledDownload(url: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      if (res.statusCode !== 200) {
        req.destroy();
        reject(new Error(`the download that holds a MinIO request slot was answered ${res.statusCode}`));
        return;
      }
      res.pause();
      resolve(() => req.destroy());
    });
    req.on('error', (err) => reject(err));
    req.end();
  });
}

/** A presigned URL of an object larger than the socket buffers on both sides, so MinIO cannot finish sending it. */
async function slotHolderLink(client: S3Client, dir: string, bucket: string): Promise<string> {
  const key = 'slot-holder.bin';
  const file = path.join(dir, key);
  writeFileSync(file, Buffer.alloc(64 * 1024 * 1024));
  await client.run(['copyto', file, `${REMOTE}:${bucket}/${key}`]);
  return (await client.run(['link', '--expire', '1h', `${REMOTE}:${bucket}/${key}`])).trim();
}

export async function startFaultyS3Server(options: FaultyS3Options = {}): Promise<FaultyS3Server> {
  const exe = minioPath();
  const dir = makeTempDir('s3-faults');
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  const accessKey = 'kmtest-access';
  const secretKey = `sk-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const region = 'us-east-1';
  const url = (port: number) => `http://${LOOPBACK}:${port}`;
  const launch = async (port: number, settings: Record<string, string>): Promise<Running> => {
    const [command, args] = minioCommand(exe, dataDir, port, options.diskBytes);
    const running = await spawnServer('minio', command, args, port, minioEnv(dir, accessKey, secretKey, region, settings));
    const client = s3Client(dir, url(port), accessKey, secretKey, region);
    try {
      await pollUntil(`minio on port ${port} never became ready (ListBuckets)`, async () => {
        await client.run(['lsd', `${REMOTE}:`]);
        return true;
      }, { intervalMs: 200 });
    } catch (err) {
      await running.stop();
      throw err;
    }
    return running;
  };
  let running: Running | undefined;
  try {
    const port = await startOnFreePort(async (p) => {
      running = await launch(p, options.settings ?? {});
      return p;
    });
    const client = s3Client(dir, url(port), accessKey, secretKey, region);
    const current = () => {
      if (running === undefined) throw new Error('minio is not running');
      return running;
    };
    const links: Record<string, string> = {};
    let stopped: Promise<void> | undefined;
    return {
      endpoint: `${LOOPBACK}:${port}`,
      url: url(port),
      accessKey,
      secretKey,
      region,
      dataDir,
      createBucket: async (name) => {
        await client.run(['mkdir', `${REMOTE}:${name}`]);
      },
      pid: () => current().child.pid ?? 0,
      kill: async () => {
        const { child } = current();
        const gone = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
        child.kill('SIGKILL');
        await gone;
        running = undefined;
      },
      restart: async (settings = {}) => {
        await running?.stop();
        running = await launch(port, settings);
      },
      resizeDisk: (bytes) => {
        if (options.diskBytes === undefined) throw new Error('resizeDisk needs a server started with diskBytes');
        runSync(requireBinary('nsenter'), ['-t', String(current().child.pid), '-m', 'mount', '-o', `remount,size=${bytes}`, dataDir]);
      },
      fillDisk: () => {
        if (options.diskBytes === undefined) throw new Error('fillDisk needs a server started with diskBytes');
        // dd stops when the tmpfs has no byte left; that is the point, so its exit status is not.
        const fill = 'dd if=/dev/zero of="$1/kmfiller" bs=64k 2>/dev/null; [ -s "$1/kmfiller" ]';
        runSync(requireBinary('nsenter'), ['-t', String(current().child.pid), '-m', 'sh', '-c', fill, 'sh', dataDir]);
      },
      holdRequestSlots: async (bucket, count) => {
        links[bucket] ??= await slotHolderLink(client, dir, bucket);
        const link = links[bucket];
        const releases: Array<() => void> = [];
        try {
          for (let i = 0; i < count; i++) {
            // A slot taken by someone else's request answers 429: ask again until one is free.
            await pollUntil('no MinIO request slot came free', async () => {
              releases.push(await stalledDownload(link));
              return true;
            }, { timeoutMs: 10_000, intervalMs: 10 });
          }
        } catch (err) {
          releases.forEach((release) => release());
          throw err;
        }
        return { release: () => releases.forEach((release) => release()) };
      },
      stop: () => (stopped ??= (running?.stop() ?? Promise.resolve()).then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await running?.stop();
    await removeTempDir(dir);
    throw err;
  }
}
