// Turns chunks of bytes into complete lines. Log lines are hostile input, so:
// - A line longer than `maxLineBytes` is cut to that many bytes, the rest is discarded up to the next
//   newline, and the line is emitted ending in TRUNCATED_MARK. Memory stays bounded (a 1 MB line costs at
//   most `maxLineBytes` held), and the filter skips marked lines: matched as if whole, a cut line would
//   let an attacker end it with a victim's address exactly at the cut.
// - An incomplete last line is held (copied, capped) until its newline arrives in a later chunk.
// - Bytes are decoded per line with the file's encoding (see encoding.ts); invalid bytes and NULs never
//   throw, they become U+FFFD or stay as characters, and never merge two lines.
import type { Decoder } from './encoding.js';

const NEWLINE = 0x0a;

/**
 * Ends a line that was cut at the cap. A lone surrogate: no decoder of an ASCII-compatible encoding
 * produces one, so log text cannot fake the mark.
 */
export const TRUNCATED_MARK = '\udfff';
const CR = 13;

export class LineSplitter {
  private pending: Buffer | null = null;
  /** The line being held grew past the cap: its remaining bytes are discarded up to the newline. */
  private overflow = false;
  /** Reading started inside a line whose head was never seen: drop it entirely. */
  private skipping = false;

  constructor(
    private readonly decode: Decoder,
    private readonly maxLineBytes: number,
  ) {}

  /** True while bytes of an incomplete line are held. */
  get holding(): boolean {
    return this.pending !== null || this.overflow || this.skipping;
  }

  /**
   * Appends the complete lines of `chunk` (joined with any held bytes) to `out` and holds the rest.
   * Returns the index in `chunk` of its last newline, or -1 when it has none.
   */
  push(chunk: Buffer, out: string[]): number {
    const first = chunk.indexOf(NEWLINE);
    if (first === -1) {
      this.hold(chunk, 0, chunk.length);
      return -1;
    }
    let from = 0;
    if (this.skipping) {
      this.skipping = false;
      from = first + 1;
    } else if (this.holding) {
      this.hold(chunk, 0, first);
      this.emitHeld(out);
      from = first + 1;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= from) {
      // One decode and one split for the whole run of complete lines: far cheaper than a decode per line.
      // Splitting after decoding is exact because every supported encoding is ASCII-compatible.
      const lines = this.decode(chunk, from, last).split('\n');
      for (let i = 0; i < lines.length; i++) out.push(this.clean(lines[i]!));
    }
    this.hold(chunk, last + 1, chunk.length);
    return last;
  }

  /** Emits the held bytes as a line: the file has ended for good (rotated away) without a final newline. */
  flush(out: string[]): void {
    if (this.skipping) this.skipping = false;
    else if (this.holding) this.emitHeld(out);
  }

  /** Forgets held bytes (the file was truncated under them). */
  reset(): void {
    this.pending = null;
    this.overflow = false;
    this.skipping = false;
  }

  /** Discards bytes up to the next newline: reading starts inside a line whose head we never saw. */
  skipToNextLine(): void {
    this.reset();
    this.skipping = true;
  }

  private hold(chunk: Buffer, start: number, end: number): void {
    if (this.overflow || this.skipping || end <= start) return;
    const held = this.pending?.length ?? 0;
    const room = this.maxLineBytes - held;
    const take = Math.min(end - start, room);
    if (take < end - start) this.overflow = true;
    if (take <= 0) return;
    // Copies: the chunk buffer is reused for the next read.
    const part = chunk.subarray(start, start + take);
    this.pending = this.pending === null ? Buffer.from(part) : Buffer.concat([this.pending, part]);
  }

  private emitHeld(out: string[]): void {
    const held = this.pending;
    const cut = this.overflow;
    this.pending = null;
    this.overflow = false;
    const line = held === null ? '' : this.clean(this.decode(held, 0, held.length));
    out.push(cut && !line.endsWith(TRUNCATED_MARK) ? line + TRUNCATED_MARK : line);
  }

  private clean(line: string): string {
    if (line.length > this.maxLineBytes) return line.slice(0, this.maxLineBytes) + TRUNCATED_MARK;
    return line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line;
  }
}
