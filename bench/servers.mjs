// The test servers (test/support/servers.ts) for the benchmark scripts, which are plain Node.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * test/support/servers.ts compiled under the repository root (servers.ts finds MinIO through
 * its own location), then imported. `buildDir` must sit two levels below the root.
 */
export async function loadServers(buildDir = join(repoRoot, '.bench-data', 'build')) {
  const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc');
  if (!existsSync(tsc)) throw new Error('typescript is not installed: run `npm ci`');
  const out = spawnSync(
    tsc,
    ['--ignoreConfig', join(repoRoot, 'test', 'support', 'servers.ts'), '--outDir', buildDir, '--module', 'nodenext',
      '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck'],
    { encoding: 'utf8' },
  );
  if (out.status !== 0) throw new Error(`compiling test/support/servers.ts failed:\n${out.stdout}${out.stderr}`);
  return import(pathToFileURL(join(buildDir, 'servers.js')).href);
}
