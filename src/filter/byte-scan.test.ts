import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../../test/e2e/mail-log.js';
import { byteScanner, indexOfScanner } from './byte-scan.js';

type Scanner = { bytes: Buffer; find(a: number, b: number): number; countNewlines(a: number, b: number): number };

/**
 * Walks bytes[from, to) the way `portcullis regex` does: from each hit to the end of its line, then on.
 * Returns the start of each line holding a hit, after checking that the hit is a whole literal in range.
 */
function walk(s: Scanner, literals: readonly string[], from: number, to: number) {
  const lines: number[] = [];
  for (let pos = from, hit = s.find(pos, to); hit >= 0; hit = s.find(pos, to)) {
    assert.ok(literals.some((l) => hit >= pos && hit + Buffer.byteLength(l) <= to && s.bytes.subarray(hit, hit + Buffer.byteLength(l)).equals(Buffer.from(l))), `a literal at ${hit}`);
    const start = Math.max(pos, s.bytes.lastIndexOf(0x0a, hit) + 1);
    lines.push(start);
    const nl = s.bytes.indexOf(0x0a, hit);
    pos = nl < 0 || nl >= to ? to : nl + 1;
  }
  return { lines, newlines: s.countNewlines(from, to) };
}

for (const [what, literals] of [
  ['5 literals', ['warning', 'reject', 'auth failed', 'nknown user', 'too many errors here and there (long)']],
  ['11 literals sharing buckets, one of 2 bytes', ['warning', 'reject', 'auth failed', 'nknown user', 'ab', 'xyz1', 'failed', 'denied', 'Refused', 'timeout', 'é lu']],
] as const)
test(`the WebAssembly scanner finds the lines Buffer#indexOf finds, at every offset, length and edge (${what})`, () => {
  const r = rng(7);
  const wasm = byteScanner(literals, 1 << 16);
  assert.equal(wasm.engine, 'wasm', 'Node 20+ on x86-64 and arm64 has WebAssembly SIMD');
  const ref = indexOfScanner(
    literals.map((l) => Buffer.from(l)),
    Buffer.alloc(1 << 16),
  );
  const words = [...literals, 'warnin', 'eject', 'x', ' ', '\n', 'é', 'auth faile', 'd', 'a', 'b'];
  for (let round = 0; round < 300; round++) {
    const parts: string[] = [];
    const n = Math.floor(r() * 60);
    for (let i = 0; i < n; i++) parts.push(words[Math.floor(r() * words.length)] as string);
    const text = Buffer.from(parts.join(''));
    // Garbage after the end must not leak into the results (the module reads past `to`).
    wasm.bytes.fill('warning\n');
    ref.bytes.fill(0);
    const at = Math.floor(r() * 40);
    text.copy(wasm.bytes, at);
    text.copy(ref.bytes, at);
    const to = at + Math.floor(r() * (text.length + 1));
    const from = at + Math.floor(r() * (to - at + 1));
    assert.deepEqual(walk(wasm, literals, from, to), walk(ref, literals, from, to), `round ${round}: ${JSON.stringify(text.toString().slice(from - at, to - at))}`);
  }
});

test('newlines are counted across the 255-step flush of the byte counters', () => {
  const s = byteScanner(['zzzz'], 1 << 20);
  s.bytes.fill(0x0a, 0, 1 << 20);
  assert.equal(s.countNewlines(0, 1 << 20), 1 << 20);
  assert.equal(s.countNewlines(3, 16 * 255 * 3 + 7), 16 * 255 * 3 + 4);
  assert.equal(s.find(0, 1 << 20), -1);
});

test('a literal is found in its UTF-8 bytes, and only when it ends by the limit', () => {
  const s = byteScanner(['échec de connexion'], 256);
  const text = Buffer.from('ok\nun échec de connexion\n');
  text.copy(s.bytes);
  assert.equal(s.find(0, text.length), 6);
  assert.equal(s.find(0, 6 + Buffer.byteLength('échec de connexion') - 1), -1);
});
