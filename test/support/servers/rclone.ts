/**
 * A local-disk rclone remote, for kopia's rclone backend without any network server.
 *
 * What kopia 0.22.3 did with it:
 *   kopia repository create rclone --remote-path=kmlocal:/abs/dir --rclone-exe=/usr/bin/rclone
 *   kopia spawns `rclone serve webdav` itself; rclone finds its config through any of: env RCLONE_CONFIG
 *   inherited by kopia, --rclone-env=RCLONE_CONFIG=/path, or --rclone-args=--config=/path.
 *   Without one: "didn't find section in config file". The spawned rclone may outlive kopia by ~1 s.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir, rclonePath, removeTempDir } from './common.js';

export interface RcloneLocalRemote {
  remotePath: string;
  root: string;
  configFile: string;
  rcloneExe: string;
  cleanup(): Promise<void>;
}

export async function rcloneLocalRemote(): Promise<RcloneLocalRemote> {
  const rcloneExe = rclonePath();
  const dir = makeTempDir('rclone');
  const root = path.join(dir, 'root');
  mkdirSync(root);
  const configFile = path.join(dir, 'rclone.conf');
  writeFileSync(configFile, '[kmlocal]\ntype = local\n');
  let cleaned: Promise<void> | undefined;
  return {
    remotePath: `kmlocal:${root}`,
    root,
    configFile,
    rcloneExe,
    cleanup: () => (cleaned ??= removeTempDir(dir)),
  };
}
