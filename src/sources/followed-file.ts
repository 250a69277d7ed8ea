// One followed path, `tail -F` style. We track the open file's dev+ino and our own read offset, and on
// every poll compare them with what the path names now:
// - rename + create: the path names another inode. The old file keeps being read ("retiring") until it has
//   been idle for `rotateGraceMs` (a daemon writes to the old file until it reopens), then its held partial
//   line is emitted and it is closed; the new file is read from 0. Partial lines never cross files.
// - copytruncate: the open file is shorter than our offset with another first line (or empty), or its
//   first line changed: restart at 0.
// - shrunk in place keeping its head (its tail cut off, e.g. by an editor or `truncate -s`): what is left
//   was read already, so reading resumes at the new end (at the next line start). Restarting at 0, as
//   Fail2Ban does, counts the failures again: a near miss with 2 failures became a ban. (Lines appended
//   between the shrink and the next poll are skipped with it; a shrink while stopped restarts at 0.)
// - delete: the path is gone; the open file retires as above, and the path is watched until it reappears.
// - not yet there: opened (from 0) once it appears.
// Reads use pread into one shared chunk buffer, so a burst costs one syscall per chunk, not per line.
import type { Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { closeFd, fstatFd, openRead, readAt, readdirNames, statPath } from '../files/callback-fs.js';
import type { Decoder } from './encoding.js';
import { LineSplitter } from './line-splitter.js';
import { sha1Hex } from './sha1.js';
import type { FilePosition, PositionStore } from './source.js';

/** A first-line hash as Fail2Ban and we store it (sha1.ts). */
const SHA1_HEX_DIGITS = 40;

/** What all followed files of one source share. */
export interface FollowContext {
  readonly chunk: Buffer;
  readonly decode: Decoder;
  readonly maxLineBytes: number;
  readonly rotateGraceMs: number;
  readonly positions: PositionStore | null;
  /** A file was read to its end and closed after rotation; remembered so it is not read again. */
  retired(position: FilePosition): void;
  /** Where a file retired earlier was read to, if it is remembered. */
  retiredAt(dev: number, ino: number): FilePosition | undefined;
  /** Whether some follower of this source (this one included) has the file open. */
  claimed(dev: number, ino: number): boolean;
  /** Delivers lines of `path`; resolves when acknowledged. */
  deliver(path: string, lines: string[]): Promise<void>;
  stopped(): boolean;
}

interface OpenFile {
  /** The descriptor; closed when the file is retired, replaced or the follower closes. */
  fd: number;
  dev: number;
  ino: number;
  /** Next byte to read. */
  offset: number;
  /** Size seen at the last poll; a change triggers the in-place truncation check. */
  lastSize: number;
  splitter: LineSplitter;
  /** The raw first line with its newline (capped), once the file has one. */
  firstLine: Buffer | null;
  firstLineHash: string;
  /** When data was last read (ms), for the retirement grace period. */
  lastReadAt: number;
}

export type StartAt = 'head' | 'tail';

export class FollowedFile {
  private current: OpenFile | null = null;
  private readonly retiring: OpenFile[] = [];
  private lastError = '';
  /** The path names a file another follower still reads (see openNext): polled again until it is free. */
  private waitsForClaimed = false;

  constructor(
    readonly path: string,
    private readonly ctx: FollowContext,
  ) {}

  /** Nothing open: the path is missing and every rotated-away file has been finished. */
  idle(): boolean {
    return this.current === null && this.retiring.length === 0;
  }

  /**
   * Whether this follower must be polled again soon although its path may not change: a rotated-away file
   * is read until its grace period ends, and a file claimed by another follower is taken over once that
   * one has retired it. Neither shows in the path's stat, so the source re-polls on a timer meanwhile.
   */
  settling(): boolean {
    return this.retiring.length > 0 || this.waitsForClaimed;
  }

  /** Inodes this follower has open, so a glob does not follow a rotated file under its new name twice. */
  openInodes(): string[] {
    const all = this.current ? [this.current, ...this.retiring] : this.retiring;
    return all.map((f) => `${f.dev}:${f.ino}`);
  }

  /**
   * Opens the path for the first time. A valid saved position wins over `startAt` (no re-read, no loss);
   * a saved position for a file that has since been replaced means everything in the new file is unread.
   * `startAt` decides only when there is no saved position.
   */
  async open(startAt: StartAt, saved: FilePosition | null): Promise<void> {
    const file = await this.tryOpen();
    if (saved) {
      // At offset 0 (the file was empty when we stopped) whatever it holds now is unread.
      if (saved.offset > 0) {
        if (file && (await this.trusts(file, saved))) file.offset = saved.offset;
        else await this.resumeRotated(saved);
      }
    } else if (file && startAt === 'tail') {
      await this.seekToLastLine(file);
      // Saved at once: lines written while the daemon is down before the first batch are not skipped.
      if (!file.splitter.holding) await this.ctx.positions?.set(this.path, this.positionOf(file, file.offset));
    }
    if (file) file.lastSize = file.offset;
    this.current = file;
  }

  /** Reads whatever is new and follows rotation. Errors are returned as one line (reported once). */
  async poll(now: number): Promise<Error | null> {
    try {
      await this.pollOnce(now);
      this.lastError = '';
      return null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const message = `cannot read ${this.path}: ${code || (err as Error).message}`;
      if (message === this.lastError) return null;
      this.lastError = message;
      return new Error(message);
    }
  }

  async close(): Promise<void> {
    const all = this.current ? [this.current, ...this.retiring] : [...this.retiring];
    this.current = null;
    this.retiring.length = 0;
    await Promise.all(all.map((f) => closeFd(f.fd).catch(() => undefined)));
  }

  private async pollOnce(now: number): Promise<void> {
    for (const old of [...this.retiring]) {
      const grew = await this.readAvailable(old, now, false);
      if (!grew && now - old.lastReadAt >= this.ctx.rotateGraceMs) {
        await this.retire(old);
      }
    }
    let cur = this.current;
    if (cur) {
      const size = (await fstatFd(cur.fd)).size;
      if (size < cur.offset && size > 0 && cur.firstLine !== null && size >= cur.firstLine.length && (await this.firstLineIntact(cur))) {
        await this.resumeAtEnd(cur);
      } else if (size < cur.offset || (size !== cur.lastSize && !(await this.firstLineIntact(cur)))) {
        // Truncated in place (copytruncate): the held bytes belonged to the old content.
        cur.splitter.reset();
        cur.offset = 0;
        cur.firstLine = null;
        cur.firstLineHash = '';
      }
      await this.readAvailable(cur, now, true);
      cur.lastSize = size;
      const named = await statOrNull(this.path);
      if (named && named.dev === cur.dev && named.ino === cur.ino) return;
      // Rotated or deleted: keep draining the old file for a while, follow the new one from its start.
      cur.lastReadAt = now;
      this.retiring.push(cur);
      this.current = cur = null;
    }
    cur = await this.openNext();
    if (!cur) return;
    this.current = cur;
    await this.readAvailable(cur, now, true);
    cur.lastSize = cur.offset;
  }

  /** Reads to the end of `file`, delivering a batch per chunk. Returns whether anything was read. */
  private async readAvailable(file: OpenFile, now: number, persist: boolean): Promise<boolean> {
    const { chunk, positions } = this.ctx;
    let any = false;
    while (!this.ctx.stopped()) {
      const bytesRead = await readAt(file.fd, chunk, 0, chunk.length, file.offset);
      if (bytesRead === 0) break;
      any = true;
      const base = file.offset;
      file.offset += bytesRead;
      const lines: string[] = [];
      const lastNewline = file.splitter.push(chunk.subarray(0, bytesRead), lines);
      if (file.firstLine === null && lastNewline >= 0) await this.learnFirstLine(file);
      if (lines.length > 0) {
        await this.ctx.deliver(this.path, lines);
        if (persist && positions) {
          await positions.set(this.path, this.positionOf(file, base + lastNewline + 1));
        }
      }
      // A short read means we reached the end as it was a moment ago; skip the extra empty read.
      if (bytesRead < chunk.length) break;
    }
    if (any) file.lastReadAt = now;
    return any;
  }

  private async retire(file: OpenFile): Promise<void> {
    const lines: string[] = [];
    file.splitter.flush(lines);
    if (lines.length > 0) await this.ctx.deliver(this.path, lines);
    this.retiring.splice(this.retiring.indexOf(file), 1);
    await closeFd(file.fd).catch(() => undefined);
    this.ctx.retired(this.positionOf(file, file.offset));
  }

  /**
   * Opens the file the path names now, after a rotation or once it appears: from its start, as all of it
   * is new, unless we know it under another name. A glob like `mail.log*` sees `mail.log` rotated to
   * `mail.log.1`: while another follower (or this one) still reads that file we wait, and once it retired
   * we continue where it stopped, so renames never make a file be read twice.
   */
  private async openNext(): Promise<OpenFile | null> {
    this.waitsForClaimed = false;
    const file = await this.tryOpen();
    if (!file) return null;
    this.waitsForClaimed = this.ctx.claimed(file.dev, file.ino);
    if (this.waitsForClaimed) {
      await closeFd(file.fd);
      return null;
    }
    const known = this.ctx.retiredAt(file.dev, file.ino);
    if (known && (await this.trusts(file, known))) file.offset = known.offset;
    return file;
  }

  private positionOf(file: OpenFile, offset: number): FilePosition {
    return { dev: file.dev, ino: file.ino, offset, firstLineHash: file.firstLineHash };
  }

  private async tryOpen(): Promise<OpenFile | null> {
    let fd: number;
    try {
      fd = await openRead(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const st = await fstatFd(fd);
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      return this.wrap(fd, st);
    } catch (err) {
      await closeFd(fd).catch(() => undefined);
      throw err;
    }
  }

  private wrap(fd: number, st: Stats): OpenFile {
    return {
      fd,
      dev: st.dev,
      ino: st.ino,
      offset: 0,
      lastSize: 0,
      splitter: new LineSplitter(this.ctx.decode, this.ctx.maxLineBytes),
      firstLine: null,
      firstLineHash: '',
      lastReadAt: 0,
    };
  }

  /** Whether a saved position still describes `file`: same first line (or same inode when unknown). */
  private async trusts(file: OpenFile, saved: FilePosition): Promise<boolean> {
    const size = (await fstatFd(file.fd)).size;
    if (saved.offset > size) return false;
    await this.learnFirstLine(file);
    // The MD5 that portcullis stored before it matched Fail2Ban's SHA-1 (32 hex digits, not 40) says
    // nothing about the content now, as no hash at all: then the inode decides.
    if (saved.firstLineHash.length === SHA1_HEX_DIGITS) {
      if (saved.firstLineHash !== file.firstLineHash) return false;
    } else if (saved.dev !== file.dev || saved.ino !== file.ino) return false;
    // Saved offsets sit just past a newline (or at the end of a file read to its end); else another file.
    if (saved.offset === size) return true;
    const probe = Buffer.alloc(1);
    await readAt(file.fd, probe, 0, 1, saved.offset - 1);
    return probe[0] === 0x0a;
  }

  /**
   * The file we were reading when the daemon stopped was rotated meanwhile. If it still sits next to the
   * path under a rotated name (`mail.log.1`, `mail.log-20240101`), finish it from the saved offset.
   */
  private async resumeRotated(saved: FilePosition): Promise<void> {
    const dir = dirname(this.path);
    const base = basename(this.path);
    let names: string[];
    try {
      names = await readdirNames(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name === base || !name.startsWith(base)) continue;
      const st = await statOrNull(join(dir, name));
      if (!st || st.dev !== saved.dev || st.ino !== saved.ino) continue;
      let fd: number;
      try {
        fd = await openRead(join(dir, name));
      } catch {
        return;
      }
      let trusted = false;
      try {
        const file = this.wrap(fd, await fstatFd(fd));
        trusted = await this.trusts(file, saved);
        if (trusted) {
          file.offset = saved.offset;
          this.retiring.push(file);
        }
      } finally {
        if (!trusted) await closeFd(fd).catch(() => undefined);
      }
      return;
    }
  }

  /**
   * Continues after what is left of a file shrunk in place: all of it was read before. A line cut in
   * the middle by the shrink is finished by whatever is written next, which is skipped up to its newline.
   */
  private async resumeAtEnd(file: OpenFile): Promise<void> {
    const size = (await fstatFd(file.fd)).size;
    file.splitter.reset();
    file.offset = size;
    const probe = Buffer.alloc(1);
    await readAt(file.fd, probe, 0, 1, size - 1);
    if (probe[0] !== 0x0a) file.splitter.skipToNextLine();
    else await this.ctx.positions?.set(this.path, this.positionOf(file, size));
  }

  /** Starts at the beginning of the last line (which may still be being written), not mid-line. */
  private async seekToLastLine(file: OpenFile): Promise<void> {
    const size = (await fstatFd(file.fd)).size;
    if (size === 0) return;
    const span = Math.min(size, this.ctx.maxLineBytes);
    const tail = Buffer.alloc(span);
    await readAt(file.fd, tail, 0, span, size - span);
    const nl = tail.lastIndexOf(0x0a);
    if (nl >= 0) {
      file.offset = size - span + nl + 1;
    } else {
      file.offset = size;
      if (span < size) file.splitter.skipToNextLine();
      else file.offset = 0; // the whole file is one unfinished line: it is new, read it when complete
    }
    await this.learnFirstLine(file);
  }

  /** Reads the first line (capped) and its SHA-1, the way Fail2Ban identifies a file's content (see sha1.ts). */
  private async learnFirstLine(file: OpenFile): Promise<void> {
    const cap = this.ctx.maxLineBytes;
    const head = Buffer.alloc(Math.min(cap, 4096));
    let bytesRead = await readAt(file.fd, head, 0, head.length, 0);
    let buf = head.subarray(0, bytesRead);
    let nl = buf.indexOf(0x0a);
    if (nl === -1 && bytesRead === head.length && head.length < cap) {
      const big = Buffer.alloc(cap);
      bytesRead = await readAt(file.fd, big, 0, cap, 0);
      buf = big.subarray(0, bytesRead);
      nl = buf.indexOf(0x0a);
    }
    // A first line longer than the cap is identified by its first `cap` bytes, which cannot change.
    const line = nl >= 0 ? buf.subarray(0, nl + 1) : buf.length >= cap ? buf : null;
    if (line === null) return;
    file.firstLine = Buffer.from(line);
    file.firstLineHash = sha1Hex(line);
  }

  /** Whether the file still starts with the first line we saw; a copytruncate followed by quick writes
   * can grow the file past our offset before we notice the truncation, but its first line differs. */
  private async firstLineIntact(file: OpenFile): Promise<boolean> {
    const first = file.firstLine;
    if (first === null || file.offset === 0) return true;
    const now = Buffer.alloc(first.length);
    const bytesRead = await readAt(file.fd, now, 0, first.length, 0);
    return bytesRead === first.length && now.equals(first);
  }
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await statPath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}
