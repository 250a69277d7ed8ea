import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { sha1Hex } from './sha1.js';

test("FIPS 180's examples and the usual test vectors", () => {
  const vectors: Array<[string, string]> = [
    ['', 'da39a3ee5e6b4b0d3255bfef95601890afd80709'],
    ['abc', 'a9993e364706816aba3e25717850c26c9cd0d89d'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '84983e441c3bd26ebaae4aa1f95129e5e54670f1'],
    ['The quick brown fox jumps over the lazy dog', '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12'],
  ];
  for (const [input, digest] of vectors) assert.equal(sha1Hex(Buffer.from(input, 'latin1')), digest, `SHA-1("${input}")`);
});

test("the same hex digest as node:crypto's sha1, at every length around the block and padding edges", () => {
  const data = Buffer.alloc(200);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) & 0xff;
  for (let n = 0; n <= data.length; n++) {
    const part = data.subarray(0, n);
    assert.equal(sha1Hex(part), createHash('sha1').update(part).digest('hex'), `length ${n}`);
  }
});

test("the same hex digest as node:crypto's sha1 for any bytes, also inside a larger buffer", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1000 }), fc.nat(64), (bytes, offset) => {
      // A slice of a pooled Buffer starts at a byteOffset in a larger ArrayBuffer, as the follower's do.
      const inside = Buffer.concat([Buffer.alloc(offset, 0xaa), bytes, Buffer.alloc(7, 0x55)]).subarray(offset, offset + bytes.length);
      const expected = createHash('sha1').update(bytes).digest('hex');
      assert.equal(sha1Hex(bytes), expected);
      assert.equal(sha1Hex(inside), expected);
    }),
    { numRuns: 500 },
  );
});

test('a 64 KiB line (the longest first line the follower hashes)', () => {
  const line = Buffer.alloc(65536, 'x');
  line[line.length - 1] = 0x0a;
  assert.equal(sha1Hex(line), createHash('sha1').update(line).digest('hex'));
});
