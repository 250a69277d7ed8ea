// Fail2Ban's `logencoding` → a byte decoder. Fail2Ban defaults to `auto` (the locale's encoding); hosts and
// containers today run UTF-8, so `auto` means UTF-8. UTF-8 decoding never throws in Node: an invalid byte
// becomes U+FFFD, so junk cannot stop a log, and a valid address next to junk still matches. Latin-1 maps
// every byte to one character, which suits logs that really are Latin-1. Only ASCII-compatible encodings
// are accepted, because lines are split on the byte 0x0A before decoding (UTF-16 would break that).
import { UserError } from '../errors.js';

/** Decodes `buf[start, end)`. */
export type Decoder = (buf: Buffer, start: number, end: number) => string;

const utf8: Decoder = (buf, start, end) => buf.toString('utf8', start, end);
const latin1: Decoder = (buf, start, end) => buf.toString('latin1', start, end);

const aliases: Record<string, Decoder> = {
  auto: utf8,
  utf8: utf8,
  'utf-8': utf8,
  latin1: latin1,
  'latin-1': latin1,
  'iso-8859-1': latin1,
  iso8859_1: latin1,
  // Node's 'ascii' decoder is Latin-1 in disguise; a non-ASCII byte in an "ASCII" log stays one character.
  ascii: latin1,
  'us-ascii': latin1,
};

const notAsciiCompatible = /^(utf-?16|utf-?32|ucs-?2|utf-?7)/;

export function decoderFor(encoding: string): Decoder {
  const name = encoding.trim().toLowerCase();
  const known = aliases[name];
  if (known) return known;
  if (!notAsciiCompatible.test(name)) {
    try {
      // Node ships full ICU, so the other single-byte and multi-byte ASCII-compatible encodings
      // (iso-8859-15, koi8-r, shift_jis…) go through TextDecoder, which replaces bad bytes.
      const decoder = new TextDecoder(name, { fatal: false });
      return (buf, start, end) => decoder.decode(buf.subarray(start, end));
    } catch {
      // fall through to the error below
    }
  }
  throw new UserError(
    `logencoding '${encoding}' is not supported: use auto, utf-8, latin-1 or another ASCII-compatible encoding`,
  );
}
