// MD5 (RFC 1321), for one purpose: Fail2Ban identifies a log file by the md5 of its first line (the
// `firstlinemd5` of its database's `logs` table), and so do we, once per followed file when it is opened
// or rotated. node:crypto is the library for hashing otherwise, but loading it costs the idle daemon
// ~0.7 MB of RSS (measured on node 20 over a process already holding net, child_process and fs), for a
// handful of hashes of short lines over its whole life. Not for security: MD5 is broken for that.

/** Per-round left rotations, four per round. */
const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/** K[i] = floor(|sin(i + 1)| · 2³²), as RFC 1321 defines its table T. */
const K = Int32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The MD5 digest of `data` as 32 lowercase hex digits, as `createHash('md5').update(data).digest('hex')`. */
export function md5Hex(data: Uint8Array): string {
  const state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
  const words = new Int32Array(16);
  const full = data.length - (data.length % 64);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let off = 0; off < full; off += 64) {
    for (let j = 0; j < 16; j++) words[j] = view.getInt32(off + 4 * j, true);
    compress(state, words);
  }
  // The rest, the 0x80 marker, zeros and the length in bits (64-bit little-endian): one or two blocks.
  const rest = data.length - full;
  const tail = new Uint8Array(rest < 56 ? 64 : 128);
  tail.set(data.subarray(full));
  tail[rest] = 0x80;
  const tailView = new DataView(tail.buffer);
  tailView.setUint32(tail.length - 8, (data.length * 8) >>> 0, true);
  tailView.setUint32(tail.length - 4, Math.floor(data.length / 2 ** 29) >>> 0, true);
  for (let off = 0; off < tail.length; off += 64) {
    for (let j = 0; j < 16; j++) words[j] = tailView.getInt32(off + 4 * j, true);
    compress(state, words);
  }
  let hex = '';
  for (const word of state) for (let b = 0; b < 4; b++) hex += HEX[(word >>> (8 * b)) & 0xff];
  return hex;
}

/** One 64-byte block into the state (RFC 1321, section 3.4). */
function compress(state: Int32Array, words: Int32Array): void {
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const x = (a + f + K[i]! + words[g]!) | 0;
    const s = SHIFTS[(i >> 4) * 4 + (i & 3)]!;
    a = d;
    d = c;
    c = b;
    b = (b + ((x << s) | (x >>> (32 - s)))) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
}
