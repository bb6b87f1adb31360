// Proves each test server really stores a kopia repository: the real kopia binary creates a
// repository on it and takes a snapshot, and the server's own storage shows the result.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realKopia } from '../support/fixtures.js';
import {
  freePort,
  rcloneLocalRemote,
  startS3Server,
  startSftpServer,
  startWebdavServer,
  type RcloneLocalRemote,
  type S3Server,
  type SftpServer,
  type WebdavServer,
} from '../support/servers.js';

const run = promisify(execFile);
const REPO_PASSWORD = 'kopia-mover-test-repo';
const SLOW = 180_000;
// File-based backends (sftp, webdav, rclone) add a .f suffix to every blob file name.
const FILE_REPO_MARKER = 'kopia.repository.f';

const workDirs: string[] = [];
afterAll(() => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh kopia config dir plus a small directory to snapshot. */
function newWorkspace(): { configFile: string; source: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kopia-mover-smoke-'));
  workDirs.push(dir);
  const source = path.join(dir, 'source');
  mkdirSync(path.join(source, 'nested'), { recursive: true });
  writeFileSync(path.join(source, 'hello.txt'), 'hello from kopia-mover\n');
  writeFileSync(path.join(source, 'nested', 'data.bin'), Buffer.alloc(64 * 1024, 7));
  return {
    configFile: path.join(dir, 'repository.config'),
    source,
    env: {
      ...process.env,
      KOPIA_PASSWORD: REPO_PASSWORD,
      KOPIA_CHECK_FOR_UPDATES: 'false',
      KOPIA_LOG_DIR: path.join(dir, 'logs'),
      KOPIA_CACHE_DIRECTORY: path.join(dir, 'cache'),
    },
  };
}

async function kopia(ws: ReturnType<typeof newWorkspace>, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout } = await run(realKopia, [...args, `--config-file=${ws.configFile}`], {
      env: { ...ws.env, ...extraEnv },
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kopia ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/** Creates a repository with `createArgs`, snapshots the workspace and returns the snapshot list. */
async function createAndSnapshot(createArgs: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const ws = newWorkspace();
  await kopia(ws, ['repository', 'create', ...createArgs], extraEnv);
  await kopia(ws, ['snapshot', 'create', ws.source], extraEnv);
  const list = JSON.parse(await kopia(ws, ['snapshot', 'list', '--json', ws.source], extraEnv)) as Array<{
    source: { path: string };
    rootEntry: { type: string; summ?: { files?: number } };
  }>;
  return { ws, list };
}

function expectOneSnapshotOf(list: Awaited<ReturnType<typeof createAndSnapshot>>['list'], source: string) {
  expect(list).toHaveLength(1);
  expect(list[0]?.source.path).toBe(source);
  expect(list[0]?.rootEntry.type).toBe('d');
  expect(list[0]?.rootEntry.summ?.files).toBe(2);
}

describe('freePort', () => {
  it('returns a usable TCP port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
    expect(port).toBeLessThan(65536);
  });
});

describe('S3 over http', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server();
  }, 120_000);
  afterAll(async () => {
    await s3?.stop();
  });

  it('creates buckets idempotently, and a new bucket is empty', async () => {
    await s3.createBucket('empty-bucket');
    await s3.createBucket('empty-bucket'); // creating twice is not an error
    expect(await s3.listObjects('empty-bucket')).toEqual([]);
  });

  it('holds a kopia repository', async () => {
    await s3.createBucket('plain');
    const { ws, list } = await createAndSnapshot(
      ['s3', '--bucket=plain', `--endpoint=${s3.endpoint}`, '--disable-tls', '--prefix=repo/'],
      { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey },
    );
    expectOneSnapshotOf(list, ws.source);
    const keys = await s3.listObjects('plain');
    expect(keys).toContain('repo/kopia.repository');
    expect(keys.every((k) => k.startsWith('repo/'))).toBe(true);
    // Pack blobs (p*) hold the file data.
    expect(keys.some((k) => k.startsWith('repo/p'))).toBe(true);
    expect(await s3.listObjects('plain', 'repo/kopia.')).toEqual(
      expect.arrayContaining(['repo/kopia.repository']),
    );
    expect(await s3.listObjects('plain', 'nothing-here/')).toEqual([]);
  }, SLOW);

  it('rejects wrong credentials', async () => {
    const ws = newWorkspace();
    await s3.createBucket('denied');
    await expect(
      kopia(ws, ['repository', 'create', 's3', '--bucket=denied', `--endpoint=${s3.endpoint}`, '--disable-tls'], {
        AWS_ACCESS_KEY_ID: s3.accessKey,
        AWS_SECRET_ACCESS_KEY: 'not-the-secret',
      }),
    ).rejects.toThrow();
    expect(await s3.listObjects('denied')).toEqual([]);
  }, SLOW);
});

describe('S3 over https with a private CA', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server({ tls: true });
  }, 120_000);
  afterAll(async () => {
    await s3?.stop();
  });

  it('serves https with a certificate for 127.0.0.1 signed by caFile', () => {
    expect(s3.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(s3.caFile).toBeDefined();
    expect(existsSync(s3.caFile ?? '')).toBe(true);
  });

  it('holds a kopia repository when kopia trusts the CA', async () => {
    await s3.createBucket('secure');
    const creds = { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
    const { ws, list } = await createAndSnapshot(
      ['s3', '--bucket=secure', `--endpoint=${s3.endpoint}`, `--root-ca-pem-path=${s3.caFile}`],
      creds,
    );
    expectOneSnapshotOf(list, ws.source);
    expect(await s3.listObjects('secure')).toContain('kopia.repository');
  }, SLOW);

  it('is refused by kopia without the CA', async () => {
    await s3.createBucket('untrusted');
    const ws = newWorkspace();
    await expect(
      kopia(ws, ['repository', 'create', 's3', '--bucket=untrusted', `--endpoint=${s3.endpoint}`], {
        AWS_ACCESS_KEY_ID: s3.accessKey,
        AWS_SECRET_ACCESS_KEY: s3.secretKey,
      }),
    ).rejects.toThrow(/certificate/);
  }, SLOW);
});

describe('SFTP', () => {
  let sftp: SftpServer;
  beforeAll(async () => {
    sftp = await startSftpServer();
  }, 60_000);
  afterAll(async () => {
    await sftp?.stop();
  });

  it('describes its host key for [127.0.0.1]:PORT', () => {
    expect(sftp.knownHostsData).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sftp.port} ssh-ed25519 \\S+$`));
  });

  it('holds a kopia repository reached with a key and a known_hosts file', async () => {
    const repoPath = path.join(sftp.root, 'with-key');
    const { ws, list } = await createAndSnapshot([
      'sftp',
      `--host=${sftp.host}`,
      `--port=${sftp.port}`,
      `--username=${sftp.user}`,
      `--path=${repoPath}`,
      `--keyfile=${sftp.keyFile}`,
      `--known-hosts=${sftp.knownHostsFile}`,
    ]);
    expectOneSnapshotOf(list, ws.source);
    expect(readdirSync(repoPath)).toContain(FILE_REPO_MARKER);
  }, SLOW);

  it('holds a kopia repository reached with a password and inline known_hosts', async () => {
    const repoPath = path.join(sftp.root, 'with-password');
    const { ws, list } = await createAndSnapshot([
      'sftp',
      `--host=${sftp.host}`,
      `--port=${sftp.port}`,
      `--username=${sftp.user}`,
      `--path=${repoPath}`,
      `--sftp-password=${sftp.password}`,
      `--known-hosts-data=${sftp.knownHostsData}`,
    ]);
    expectOneSnapshotOf(list, ws.source);
    expect(readdirSync(repoPath)).toContain(FILE_REPO_MARKER);
  }, SLOW);

  it('refuses a wrong password', async () => {
    const ws = newWorkspace();
    await expect(
      kopia(ws, [
        'repository', 'create', 'sftp', `--host=${sftp.host}`, `--port=${sftp.port}`, `--username=${sftp.user}`,
        `--path=${path.join(sftp.root, 'denied')}`, '--sftp-password=wrong', `--known-hosts-data=${sftp.knownHostsData}`,
      ]),
    ).rejects.toThrow(/unable to authenticate|auth/i);
  }, SLOW);
});

describe('WebDAV', () => {
  let dav: WebdavServer;
  beforeAll(async () => {
    dav = await startWebdavServer();
  }, 60_000);
  afterAll(async () => {
    await dav?.stop();
  });

  it('holds a kopia repository with credentials from the environment', async () => {
    const { ws, list } = await createAndSnapshot(['webdav', `--url=${dav.url}`], {
      KOPIA_WEBDAV_USERNAME: dav.username,
      KOPIA_WEBDAV_PASSWORD: dav.password,
    });
    expectOneSnapshotOf(list, ws.source);
    expect(readdirSync(dav.root)).toContain(FILE_REPO_MARKER);
  }, SLOW);

  it('refuses a wrong password', async () => {
    const ws = newWorkspace();
    await expect(
      kopia(ws, ['repository', 'create', 'webdav', `--url=${dav.url}denied/`], {
        KOPIA_WEBDAV_USERNAME: dav.username,
        KOPIA_WEBDAV_PASSWORD: 'wrong',
      }),
    ).rejects.toThrow();
    expect(existsSync(path.join(dav.root, 'denied'))).toBe(false);
  }, SLOW);
});

describe('rclone local remote', () => {
  let remote: RcloneLocalRemote;
  beforeAll(async () => {
    remote = await rcloneLocalRemote();
  });
  afterAll(async () => {
    await remote?.cleanup();
  });

  it('holds a kopia repository through kopia-launched rclone', async () => {
    const { ws, list } = await createAndSnapshot(
      ['rclone', `--remote-path=${remote.remotePath}`, `--rclone-exe=${remote.rcloneExe}`],
      { RCLONE_CONFIG: remote.configFile },
    );
    expectOneSnapshotOf(list, ws.source);
    expect(readdirSync(remote.root)).toContain(FILE_REPO_MARKER);
  }, SLOW);
});
