// Netlink message framing for nfnetlink (the kernel's netfilter netlink family): headers, attributes,
// batches, and reading replies back. Pure byte work, unit-tested; nftables-netlink.ts says what goes in
// the messages and native/nfnetlink.c carries them to the kernel.
//
// Hand-written because no well-kept Node library speaks nftables netlink (searched): `netlink` on npm
// (mildsunrise/node_netlink) says it is early stage without API stability and covers rtnetlink and
// nl80211, not nftables sets; `linux-libnftables` wraps libnftables, which is nft itself (the same
// whole-ruleset cache) and needs libnftables-dev and cmake. Node has no AF_NETLINK sockets of its own.
// We need four message types, so the framing is ours and the socket is native/nfnetlink.c.

export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_CREATE = 0x400;
export const NLA_F_NESTED = 0x8000;

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
export const NFNL_SUBSYS_NFTABLES = 10;

const HEADER = 16; // struct nlmsghdr
const NFGENMSG = 4; // struct nfgenmsg

const align = (n: number): number => (n + 3) & ~3;

/** Builds netlink messages into one growing buffer (a batch of 100,000 elements is a few MB). */
export class MessageWriter {
  private buf = Buffer.alloc(64 * 1024);
  private at = 0;
  private seq: number;

  constructor(firstSeq = 1) {
    this.seq = firstSeq;
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const grown = Buffer.alloc(size);
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }

  /** Open messages and nested attributes, innermost last: where each starts, and which it is. */
  private readonly open: Array<{ at: number; nest: boolean }> = [];

  /** Starts a message with an nfgenmsg header; returns its sequence number. Close it with end(). */
  begin(type: number, flags: number, family: number, resId = 0): number {
    this.room(HEADER + NFGENMSG);
    const start = this.at;
    this.buf.writeUInt32LE(0, start);
    this.buf.writeUInt16LE(type, start + 4);
    this.buf.writeUInt16LE(flags, start + 6);
    this.buf.writeUInt32LE(this.seq, start + 8);
    this.buf.writeUInt32LE(0, start + 12);
    this.buf.writeUInt8(family, start + 16);
    this.buf.writeUInt8(0, start + 17); // NFNETLINK_V0
    this.buf.writeUInt16BE(resId, start + 18);
    this.at += HEADER + NFGENMSG;
    this.open.push({ at: start, nest: false });
    return this.seq++;
  }

  /** Starts a nested attribute; close it with end(). */
  nest(type: number): void {
    this.room(4);
    this.buf.writeUInt16LE(type | NLA_F_NESTED, this.at + 2);
    this.open.push({ at: this.at, nest: true });
    this.at += 4;
  }

  /** Closes the innermost open message (32-bit length) or nested attribute (16-bit length). */
  end(): void {
    const top = this.open.pop();
    if (top === undefined) throw new Error('MessageWriter.end() without begin() or nest()');
    if (top.nest) this.buf.writeUInt16LE(this.at - top.at, top.at);
    else this.buf.writeUInt32LE(this.at - top.at, top.at);
  }

  /**
   * Room for `n` bytes, written by the caller into `buffer` at the offset returned (hot loops that
   * encode fixed layouts in place; no object per call).
   */
  reserve(n: number): number {
    this.room(n);
    const at = this.at;
    this.at += n;
    return at;
  }

  /** The buffer reserve() made room in (it changes when the writer grows). */
  get buffer(): Buffer {
    return this.buf;
  }

  attr(type: number, payload: Uint8Array): void {
    const len = 4 + payload.length;
    this.room(align(len));
    this.buf.writeUInt16LE(len, this.at);
    this.buf.writeUInt16LE(type, this.at + 2);
    this.buf.set(payload, this.at + 4);
    this.buf.fill(0, this.at + len, this.at + align(len));
    this.at += align(len);
  }

  string(type: number, value: string): void {
    this.attr(type, Buffer.from(`${value}\0`));
  }

  u32be(type: number, value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.attr(type, b);
  }

  u64be(type: number, value: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(value);
    this.attr(type, b);
  }

  /** The messages that open and close a transaction: everything between is applied or nothing. */
  batchBegin(): void {
    this.begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
    this.end();
  }

  batchEnd(): void {
    this.begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
    this.end();
  }

  finish(): Buffer {
    if (this.open.length > 0) throw new Error('MessageWriter.finish() with an open message or nest');
    return this.buf.subarray(0, this.at);
  }
}

/** One netlink message of a reply: its header fields and payload after the nlmsghdr. */
export interface Message {
  type: number;
  flags: number;
  seq: number;
  payload: Buffer;
}

export function parseMessages(replies: Buffer): Message[] {
  const out: Message[] = [];
  let at = 0;
  while (at + HEADER <= replies.length) {
    const len = replies.readUInt32LE(at);
    if (len < HEADER || at + len > replies.length) break;
    out.push({
      type: replies.readUInt16LE(at + 4),
      flags: replies.readUInt16LE(at + 6),
      seq: replies.readUInt32LE(at + 8),
      payload: replies.subarray(at + HEADER, at + len),
    });
    at += align(len);
  }
  return out;
}

/** The attributes in `buf` (type without the nested flag → payload), later ones winning. */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  for (const [type, payload] of attrList(buf)) attrs.set(type, payload);
  return attrs;
}

/** The attributes in `buf` in order (a list's entries share one type). */
export function attrList(buf: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  let at = 0;
  while (at + 4 <= buf.length) {
    const len = buf.readUInt16LE(at);
    if (len < 4 || at + len > buf.length) break;
    out.push([buf.readUInt16LE(at + 2) & ~NLA_F_NESTED & 0x7fff, buf.subarray(at + 4, at + len)]);
    at += align(len);
  }
  return out;
}

/** The error code of an NLMSG_ERROR message: 0 is an acknowledgement, otherwise a positive errno. */
function ackError(message: Message): number {
  return -message.payload.readInt32LE(0);
}

const ERRNO_TEXT: Readonly<Record<number, string>> = {
  1: 'Operation not permitted',
  2: 'No such file or directory',
  12: 'Cannot allocate memory',
  16: 'Device or resource busy',
  17: 'File exists',
  22: 'Invalid argument',
  34: 'Numerical result out of range',
  39: 'interval overlaps with an existing one',
  95: 'Operation not supported',
  105: 'No buffer space available',
};

export function errnoText(errno: number): string {
  return ERRNO_TEXT[errno] ?? `error ${errno}`;
}

/**
 * Checks a batch's replies: every message in `acked` (sequence numbers sent with NLM_F_ACK) must be
 * acknowledged with 0. Returns null when all were, else one line saying what the kernel refused.
 */
export function batchFailure(replies: Buffer, acked: readonly number[]): string | null {
  const pending = new Set(acked);
  for (const m of parseMessages(replies)) {
    if (m.type !== NLMSG_ERROR) continue;
    const errno = ackError(m);
    if (errno !== 0) return `Could not process rule: ${errnoText(errno)}`;
    pending.delete(m.seq);
  }
  return pending.size === 0 ? null : `netlink: ${pending.size} message(s) of the batch were not acknowledged`;
}
