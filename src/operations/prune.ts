import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Removes from `root` what a completed restore did not bring back. Only called
 * after kopia restored the selected snapshot successfully. `keep` holds the
 * snapshot's relative paths. lost+found at the top stays, and so does any name
 * the listing could not represent unambiguously (a newline in it).
 */
export function removeExtras(root: string, keep: ReadonlySet<string>): { removed: number } {
  let removed = 0;
  const visit = (relative: string) => {
    const dir = relative === '' ? root : join(root, relative);
    for (const name of readdirSync(dir)) {
      if (relative === '' && name === 'lost+found') continue;
      if (name.includes('\n')) continue;
      const child = relative === '' ? name : `${relative}/${name}`;
      if (!keep.has(child)) {
        rmSync(join(root, child), { recursive: true, force: true });
        removed++;
      } else if (lstatSync(join(root, child)).isDirectory()) {
        visit(child);
      }
    }
  };
  visit('');
  return { removed };
}

/**
 * Parses `kopia ls -r <id>` output: one path per line, each starting with
 * "<id>/", directories ending with "/". Returns undefined when any line has
 * another shape: deleting on a listing we do not understand could empty the volume.
 */
export function parseListing(text: string, snapshotId: string): Set<string> | undefined {
  const prefix = `${snapshotId}/`;
  const paths = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    if (!line.startsWith(prefix)) return undefined;
    const path = line.slice(prefix.length);
    paths.add(path.endsWith('/') ? path.slice(0, -1) : path);
  }
  return paths;
}
