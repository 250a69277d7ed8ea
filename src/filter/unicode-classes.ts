// Python 3's `\w`, `\d` and `\s` in str patterns are Unicode classes; JavaScript's are ASCII unless the
// regex has the `u` or `v` flag, and either flag turns off V8's linear-time fallback for hostile input
// (measured: `^(a+)+$` on 28 × `a` + `b` takes 1 ms without, 9 s with `u`). So the classes are spelled
// out as BMP ranges (the body of a `[...]`, without brackets), built once from V8's Unicode tables.
// Characters outside the BMP are two UTF-16 units to a regex without `u` (see README, Differences).

import { DIGIT_RANGES, WORD_RANGES } from './unicode-tables.js';

/** All BMP characters but the surrogates (never characters of a decoded line on their own). */
let bmp: string | null = null;

/**
 * The runs of BMP characters in `cls` (a global regex of one class and `+`) as ranges. Only for
 * scripts/unicode-tables.mjs and the test that the generated tables still match V8's: computing them
 * at start-up took 6-9 ms.
 */
export function computeRanges(cls: RegExp): string {
  if (bmp === null) {
    // Decoded from UTF-16 bytes: String.fromCharCode(...65536 codes) took ~5 ms of start-up.
    const codes = new Uint16Array(0x10000);
    for (let c = 0; c <= 0xffff; c++) codes[c] = c >= 0xd800 && c <= 0xdfff ? 0 : c;
    bmp = Buffer.from(codes.buffer).toString('utf16le');
  }
  const hex = (n: number) => `\\u${n.toString(16).padStart(4, '0')}`;
  let out = '';
  // One pass of a global regex over the whole plane finds the runs (a per-character test took 40 ms).
  for (const m of bmp.matchAll(cls)) {
    const from = m.index;
    const to = from + m[0].length - 1;
    out += to === from ? hex(from) : `${hex(from)}-${hex(to)}`;
  }
  return out;
}

/** Python's `\w`: letters, numbers (str.isalnum) and `_`. */
export function wordRanges(): string {
  return WORD_RANGES;
}

/** Python's `\d`: decimal digits (Unicode Nd). */
export function digitRanges(): string {
  return DIGIT_RANGES;
}

/** Python's `\s` (str.isspace): ASCII whitespace, the information separators, NEL and Unicode spaces. */
export const SPACE_RANGES = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

export const ASCII_WORD = '0-9A-Za-z_';
export const ASCII_DIGIT = '0-9';
/** With re.ASCII Python's `\s` is `[ \t\n\r\f\v]`. */
export const ASCII_SPACE = '\\t-\\r ';

// Class-preserving stand-ins. A line with characters beyond Latin-1 is matched as a copy in which each
// such word character becomes U+0100, each decimal digit U+0660 and each space U+2000 (other characters
// stay: no class holds them). The classes for that copy need only Latin-1 ranges and the three stand-ins,
// a few ranges instead of hundreds: V8's linear-time engine, which takes over on hostile lines, tests a
// character against a class range by range (measured: 1.6 s instead of 58 ms for a 60,000-character
// line against postfix's prefregex).
const STAND_IN_WORD = 0x100;
const STAND_IN_DIGIT = 0x660;
const STAND_IN_SPACE = 0x2000;

let standIns: Uint16Array | null = null;
let latin1Word: string | null = null;

function standInTable(): Uint16Array {
  if (standIns !== null) return standIns;
  const table = new Uint16Array(0x10000);
  const test = (ranges: string) => new RegExp(`^[${ranges}]$`);
  const word = test(wordRanges());
  const digit = test(digitRanges());
  const space = test(SPACE_RANGES);
  for (let c = 0x100; c <= 0xffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    if (digit.test(ch)) table[c] = STAND_IN_DIGIT;
    else if (word.test(ch)) table[c] = STAND_IN_WORD;
    else if (space.test(ch)) table[c] = STAND_IN_SPACE;
  }
  standIns = table;
  return table;
}

/** `text` with its characters beyond Latin-1 replaced by their class's stand-in (same length). */
export function standInText(text: string): string {
  const table = standInTable();
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0xff) continue;
    const s = table[c] as number;
    if (s === 0 || s === c) continue;
    out += text.slice(from, i) + String.fromCharCode(s);
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** `\w` for stand-in text: Latin-1 word characters and the word and digit stand-ins. */
export function standInWordRanges(): string {
  if (latin1Word === null) {
    const word = new RegExp(`^[${wordRanges()}]$`);
    let out = '';
    for (let c = 0; c <= 0xff; c++) if (word.test(String.fromCharCode(c))) out += `\\x${c.toString(16).padStart(2, '0')}`;
    latin1Word = `${out}\\u0100\\u0660`;
  }
  return latin1Word;
}

export const STAND_IN_DIGIT_RANGES = '0-9\\u0660';
export const STAND_IN_SPACE_RANGES = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u2000';
