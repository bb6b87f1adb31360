import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** What is wrong with a file the program was told to read. */
export type FileProblem = { kind: 'unreadable'; reason: string } | { kind: 'too-large'; size: number };

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'file not found',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ELOOP: 'too many symbolic links',
  ENOTDIR: 'a parent of the path is not a directory',
};

function reasonFor(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return (code && REASONS[code]) ?? (code ? `cannot be read (${code})` : 'cannot be read');
}

function kindOf(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return REASONS['EISDIR'];
  if (st.isFIFO()) return 'is a FIFO (named pipe), not a regular file';
  if (st.isCharacterDevice()) return 'is a character device, not a regular file';
  if (st.isBlockDevice()) return 'is a block device, not a regular file';
  if (st.isSocket()) return 'is a socket, not a regular file';
  return 'is not a regular file';
}

const CHUNK_BYTES = 64 * 1024;

/**
 * Reads a regular file of at most `limit` bytes. It is opened without blocking, so a FIFO cannot
 * hang the program, and checked on the open descriptor to be a regular file (a symlink to one, as
 * Kubernetes projects Secrets and ConfigMaps, is fine), so /dev/zero cannot fill memory. Reading
 * stops one byte past the limit, so a file that grows or lies about its size is refused too.
 */
export function readRegularFile(path: string, limit: number): { data: Buffer } | { problem: FileProblem } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    return { problem: { kind: 'unreadable', reason: reasonFor(error) } };
  }
  try {
    const st = fstatSync(fd);
    const notRegular = kindOf(st);
    if (notRegular) return { problem: { kind: 'unreadable', reason: notRegular } };
    if (st.size > limit) return { problem: { kind: 'too-large', size: st.size } };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(CHUNK_BYTES);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > limit) return { problem: { kind: 'too-large', size: Math.max(total, st.size) } };
      chunks.push(buf.subarray(0, n));
    }
    return { data: Buffer.concat(chunks, total) };
  } catch (error) {
    return { problem: { kind: 'unreadable', reason: reasonFor(error) } };
  } finally {
    closeSync(fd);
  }
}

/** Why a file that kopia (not this program) will read is unusable, or undefined when it is a regular file. */
export function regularFileProblem(path: string): string | undefined {
  try {
    return kindOf(statSync(path));
  } catch (error) {
    return reasonFor(error);
  }
}
