import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// The bundle lives in dist/, the sources in src/kopia/: the project's tools/bin is above either.
const localCandidates = [resolve(here, '..', 'tools', 'bin', 'kopia'), resolve(here, '..', '..', 'tools', 'bin', 'kopia')];

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
  const local = localCandidates.find(executable);
  if (local) return local;
  for (const dir of (pathVariable ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'kopia'))) return join(dir, 'kopia');
  }
  return 'kopia';
}
