// SHA-1 (FIPS 180-4), for one purpose: Fail2Ban identifies a log file by the hash of its first line, which
// it stores in its database's `logs.firstlinemd5`. Despite the name that hash is SHA-1 under Python 3:
// Fail2Ban tries `hashlib.md5(' ')`, which raises for a str there, and falls back to `hashlib.sha1` (1.0.2
// and 1.1.0, server/filter.py; test/compat/first-line-hash.test.ts checks our digest against Debian's
// fail2ban-server). We hash once per followed file when it is opened or rotated. node:crypto is the
// library for hashing otherwise, but loading it costs the idle daemon ~0.7 MB of RSS (measured on node 20
// over a process already holding net, child_process and fs) for a handful of short lines over its whole
// life. Not for security.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));

/** The SHA-1 digest of `data` as 40 lowercase hex digits, as `createHash('sha1').update(data).digest('hex')`. */
export function sha1Hex(data: Uint8Array): string {
  const state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0]);
  const words = new Int32Array(80);
  const full = data.length - (data.length % 64);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let off = 0; off < full; off += 64) compress(state, words, view, off);
  // The rest, the 0x80 marker, zeros and the length in bits (64-bit big-endian): one or two blocks.
  const rest = data.length - full;
  const tail = new Uint8Array(rest < 56 ? 64 : 128);
  tail.set(data.subarray(full));
  tail[rest] = 0x80;
  const tailView = new DataView(tail.buffer);
  tailView.setUint32(tail.length - 8, Math.floor(data.length / 2 ** 29) >>> 0);
  tailView.setUint32(tail.length - 4, (data.length * 8) >>> 0);
  for (let off = 0; off < tail.length; off += 64) compress(state, words, tailView, off);
  let hex = '';
  for (const word of state) for (let b = 3; b >= 0; b--) hex += HEX[(word >>> (8 * b)) & 0xff];
  return hex;
}

/** One 64-byte block at `off` of `view` into the state (FIPS 180-4, section 6.1.2). */
function compress(state: Int32Array, w: Int32Array, view: DataView, off: number): void {
  for (let t = 0; t < 16; t++) w[t] = view.getInt32(off + 4 * t);
  for (let t = 16; t < 80; t++) w[t] = rotl(w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!, 1);
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  for (let t = 0; t < 80; t++) {
    let f: number;
    let k: number;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc | 0;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6 | 0;
    }
    const next = (rotl(a, 5) + f + e + k + w[t]!) | 0;
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = next;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
}
