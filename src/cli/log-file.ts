/**
 * `relay start --log-file FILE`: the relay's output appended to FILE, which is renamed to FILE.1 (FILE.1 to FILE.2…,
 * the oldest dropped) once it reaches its size limit. Synchronous appends: a line is on disk when the event is
 * reported, and a crash loses nothing already said.
 */
import { fileProblem, UsageError } from '../errors.js';
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const LOG_FILES_KEPT = 5;

export interface LogFile {
  /** Looks enough like a stream for Output (which only writes, and asks whether it is a terminal). */
  stream: NodeJS.WriteStream;
  close(): void;
}

export function openLogFile(path: string, options: { maxBytes?: number; keep?: number; stamp?: () => string } = {}): LogFile {
  const maxBytes = options.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
  const keep = options.keep ?? LOG_FILES_KEPT;
  // A missing folder is created, owner-only like the file: the log holds what customers wrote.
  let fd: number;
  try {
    makeFolders(dirname(path));
    fd = openSync(path, 'a', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // (mkdir says EEXIST, or ENOTDIR, when a part of the path is a file.)
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a part of its path is a file, not a folder' : fileProblem(error);
    throw new UsageError(`--log-file ${path}: cannot write it (${why}).`);
  }
  let size = fstatSync(fd).size;

  const rotate = () => {
    closeSync(fd);
    rmSync(`${path}.${keep}`, { force: true });
    for (let n = keep - 1; n >= 1; n -= 1) {
      if (existsSync(`${path}.${n}`)) renameSync(`${path}.${n}`, `${path}.${n + 1}`);
    }
    renameSync(path, `${path}.1`);
    fd = openSync(path, 'a', 0o600);
    size = 0;
  };

  const write = (chunk: string | Uint8Array): boolean => {
    let text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (options.stamp) {
      // Each line starts with the time it was written (Output writes whole lines).
      const at = options.stamp();
      text = text
        .split('\n')
        .map((line, index, all) => (index === all.length - 1 && line === '' ? line : `${at} ${line}`))
        .join('\n');
    }
    const bytes = Buffer.byteLength(text);
    if (size > 0 && size + bytes > maxBytes) rotate();
    appendFileSync(fd, text);
    size += bytes;
    return true;
  };

  const stream = { write, isTTY: false } as unknown as NodeJS.WriteStream;
  return {
    stream,
    close: () => closeSync(fd),
  };
}

/**
 * Creates `dir` and its missing parents, owner-only, one at a time: Node's `recursive` mkdir never returns under a
 * file system that refuses new folders without saying ENOENT the way it expects (`/proc/nope` spins for ever).
 */
function makeFolders(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeFolders(parent);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    // (another process made it meanwhile)
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !existsSync(dir)) throw error;
  }
}
