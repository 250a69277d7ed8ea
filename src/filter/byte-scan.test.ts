import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rng } from '../../test/e2e/mail-log.js';
import { byteScanner, indexOfScanner } from './byte-scan.js';

/** Every hit and newline count of `s` over bytes[from, to), asked the way `portcullis regex` asks. */
function walk(s: { find(a: number, b: number): number; countNewlines(a: number, b: number): number }, from: number, to: number) {
  const hits: number[] = [];
  for (let at = s.find(from, to); at >= 0; at = s.find(at + 1, to)) hits.push(at);
  return { hits, newlines: s.countNewlines(from, to) };
}

test('the WebAssembly scanner finds what Buffer#indexOf finds, at every offset, length and edge', () => {
  const r = rng(7);
  const literals = ['warning', 'reject', 'auth failed', 'nknown user', 'too many errors here and there (long)'];
  const wasm = byteScanner(literals, 1 << 16);
  assert.equal(wasm.engine, 'wasm', 'Node 20+ on x86-64 and arm64 has WebAssembly SIMD');
  const ref = indexOfScanner(
    literals.map((l) => Buffer.from(l)),
    Buffer.alloc(1 << 16),
  );
  const words = [...literals, 'warnin', 'eject', 'x', ' ', '\n', 'é', 'auth faile', 'd'];
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
    assert.deepEqual(walk(wasm, from, to), walk(ref, from, to), `round ${round}: ${JSON.stringify(text.toString().slice(from - at, to - at))}`);
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
