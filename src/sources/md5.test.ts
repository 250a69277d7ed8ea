import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { md5Hex } from './md5.js';

test("RFC 1321's test suite (appendix A.5)", () => {
  const suite: Array<[string, string]> = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', '57edf4a22be3c955ac49da2e2107b67a'],
  ];
  for (const [input, digest] of suite) assert.equal(md5Hex(Buffer.from(input, 'latin1')), digest, `MD5("${input}")`);
});

test("the same hex digest as node:crypto's md5, at every length around the block and padding edges", () => {
  const data = Buffer.alloc(200);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) & 0xff;
  for (let n = 0; n <= data.length; n++) {
    const part = data.subarray(0, n);
    assert.equal(md5Hex(part), createHash('md5').update(part).digest('hex'), `length ${n}`);
  }
});

test("the same hex digest as node:crypto's md5 for any bytes, also inside a larger buffer", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1000 }), fc.nat(64), (bytes, offset) => {
      // A slice of a pooled Buffer starts at a byteOffset in a larger ArrayBuffer, as the follower's do.
      const inside = Buffer.concat([Buffer.alloc(offset, 0xaa), bytes, Buffer.alloc(7, 0x55)]).subarray(offset, offset + bytes.length);
      const expected = createHash('md5').update(bytes).digest('hex');
      assert.equal(md5Hex(bytes), expected);
      assert.equal(md5Hex(inside), expected);
    }),
    { numRuns: 500 },
  );
});

test('a 64 KiB line (the longest first line the follower hashes)', () => {
  const line = Buffer.alloc(65536, 'x');
  line[line.length - 1] = 0x0a;
  assert.equal(md5Hex(line), createHash('md5').update(line).digest('hex'));
});
