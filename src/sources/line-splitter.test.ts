import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decoderFor } from './encoding.js';
import { LineSplitter, TRUNCATED_MARK } from './line-splitter.js';

const utf8 = decoderFor('utf-8');

function feed(splitter: LineSplitter, ...chunks: Array<string | Buffer>): string[] {
  const out: string[] = [];
  for (const c of chunks) splitter.push(typeof c === 'string' ? Buffer.from(c) : c, out);
  return out;
}

test('a partial line is held until its newline arrives, even across many chunks', () => {
  const s = new LineSplitter(utf8, 1000);
  assert.deepEqual(feed(s, 'one\ntw'), ['one']);
  assert.equal(s.holding, true);
  assert.deepEqual(feed(s, 'o'), []);
  assert.deepEqual(feed(s, 'o\nthree\n'), ['twoo', 'three']);
  assert.equal(s.holding, false);
});

test('returns the index of the last newline so the caller can commit a line boundary', () => {
  const s = new LineSplitter(utf8, 1000);
  const out: string[] = [];
  assert.equal(s.push(Buffer.from('ab\ncd\nef'), out), 5);
  assert.equal(s.push(Buffer.from('gh'), out), -1);
});

test('CRLF endings are stripped, empty lines kept', () => {
  const s = new LineSplitter(utf8, 1000);
  assert.deepEqual(feed(s, 'a\r\n\r\nb\n'), ['a', '', 'b']);
});

test('a line longer than the cap is cut, marked as cut, and the next line survives', () => {
  const s = new LineSplitter(utf8, 16);
  const huge = 'x'.repeat(1 << 20);
  const out = feed(s, 'start ', huge.slice(0, 500_000), huge.slice(500_000), '\nnext\n');
  assert.deepEqual(out, [`start ${'x'.repeat(10)}${TRUNCATED_MARK}`, 'next']);
});

test('a long line inside one chunk is cut to the cap and marked too; a line exactly at the cap is not', () => {
  const s = new LineSplitter(utf8, 4);
  assert.deepEqual(feed(s, 'a\nabcdefgh\nb\nabcd\n'), ['a', `abcd${TRUNCATED_MARK}`, 'b', 'abcd']);
});

test('invalid UTF-8 and NUL bytes become characters, never merge or drop lines', () => {
  const s = new LineSplitter(utf8, 1000);
  const junk = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x0a, 0x80, 0x00, 0x0a]);
  const out = feed(s, junk, 'good\n');
  assert.equal(out.length, 3);
  assert.equal(out[0], '\ufffd\ufffd\u0000\ufffd');
  assert.equal(out[2], 'good');
});

test('latin-1 maps every byte to one character', () => {
  const s = new LineSplitter(decoderFor('latin-1'), 1000);
  assert.deepEqual(feed(s, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])), ['café']);
});

test('skipToNextLine drops the fragment we started inside of', () => {
  const s = new LineSplitter(utf8, 1000);
  s.skipToNextLine();
  assert.deepEqual(feed(s, 'ment\nwhole\n'), ['whole']);
});

test('flush emits the held bytes of a file that ended without a newline', () => {
  const s = new LineSplitter(utf8, 1000);
  const out = feed(s, 'a\nlast');
  s.flush(out);
  assert.deepEqual(out, ['a', 'last']);
  assert.equal(s.holding, false);
});

test('any chunking yields the same lines as splitting the whole text', () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }).map((l) => l.replace(/[\r\n]/g, '')), {
        maxLength: 30,
      }),
      fc.array(fc.nat(40), { maxLength: 20 }),
      (lines, cuts) => {
        const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
        const s = new LineSplitter(utf8, 1 << 16);
        const out: string[] = [];
        let at = 0;
        for (const cut of cuts) {
          const end = Math.min(bytes.length, at + cut);
          s.push(bytes.subarray(at, end), out);
          at = end;
        }
        s.push(bytes.subarray(at), out);
        assert.deepEqual(out, lines);
        assert.equal(s.holding, false);
      },
    ),
  );
});

test('unknown or non-ASCII-compatible encodings are refused with a clear error', () => {
  assert.throws(() => decoderFor('utf-16'), /logencoding 'utf-16' is not supported/);
  assert.throws(() => decoderFor('klingon'), /not supported/);
  assert.equal(decoderFor('iso-8859-15')(Buffer.from([0xa4]), 0, 1), '€');
});
