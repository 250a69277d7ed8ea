// Finds, in raw log bytes, the lines worth decoding: where one of a filter's required literals (ASCII)
// occurs, and how many newlines lie between. Profiles of `portcullis regex` on a 1M-line mail log
// showed the old way (decode every chunk to a Latin-1 string, one regex alternation over it, count
// newlines with String#indexOf) at ~60 % of the whole run; this does it on the bytes with WebAssembly
// SIMD, 16 bytes a step, in a module generated for the literal set (the literals are constants in it).
// Where WebAssembly SIMD is missing the same interface runs on Buffer#indexOf. Pure: no I/O, no clock.

/** Where the scanned bytes live: read into `bytes`, then ask find/countNewlines about offsets in it. */
export interface ByteScanner {
  /** Which implementation runs: 'wasm' (SIMD) or the portable 'indexOf'. */
  readonly engine: 'wasm' | 'indexOf';
  /** A buffer of at least the capacity asked for; the scanner reads it in place. */
  readonly bytes: Buffer;
  /** Offset of the first occurrence (bytes, UTF-8) of a literal that starts at or after `from` and ends by `to`, or -1. */
  find(from: number, to: number): number;
  /** Newlines (0x0a) in bytes[from, to). */
  countNewlines(from: number, to: number): number;
}

/** The part of the WebAssembly JS API used here (the project's lib has no DOM types). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
};

const PAGE = 65536;
/** Start of the scanned bytes in the module's memory; the literals are stored below it. */
const BASE = PAGE;

/**
 * A scanner for `literals` (non-empty ASCII texts) over a buffer of `capacity` bytes; the Buffer#indexOf
 * version when `literals` do not suit the module (too long) or WebAssembly SIMD is not available.
 */
export function byteScanner(literals: readonly string[], capacity: number): ByteScanner {
  const lits = literals.map((l) => Buffer.from(l, 'utf8'));
  if (lits.length === 0 || lits.some((l) => l.length === 0)) throw new Error('byteScanner: no literals');
  const tableSize = lits.reduce((n, l) => n + l.length, 0);
  if (tableSize <= BASE && lits.length <= 64) {
    try {
      return wasmScanner(lits, capacity);
    } catch {
      // No SIMD on this CPU or engine: the portable version below.
    }
  }
  return indexOfScanner(lits, Buffer.allocUnsafe(capacity));
}

/** The portable version (also the reference the module is tested against). */
export function indexOfScanner(lits: readonly Buffer[], bytes: Buffer): ByteScanner {
  return {
    engine: 'indexOf',
    bytes,
    find(from, to) {
      let best = -1;
      for (const l of lits) {
        const at = bytes.indexOf(l, from);
        if (at >= 0 && at + l.length <= to && (best < 0 || at < best)) best = at;
      }
      return best;
    },
    countNewlines(from, to) {
      let n = 0;
      for (let at = bytes.indexOf(0x0a, from); at >= 0 && at < to; at = bytes.indexOf(0x0a, at + 1)) n++;
      return n;
    },
  };
}

// ---- The WebAssembly module, assembled here (a few dozen instructions; no toolchain needed). ----

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

// Instructions used (WebAssembly 2.0 core + fixed-width SIMD).
const I32 = 0x7f;
const V128 = 0x7b;
const VOID = 0x40;
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32 = (n: number) => [0x41, ...sleb(n)];
const ADD = 0x6a;
const SUB = 0x6b;
const AND = 0x71;
const LT_U = 0x49;
const GE_U = 0x4f;
const LE_U = 0x4d;
const NE = 0x47;
const EQZ = 0x45;
const CTZ = 0x68;
const SHR_U = 0x76;
const BLOCK = 0x02;
const LOOP = 0x03;
const IF = 0x04;
const END = 0x0b;
const br = (d: number) => [0x0c, ...uleb(d)];
const brIf = (d: number) => [0x0d, ...uleb(d)];
const RETURN = 0x0f;
const load8 = (offset: number) => [0x2d, 0, ...uleb(offset)];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
const vload = (offset: number) => simd(0x00, 0, ...uleb(offset));
const splat8 = (b: number) => simd(0x0c, ...new Array<number>(16).fill(b));
const V_EQ8 = simd(0x23);
const V_SUB8 = simd(0x71);
const V_AND = simd(0x4e);
const V_OR = simd(0x50);
const V_BITMASK8 = simd(0x64);
const V_SUM16 = simd(0x7d); // i16x8.extadd_pairwise_i8x16_u
const V_SUM32 = simd(0x7f); // i32x4.extadd_pairwise_i16x8_u
const lane32 = (i: number) => simd(0x1b, i);
const ZERO = splat8(0);

/** countNewlines(p, end): 16 bytes a step, byte counters flushed to the total every 255 steps. */
function countBody(): number[] {
  const [p, end, n, acc, k] = [0, 1, 2, 3, 4];
  return [
    ...vec([
      [1, I32],
      [1, V128],
      [1, I32],
    ]),
    BLOCK, VOID, LOOP, VOID,
    // while (end - p >= 16)
    ...get(end), ...get(p), SUB, ...i32(16), LT_U, ...brIf(1),
    ...ZERO, ...set(acc),
    // k = min(255, (end - p) >> 4)
    ...get(end), ...get(p), SUB, ...i32(4), SHR_U, ...set(k),
    ...get(k), ...i32(255), GE_U, IF, VOID, ...i32(255), ...set(k), END,
    LOOP, VOID,
    ...get(acc), ...get(p), ...vload(0), ...splat8(0x0a), ...V_EQ8, ...V_SUB8, ...set(acc),
    ...get(p), ...i32(16), ADD, ...set(p),
    ...get(k), ...i32(1), SUB, ...set(k), ...get(k), ...brIf(0),
    END,
    ...get(acc), ...V_SUM16, ...V_SUM32, ...set(acc),
    ...get(n), ...get(acc), ...lane32(0), ADD, ...get(acc), ...lane32(1), ADD,
    ...get(acc), ...lane32(2), ADD, ...get(acc), ...lane32(3), ADD, ...set(n),
    ...br(0),
    END, END,
    // the last < 16 bytes
    BLOCK, VOID, LOOP, VOID,
    ...get(p), ...get(end), GE_U, ...brIf(1),
    ...get(n), ...get(p), ...load8(0), ...i32(0x0a), 0x46, ADD, ...set(n),
    ...get(p), ...i32(1), ADD, ...set(p), ...br(0),
    END, END,
    ...get(n),
    END,
  ];
}

/** eq(s, t, len): bytes[s, s+len) equal bytes[t, t+len). */
function eqBody(): number[] {
  const [s, t, len] = [0, 1, 2];
  return [
    0, // no locals
    BLOCK, VOID, LOOP, VOID,
    ...get(len), EQZ, ...brIf(1),
    ...get(s), ...load8(0), ...get(t), ...load8(0), NE, IF, VOID, ...i32(0), RETURN, END,
    ...get(s), ...i32(1), ADD, ...set(s), ...get(t), ...i32(1), ADD, ...set(t),
    ...get(len), ...i32(1), SUB, ...set(len), ...br(0),
    END, END,
    ...i32(1),
    END,
  ];
}

/**
 * Bytes from common to rare in log text (spaces, lower-case letters, digits, then punctuation and
 * upper case); a byte not listed is rarer still. Only used to pick which two bytes of a literal the
 * SIMD step compares: the rarer they are, the fewer places need the whole literal compared.
 */
const COMMON = ' e0t1a2o3i4n5s6r7l8h9cdum.:p=/-g,fy[]bw<>v()k@x_qjzESTAINORLCDUMPFGBHWYVKXJQZ';
const rarity = (b: number): number => {
  const at = COMMON.indexOf(String.fromCharCode(b));
  return at < 0 ? COMMON.length : at;
};

/** The two positions of the literal's rarest bytes (0 and the last for a one-byte literal). */
function probes(l: Buffer): [number, number] {
  if (l.length === 1) return [0, 0];
  const order = [...l.keys()].sort((a, b) => rarity(l[b] as number) - rarity(l[a] as number) || a - b);
  return [order[0] as number, order[1] as number];
}

/**
 * find(p, end): each 16-byte step compares, for every literal, the bytes at its two probe offsets
 * (its two rarest bytes, constants here) with those bytes; only where both agree is the whole literal
 * compared. Reads up to the longest literal + 15 bytes past `end` (slack in the memory).
 */
function findBody(lits: readonly Buffer[], table: readonly number[]): number[] {
  const [p, end, mask, s, hits] = [0, 1, 2, 3, 4];
  const EQ_FN = 2;
  // Literals share probe offsets (dovecot's seven literals probe 7 distinct offsets, not 14): each
  // offset's 16 bytes are loaded once a step into a local of their own (5, 6, ...).
  const offsets = [...new Set(lits.flatMap((l) => probes(l)))];
  const at = (offset: number) => get(5 + offsets.indexOf(offset));
  const test: number[] = [];
  for (const [i, offset] of offsets.entries()) test.push(...get(p), ...vload(offset), ...set(5 + i));
  for (const [i, l] of lits.entries()) {
    const [a, b] = probes(l);
    test.push(...at(a), ...splat8(l[a] as number), ...V_EQ8);
    test.push(...at(b), ...splat8(l[b] as number), ...V_EQ8, ...V_AND);
    if (i > 0) test.push(...V_OR);
  }
  const verify: number[] = [];
  for (const [i, l] of lits.entries()) {
    // if (s + len <= end && its probe bytes are there && eq(s, table[i], len)) return s
    const [a, b] = probes(l);
    verify.push(...get(s), ...load8(a), ...i32(l[a] as number), 0x46, ...get(s), ...load8(b), ...i32(l[b] as number), 0x46, AND);
    verify.push(...get(s), ...i32(l.length), ADD, ...get(end), LE_U, AND, IF, VOID);
    verify.push(...get(s), ...i32(table[i] as number), ...i32(l.length), 0x10, ...uleb(EQ_FN), IF, VOID);
    verify.push(...get(s), RETURN, END, END);
  }
  return [
    ...vec([
      [2, I32],
      [1 + offsets.length, V128],
    ]),
    BLOCK, VOID, LOOP, VOID,
    ...get(p), ...get(end), GE_U, ...brIf(1),
    ...test, ...set(hits),
    ...get(hits), ...V_BITMASK8, ...set(mask),
    BLOCK, VOID, LOOP, VOID,
    ...get(mask), EQZ, ...brIf(1),
    ...get(p), ...get(mask), CTZ, ADD, ...set(s),
    ...get(s), ...get(end), GE_U, ...brIf(1),
    ...verify,
    ...get(mask), ...get(mask), ...i32(1), SUB, AND, ...set(mask),
    ...br(0),
    END, END,
    ...get(p), ...i32(16), ADD, ...set(p), ...br(0),
    END, END,
    ...i32(-1),
    END,
  ];
}

function wasmScanner(lits: readonly Buffer[], capacity: number): ByteScanner {
  const table: number[] = [];
  let at = 0;
  for (const l of lits) {
    table.push(at);
    at += l.length;
  }
  const longest = Math.max(...lits.map((l) => l.length));
  const pages = Math.ceil((BASE + capacity + longest + 16) / PAGE);
  const body = (code: number[]) => [...uleb(code.length), ...code];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([
      [0x60, 2, I32, I32, 1, I32],
      [0x60, 3, I32, I32, I32, 1, I32],
    ])),
    ...section(3, vec([[0], [0], [1]])),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([
      [4, ...Buffer.from('find'), 0x00, 0],
      [5, ...Buffer.from('count'), 0x00, 1],
      [3, ...Buffer.from('mem'), 0x02, 0],
    ])),
    ...section(10, vec([body(findBody(lits, table)), body(countBody()), body(eqBody())])),
  ];
  const instance = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)));
  const exports = instance.exports as {
    find: (p: number, end: number) => number;
    count: (p: number, end: number) => number;
    mem: { buffer: ArrayBuffer };
  };
  const memory = Buffer.from(exports.mem.buffer);
  at = 0;
  for (const l of lits) at += l.copy(memory, at);
  const { find, count } = exports;
  return {
    engine: 'wasm',
    bytes: memory.subarray(BASE, BASE + capacity),
    find(from, to) {
      const hit = find(BASE + from, BASE + to);
      return hit < 0 ? -1 : hit - BASE;
    },
    countNewlines: (from, to) => count(BASE + from, BASE + to),
  };
}
