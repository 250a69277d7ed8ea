// Python 3's `\w`, `\d` and `\s` in str patterns are Unicode classes; JavaScript's are ASCII unless the
// regex has the `u` or `v` flag, and either flag turns off V8's linear-time fallback for hostile input
// (measured: `^(a+)+$` on 28 × `a` + `b` takes 1 ms without, 9 s with `u`). So the classes are spelled
// out as BMP ranges (the body of a `[...]`, without brackets), built once from V8's Unicode tables.
// Characters outside the BMP are two UTF-16 units to a regex without `u` (see README, Differences).

/** All BMP characters but the surrogates (never characters of a decoded line on their own). */
let bmp: string | null = null;

function ranges(cls: RegExp): string {
  if (bmp === null) {
    const codes: number[] = [];
    for (let c = 0; c <= 0xffff; c++) codes.push(c >= 0xd800 && c <= 0xdfff ? 0 : c);
    bmp = String.fromCharCode(...codes);
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

let word: string | null = null;
let digit: string | null = null;

/** Python's `\w`: letters, numbers (str.isalnum) and `_`. */
export function wordRanges(): string {
  word ??= ranges(/[\p{L}\p{N}_]+/gu);
  return word;
}

/** Python's `\d`: decimal digits (Unicode Nd). */
export function digitRanges(): string {
  digit ??= ranges(/\p{Nd}+/gu);
  return digit;
}

/** Python's `\s` (str.isspace): ASCII whitespace, the information separators, NEL and Unicode spaces. */
export const SPACE_RANGES = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

export const ASCII_WORD = '0-9A-Za-z_';
export const ASCII_DIGIT = '0-9';
/** With re.ASCII Python's `\s` is `[ \t\n\r\f\v]`. */
export const ASCII_SPACE = '\\t-\\r ';
