import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** kopia from KOPIA_BIN, then the project's tools/bin, then PATH. */
export function locateKopia(kopiaBin: string | undefined, pathVariable: string | undefined): string {
  if (kopiaBin) return kopiaBin;
  const local = join(projectRoot, 'tools', 'bin', 'kopia');
  if (executable(local)) return local;
  for (const dir of (pathVariable ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'kopia'))) return join(dir, 'kopia');
  }
  return 'kopia';
}
