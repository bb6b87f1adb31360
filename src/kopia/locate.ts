import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** kopia from KOPIA_BIN, then the project's tools/bin (under appDir), then PATH. */
export function locateKopia(kopiaBin: string | undefined, pathVariable: string | undefined, appDir: string | undefined): string {
  if (kopiaBin) return kopiaBin;
  const local = appDir === undefined ? undefined : join(appDir, 'tools', 'bin', 'kopia');
  if (local !== undefined && executable(local)) return local;
  for (const dir of (pathVariable ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'kopia'))) return join(dir, 'kopia');
  }
  return 'kopia';
}
