// Generates the benchmark's source data once and reuses it while its marker matches.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * 1,000 (or `count`) files of 1-8 KB in a two-level tree, plus a `changes/` dir the
 * benchmark rewrites before each backup so every run has something new to upload.
 */
export function ensureSmallFiles(dir, count) {
  const marker = `${dir}.complete`;
  const expected = `files=${count}\n`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === expected) return;
  rmSync(dir, { recursive: true, force: true });
  for (let i = 0; i < count; i++) {
    const sub = join(dir, `d${Math.floor(i / 100)}`, `e${Math.floor(i / 10) % 10}`);
    if (i % 10 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.bin`), randomBytes(1024 + ((i * 7919) % 7168)));
  }
  mkdirSync(join(dir, 'changes'), { recursive: true });
  writeFileSync(join(dir, 'changes', 'counter.txt'), '0\n');
  writeFileSync(marker, expected);
}

/** A small change: one rewritten file with a new unique payload. */
export function touchSmallFiles(dir, tag) {
  writeFileSync(join(dir, 'changes', 'counter.txt'), `${tag} ${randomBytes(2048).toString('hex')}\n`);
}

/**
 * `totalBytes` split over `files` files of AES-CTR keystream: incompressible and free of
 * repeats (a repeated block would be deduplicated by kopia's content-defined chunking,
 * whatever header it carried), and about 1 GB/s to produce.
 */
export function ensureLargeFiles(dir, totalBytes, files) {
  const marker = `${dir}.complete`;
  const expected = `bytes=${totalBytes} files=${files}\n`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === expected) return false;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const perFile = Math.floor(totalBytes / files);
  const block = 16 * 1024 * 1024;
  const zeros = Buffer.alloc(block);
  for (let f = 0; f < files; f++) {
    const key = createHash('sha256').update(`kopia-mover bench ${f}`).digest().subarray(0, 16);
    const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    const fd = openSync(join(dir, `large-${f}.bin`), 'w');
    try {
      for (let written = 0; written < perFile; ) {
        const n = Math.min(block, perFile - written);
        const chunk = cipher.update(n === block ? zeros : zeros.subarray(0, n));
        writeSync(fd, chunk);
        written += n;
      }
    } finally {
      closeSync(fd);
    }
  }
  writeFileSync(marker, expected);
  return true;
}

/**
 * `count` files of a few bytes in directories of 500: a volume of many small files, where the
 * time goes to walking the tree, not to reading data.
 */
export function ensureManyFiles(dir, count) {
  const marker = `${dir}.complete`;
  const expected = `files=${count}\n`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === expected) return false;
  rmSync(dir, { recursive: true, force: true });
  for (let i = 0; i < count; i++) {
    const sub = join(dir, `d${Math.floor(i / 500)}`);
    if (i % 500 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), `kopia-mover bench file ${i}\n`);
  }
  writeFileSync(marker, expected);
  return true;
}
