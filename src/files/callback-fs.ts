// Promises over node:fs's callback functions, for the daemon's file reading (sources/followed-file.ts,
// files/glob.ts). node:fs/promises would do, but loading it also loads readline's interface, the string
// decoder, fs/dir and the recursive watcher: ~0.4 MB of idle RSS the daemon never uses. A descriptor is a
// plain number here, not a FileHandle that closes itself on GC: callers close it on every path.
import { close, fstat, open, read, readdir, type Stats, stat } from 'node:fs';

function settle<T>(resolve: (value: T) => void, reject: (err: Error) => void) {
  return (err: NodeJS.ErrnoException | null, value: T) => (err ? reject(err) : resolve(value));
}

/** Opens `path` for reading; resolves to its descriptor. */
export function openRead(path: string): Promise<number> {
  return new Promise((resolve, reject) => open(path, 'r', settle(resolve, reject)));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (err) => (err ? reject(err) : resolve())));
}

export function fstatFd(fd: number): Promise<Stats> {
  return new Promise((resolve, reject) => fstat(fd, settle(resolve, reject)));
}

/** pread(2): up to `length` bytes at `position` into `buffer` at `offset`; resolves to the count read. */
export function readAt(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buffer, offset, length, position, settle(resolve, reject)));
}

export function statPath(path: string): Promise<Stats> {
  return new Promise((resolve, reject) => stat(path, settle(resolve, reject)));
}

export function readdirNames(path: string): Promise<string[]> {
  return new Promise((resolve, reject) => readdir(path, settle(resolve, reject)));
}
