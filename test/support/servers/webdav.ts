/**
 * WebDAV (rclone serve webdav) with basic auth, serving a temp dir.
 *
 * What kopia 0.22.3 did against it:
 *   kopia repository create webdav --url=http://127.0.0.1:PORT/
 *   Credentials: env KOPIA_WEBDAV_USERNAME / KOPIA_WEBDAV_PASSWORD work, or --webdav-username / --webdav-password.
 *   Files as for SFTP (kopia.repository.f).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LOOPBACK, makeTempDir, rclonePath, removeTempDir, spawnServer, startOnFreePort } from './common.js';

export interface WebdavServer {
  url: string;
  username: string;
  password: string;
  root: string;
  stop(): Promise<void>;
}

export async function startWebdavServer(): Promise<WebdavServer> {
  const rclone = rclonePath();
  const dir = makeTempDir('webdav');
  try {
    const root = path.join(dir, 'root');
    mkdirSync(root);
    // An empty config keeps rclone away from the user's own ~/.config/rclone.
    const configFile = path.join(dir, 'rclone.conf');
    writeFileSync(configFile, '');
    const username = 'kmtest';
    const password = randomBytes(12).toString('hex');
    const { port, running } = await startOnFreePort(async (port) => {
      const args = ['serve', 'webdav', root, '--addr', `${LOOPBACK}:${port}`, '--user', username, '--pass', password,
        '--config', configFile];
      return { port, running: await spawnServer('rclone serve webdav', rclone, args, port) };
    });
    let stopped: Promise<void> | undefined;
    return {
      url: `http://${LOOPBACK}:${port}/`,
      username,
      password,
      root,
      stop: () => (stopped ??= running.stop().then(() => removeTempDir(dir))),
    };
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}
