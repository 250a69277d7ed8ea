// Set elements through netlink instead of the nft binary. nft 1.0.6 reads the whole ruleset, every
// element of every set, before each command: 0.45 s per command once 100,000 bans are held, where the
// kernel itself takes about a millisecond for one element. So element writes and reads go straight to
// the kernel here, as the messages nft itself sends (captured with strace, see the unit tests); tables,
// chains, sets and rules are still made by `nft -f -`, and nftables.ts falls back to it for elements
// too when this path is unavailable or refused.
//
// Interval sets (DMS's `flags interval`) hold a range as two elements: its first address, and the
// address after its last flagged NFT_SET_ELEM_INTERVAL_END; a range reaching the top of the address
// space has no end element, and nft marks its start "open" in the element's user data, which it needs
// to print the range as a prefix. Plain (hash) sets hold the one key.
import type { Address, IpFamily } from './address.js';
import { parseAddress } from './address.js';
import type { KernelEntry } from './firewall.js';
import {
  batchFailure,
  errnoText,
  MessageWriter,
  NFNL_SUBSYS_NFTABLES,
  NLA_F_NESTED,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseAttrs,
  parseMessages,
} from './nfnetlink.js';
import { type ElementAdd, MAX_ELEMENT_TIMEOUT } from './nftables-script.js';
import { loadAddon } from '../native-addon.js';

const NFPROTO_INET = 1;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_GETSETELEM = 13;
const NFT_MSG_DELSETELEM = 14;
const msgType = (m: number) => (NFNL_SUBSYS_NFTABLES << 8) | m;

// enum nft_set_elem_list_attributes
const LIST_TABLE = 1;
const LIST_SET = 2;
const LIST_ELEMENTS = 3;
// enum nft_set_elem_attributes
const ELEM_KEY = 1;
const ELEM_FLAGS = 3;
const ELEM_TIMEOUT = 4;
const ELEM_EXPIRATION = 5;
const ELEM_USERDATA = 6;
const DATA_VALUE = 1;
const INTERVAL_END = 1;
/** nft's user data on the start of a range that reaches the top: NFTNL_UDATA_SET_ELEM_FLAGS = open. */
const OPEN_INTERVAL = Buffer.from([1, 4, 1, 0, 0, 0]);

/**
 * Addresses per message. An attribute's length is 16 bits, so one message's element list must stay
 * under 64 KiB: 500 IPv6 ranges with timeouts take about 40 KiB.
 */
const PER_MESSAGE = 500;

/** One of our sets and how it stores addresses. */
export interface SetRef {
  table: string;
  set: string;
  family: IpFamily;
  /** `flags interval`: ranges as start and end elements; false for a plain hash set (single keys). */
  interval: boolean;
  /** `flags timeout`: element timeouts are sent (the set refuses them otherwise). */
  timeouts: boolean;
}

export interface SetChange {
  set: SetRef;
  remove: readonly Address[];
  add: readonly ElementAdd[];
}

function keyBytes(value: bigint, family: IpFamily): Buffer {
  const b = Buffer.alloc(family === 4 ? 4 : 16);
  for (let i = b.length - 1; i >= 0; i--) {
    b[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return b;
}

/** The highest address of each family: a range that ends there has no end element (see writeElements). */
const TOP = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n } as const;

/** Writes NFTA_SET_ELEM_KEY { NFTA_DATA_VALUE = value } for an IPv6 address at `at`; returns the offset after it. */
function writeKey6(buf: Buffer, at: number, value: bigint): number {
  buf.writeUInt16LE(24, at);
  buf.writeUInt16LE(ELEM_KEY | NLA_F_NESTED, at + 2);
  buf.writeUInt16LE(20, at + 4);
  buf.writeUInt16LE(DATA_VALUE, at + 6);
  for (let i = 0; i < 4; i++) buf.writeUInt32BE(Number((value >> BigInt(96 - 32 * i)) & 0xffffffffn), at + 8 + 4 * i);
  return at + 24;
}

/** The same for an IPv4 address, as a number (`last + 1` of a range needs no bigint then). */
function writeKey4(buf: Buffer, at: number, value: number): number {
  buf.writeUInt16LE(12, at);
  buf.writeUInt16LE(ELEM_KEY | NLA_F_NESTED, at + 2);
  buf.writeUInt16LE(8, at + 4);
  buf.writeUInt16LE(DATA_VALUE, at + 6);
  buf.writeUInt32BE(value, at + 8);
  return at + 12;
}

/**
 * Writes one address's elements in place (100,000 of them per batch at start-up); `index` numbers them
 * within the message as libnftnl does. Layout, as nft sends it: start { [TIMEOUT], KEY, [USERDATA open] },
 * end { FLAGS = INTERVAL_END, KEY = last + 1 }.
 */
function writeElements(w: MessageWriter, set: SetRef, address: Address, timeout: number | null, index: number): number {
  const v4 = set.family === 4;
  const keyAttr = v4 ? 12 : 24;
  const open = set.interval && address.last === TOP[set.family];
  const startLen = 4 + (timeout === null ? 0 : 12) + keyAttr + (open ? 12 : 0);
  const endLen = set.interval && !open ? 4 + 8 + keyAttr : 0;
  let o = w.reserve(startLen + endLen);
  const buf = w.buffer;
  buf.writeUInt16LE(startLen, o);
  buf.writeUInt16LE(index++ | NLA_F_NESTED, o + 2);
  o += 4;
  if (timeout !== null) {
    buf.writeUInt16LE(12, o);
    buf.writeUInt16LE(ELEM_TIMEOUT, o + 2);
    buf.writeBigUInt64BE(BigInt(timeout) * 1000n, o + 4);
    o += 12;
  }
  o = v4 ? writeKey4(buf, o, Number(address.first)) : writeKey6(buf, o, address.first);
  if (open) {
    buf.writeUInt16LE(4 + OPEN_INTERVAL.length, o);
    buf.writeUInt16LE(ELEM_USERDATA, o + 2);
    OPEN_INTERVAL.copy(buf, o + 4);
    buf.fill(0, o + 4 + OPEN_INTERVAL.length, o + 12);
    o += 12;
  }
  if (endLen > 0) {
    buf.writeUInt16LE(endLen, o);
    buf.writeUInt16LE(index++ | NLA_F_NESTED, o + 2);
    buf.writeUInt16LE(8, o + 4);
    buf.writeUInt16LE(ELEM_FLAGS, o + 6);
    buf.writeUInt32BE(INTERVAL_END, o + 8);
    if (v4) writeKey4(buf, o + 12, Number(address.last) + 1);
    else writeKey6(buf, o + 12, address.last + 1n);
  }
  return index;
}

/** Appends messages of `type` for the entries, PER_MESSAGE at a time; returns their sequence numbers. */
function elementMessages(w: MessageWriter, type: number, set: SetRef, entries: ReadonlyArray<{ address: Address; timeout: number | null }>): number[] {
  const seqs: number[] = [];
  const flags = NLM_F_REQUEST | NLM_F_ACK | (type === NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
  for (let i = 0; i < entries.length; i += PER_MESSAGE) {
    seqs.push(w.begin(msgType(type), flags, NFPROTO_INET));
    w.string(LIST_TABLE, set.table);
    w.string(LIST_SET, set.set);
    w.nest(LIST_ELEMENTS);
    let index = 1;
    const end = Math.min(i + PER_MESSAGE, entries.length);
    for (let k = i; k < end; k++) {
      const e = entries[k] as { address: Address; timeout: number | null };
      index = writeElements(w, set, e.address, e.timeout, index);
    }
    w.end();
    w.end();
  }
  return seqs;
}

/**
 * One transaction for the changes. A removal is written as add-then-delete, so an element the kernel no
 * longer holds (timed out, deleted by hand) does not fail the batch: the add makes it, the delete takes
 * it away. Re-adding an element that exists is not an error (no NLM_F_EXCL). Removals come first, so a
 * CIDR can replace the addresses it covers in one transaction. Every element message asks for an
 * acknowledgement; `acked` lists them for batchFailure().
 */
export function elementBatch(changes: readonly SetChange[], firstSeq = 1): { request: Buffer; acked: number[] } {
  const w = new MessageWriter(firstSeq);
  const acked: number[] = [];
  w.batchBegin();
  for (const { set, remove, add } of changes) {
    const gone = remove.map((address) => ({ address, timeout: null }));
    acked.push(...elementMessages(w, NFT_MSG_NEWSETELEM, set, gone));
    acked.push(...elementMessages(w, NFT_MSG_DELSETELEM, set, gone));
    const added = add.map((e) => ({
      address: e.address,
      timeout: set.timeouts && e.timeout !== null && e.timeout <= MAX_ELEMENT_TIMEOUT ? e.timeout : null,
    }));
    acked.push(...elementMessages(w, NFT_MSG_NEWSETELEM, set, added));
  }
  w.batchEnd();
  return { request: w.finish(), acked };
}

/** The request that dumps a set's elements. */
export function dumpRequest(set: Pick<SetRef, 'table' | 'set'>, seq = 1): Buffer {
  const w = new MessageWriter(seq);
  w.begin(msgType(NFT_MSG_GETSETELEM), NLM_F_REQUEST | NLM_F_DUMP, NFPROTO_INET);
  w.string(LIST_TABLE, set.table);
  w.string(LIST_SET, set.set);
  w.end();
  return w.finish();
}

/** The request that asks whether the set holds an element starting at `address` (nft's `get element`). */
export function getRequest(set: SetRef, address: Address, seq = 1): Buffer {
  const w = new MessageWriter(seq);
  w.begin(msgType(NFT_MSG_GETSETELEM), NLM_F_REQUEST | NLM_F_ACK, NFPROTO_INET);
  w.string(LIST_TABLE, set.table);
  w.string(LIST_SET, set.set);
  w.nest(LIST_ELEMENTS);
  writeElements(w, { ...set, interval: false }, address, null, 1); // the key alone, as nft sends it
  w.end();
  w.end();
  return w.finish();
}

/** The kernel refused a request; `errno` says why (2, ENOENT: the set does not exist). */
export class NetlinkRefusal extends Error {
  constructor(readonly errno: number) {
    super(`Could not process rule: ${errnoText(errno)}`);
  }
}

/**
 * A key is a number for IPv4 and a bigint for IPv6: a dump of 100,000 IPv4 bans holds 200,000 elements,
 * and BigInt keys made reading, sorting and printing them about twice as slow (after a kill -9 the
 * daemon waits for this parse before it can answer).
 */
type Key = number | bigint;

interface RawElement<K extends Key> {
  key: K;
  end: boolean;
  /** Remaining ms, or null. */
  expiration: number | null;
}

/** Canonical text of the IPv4 range [first, last] when it is one CIDR block, else null (not ours). */
function rangeText4(first: number, last: number): string | null {
  const size = last - first + 1;
  const hostBits = Math.round(Math.log2(size));
  if (size <= 0 || 2 ** hostBits !== size || first % size !== 0) return null;
  const text = `${first >>> 24}.${(first >>> 16) & 255}.${(first >>> 8) & 255}.${first & 255}`;
  return hostBits === 0 ? text : `${text}/${32 - hostBits}`;
}

/** The same for IPv6. */
function rangeText6(first: bigint, last: bigint): string | null {
  const size = last - first + 1n;
  if (size <= 0n || (size & (size - 1n)) !== 0n || first % size !== 0n) return null;
  const prefix = 128 - (size.toString(2).length - 1);
  const key = keyBytes(first, 6);
  const text = Array.from({ length: 8 }, (_, i) => key.readUInt16BE(i * 2).toString(16)).join(':');
  return parseAddress(prefix === 128 ? text : `${text}/${prefix}`)?.text ?? null;
}

/** One element's key, INTERVAL_END flag and expiration, walked in place (a dump holds 200,000). */
function readElement(buf: Buffer, start: number, end: number, family: IpFamily): RawElement<Key> | null {
  let key: Key | null = null;
  let flags = 0;
  let expiration: number | null = null;
  for (let at = start; at + 4 <= end; ) {
    const len = buf.readUInt16LE(at);
    if (len < 4) break;
    const type = buf.readUInt16LE(at + 2) & 0x7fff;
    if (type === ELEM_KEY && len >= 12) {
      const size = buf.readUInt16LE(at + 4) - 4; // the nested NFTA_DATA_VALUE
      if (size === 4 && family === 4) key = buf.readUInt32BE(at + 8);
      else if (size === 16 && family === 6) key = (buf.readBigUInt64BE(at + 8) << 64n) | buf.readBigUInt64BE(at + 16);
    } else if (type === ELEM_FLAGS && len >= 8) flags = buf.readUInt32BE(at + 4);
    else if (type === ELEM_EXPIRATION && len >= 12) expiration = Number(buf.readBigUInt64BE(at + 4));
    at += (len + 3) & ~3;
  }
  return key === null ? null : { key, end: (flags & INTERVAL_END) !== 0, expiration };
}

/** True when `replies` hold a dump's end (NLMSG_DONE) or its error. */
export function dumpEnded(replies: Buffer): boolean {
  for (const m of parseMessages(replies)) if (m.type === NLMSG_DONE || m.type === NLMSG_ERROR) return true;
  return false;
}

/**
 * The elements of a set dump, as the addresses and CIDRs they stand for. Interval sets: each start
 * pairs with the next end above it (adjacent ranges share a key: the end sorts first), a start without
 * one runs to the top; lone ends (nft writes one at 0 into an empty set) and ranges that are not a CIDR
 * block (not written by us) are skipped, as nftables-listing.ts skips them.
 */
export function parseDump(replies: Buffer, set: Pick<SetRef, 'family' | 'interval'>): KernelEntry[] {
  const raw: RawElement<Key>[] = [];
  for (const m of parseMessages(replies)) {
    if (m.type === NLMSG_ERROR) {
      const errno = -m.payload.readInt32LE(0);
      if (errno !== 0) throw new NetlinkRefusal(errno);
      continue;
    }
    if (m.type !== msgType(NFT_MSG_NEWSETELEM)) continue;
    const list = parseAttrs(m.payload.subarray(4)).get(LIST_ELEMENTS);
    if (!list) continue;
    for (let at = 0; at + 4 <= list.length; ) {
      const len = list.readUInt16LE(at);
      if (len < 4) break;
      const e = readElement(list, at + 4, Math.min(at + len, list.length), set.family);
      if (e) raw.push(e);
      at += (len + 3) & ~3;
    }
  }
  return set.family === 4
    ? ranges(raw as RawElement<number>[], set.interval, (k) => k - 1, 2 ** 32 - 1, rangeText4)
    : ranges(raw as RawElement<bigint>[], set.interval, (k) => k - 1n, (1n << 128n) - 1n, rangeText6);
}

/** Pairs an interval set's starts and ends (see parseDump); `below` is the key before, `top` the last one. */
function ranges<K extends Key>(
  raw: RawElement<K>[],
  interval: boolean,
  below: (key: K) => K,
  top: K,
  rangeText: (first: K, last: K) => string | null,
): KernelEntry[] {
  const entries: KernelEntry[] = [];
  const push = (first: K, last: K, expiration: number | null) => {
    const text = rangeText(first, last);
    if (text !== null) entries.push({ text, expires: expiration === null ? null : Math.round(expiration / 1000) });
  };
  if (!interval) {
    for (const e of raw) push(e.key, e.key, e.expiration);
    return entries;
  }
  raw.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.end === b.end ? 0 : a.end ? -1 : 1));
  let open: RawElement<K> | null = null;
  for (const e of raw) {
    if (!e.end) {
      if (open) push(open.key, below(e.key), open.expiration); // a start after a start: the first ran up to it
      open = e;
    } else if (open) {
      push(open.key, below(e.key), open.expiration);
      open = null;
    }
  }
  if (open) push(open.key, top, open.expiration);
  return entries;
}

/** Sends a request and returns every reply message (native/nfnetlink.c); fails when the socket does. */
/**
 * Sends `request` and resolves with the replies: a batch's, or a dump's (`dump`); with `peek`, only the
 * dump's first two replies (32 KiB of elements each; the end comes in a reply of its own). A fake may answer a peek with the whole dump.
 */
export type Exchange = (request: Buffer, dump: boolean, peek?: boolean) => Buffer | Promise<Buffer>;

interface Addon {
  /** mode: false or 0 a batch, true or 1 a dump, 2 a dump's first two replies (nfnetlink.c). */
  exchangeAsync(request: Buffer, mode: boolean | 2, netns?: string): Promise<Buffer>;
}

/**
 * The addon's exchange, in the network namespace at `netns` (a path such as /run/netns/NAME) or the
 * process's own; a string saying why when the addon was not built.
 */
export function loadExchange(netns?: string): Exchange | string {
  const addon = loadAddon<Addon>('nfnetlink', 'netlink');
  if (typeof addon === 'string') return addon;
  // The kernel's part runs on a libuv thread: a big set's commit must not stall log reading.
  return (request, dump, peek) => addon.exchangeAsync(request, dump && peek === true ? 2 : dump, netns);
}

/** Element writes and reads for nftables.ts over one Exchange. */
export class NetlinkSets {
  constructor(private readonly exchange: Exchange) {}

  /** Applies the changes in one transaction: null when the kernel took all of them, else why not. */
  async write(changes: readonly SetChange[]): Promise<string | null> {
    const { request, acked } = elementBatch(changes);
    if (acked.length === 0) return null;
    return batchFailure(await this.exchange(request, false), acked);
  }

  /** True when the set holds an element for `address` (one lookup, however many elements are held). */
  async has(set: SetRef, address: Address): Promise<boolean> {
    for (const m of parseMessages(await this.exchange(getRequest(set, address), false))) {
      if (m.type === msgType(NFT_MSG_NEWSETELEM)) return true;
      if (m.type !== NLMSG_ERROR) continue;
      const errno = -m.payload.readInt32LE(0);
      if (errno === 2) return false;
      if (errno !== 0) throw new NetlinkRefusal(errno);
    }
    return false;
  }

  /** The set's elements; throws NetlinkRefusal (errno 2) when the set does not exist. */
  async list(set: SetRef): Promise<KernelEntry[]> {
    return parseDump(await this.exchange(dumpRequest(set), true), set);
  }

  /**
   * The set's elements when they fit in the dump's first reply (~1,300 addresses of an interval set;
   * its end comes in the second), else null. The kernel walks the set from its first element for every reply of a dump, so reading
   * 100,000 elements takes it 1-2 s; a peek costs one reply.
   */
  async peek(set: SetRef): Promise<KernelEntry[] | null> {
    const replies = await this.exchange(dumpRequest(set), true, true);
    return dumpEnded(replies) ? parseDump(replies, set) : null;
  }
}
