import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Every entry under `root` with its type, mode and content digest, keyed by its relative path as
 * hex bytes (names that are not UTF-8 stay exact). Never follows a symlink; folders listed in
 * `skip` (absolute paths) are left out with all they hold.
 */
export function fingerprint(root: string, skip: readonly (string | Buffer)[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const skipped = new Set(skip.map((p) => (typeof p === 'string' ? Buffer.from(p) : p).toString('hex')));
  const walk = (dir: Buffer, relative: Buffer) => {
    for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const path = Buffer.concat([dir, Buffer.from('/'), name]);
      if (skipped.has(path.toString('hex'))) continue;
      const rel = relative.length === 0 ? name : Buffer.concat([relative, Buffer.from('/'), name]);
      const st = lstatSync(path);
      const key = rel.toString('hex');
      if (st.isSymbolicLink()) out.set(key, `link ${readlinkSync(path, { encoding: 'buffer' }).toString('hex')}`);
      else if (st.isDirectory()) {
        out.set(key, `dir ${(st.mode & 0o7777).toString(8)}`);
        walk(path, rel);
      } else if (st.isFile()) out.set(key, `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
      else out.set(key, `other ${st.mode.toString(8)}`);
    }
  };
  walk(Buffer.from(root), Buffer.alloc(0));
  return out;
}

/** Names and contents only (what a restore promises to reproduce), for comparing a target with a source. */
export function contents(root: string, skip: readonly (string | Buffer)[] = []): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of fingerprint(root, skip)) out.set(key, value.startsWith('dir ') ? 'dir' : value.replace(/^file \d+ /, 'file '));
  return out;
}

/** A map's differences, readable in a failed expectation (keys shown as text where they are UTF-8). */
export function differences(expected: Map<string, string>, actual: Map<string, string>): string[] {
  const shown = (hex: string) => JSON.stringify(Buffer.from(hex, 'hex').toString('latin1'));
  const out: string[] = [];
  for (const [key, value] of expected) if (actual.get(key) !== value) out.push(`${shown(key)}: ${value} -> ${actual.get(key) ?? 'missing'}`);
  for (const [key, value] of actual) if (!expected.has(key)) out.push(`${shown(key)}: added ${value}`);
  return out;
}
