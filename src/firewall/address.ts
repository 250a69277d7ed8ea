// Addresses that reach a firewall command. Validation and the canonical text (RFC 5952, as `nft list
// set` prints it) come from src/net/ip.ts, the project's one IP parser; this file adds the numeric range
// of a CIDR, which the nftables backend needs to find bans that cover each other.


import type { IpFamily } from '../net/ip.js';
import { ipv4Value, parseCidr } from '../net/ip.js';

export type { IpFamily };

export interface Address {
  /** Canonical text: `192.0.2.1`, `192.0.2.0/28`, `2001:db8::1`, `2001:db8::/64` (host bits cleared). */
  readonly text: string;
  readonly family: IpFamily;
  /** Prefix length; 32 or 128 for a single address (printed without `/len`). */
  readonly prefix: number;
  /** First and last address of the range, as integers. */
  readonly first: bigint;
  readonly last: bigint;
}

// The converters below read the canonical text parseCidr produced, so they need no validation of their own.
function v4Value(text: string): bigint {
  // A char loop, not split/map: 100,000 bans are parsed at every start.
  let value = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      value = value * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + c - 48;
  }
  return BigInt(value * 256 + octet);
}

function v6Value(text: string): bigint {
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

/**
 * Parses an IP or CIDR into its canonical form and range; null for anything else. A `/0` is refused: it
 * would block the whole Internet.
 */
export function parseAddress(input: string): Address | null {
  // Start-up parses every stored ban: a plain IPv4 address is read once, with no object on the way.
  const v4 = ipv4Value(input);
  if (v4 >= 0) {
    const value = BigInt(v4);
    return { text: input, family: 4, prefix: 32, first: value, last: value };
  }
  const cidr = parseCidr(input);
  if (cidr === null || cidr.prefix === 0) return null;
  const value = cidr.family === 4 ? v4Value(cidr.address) : v6Value(cidr.address);
  if (cidr.prefix === (cidr.family === 4 ? 32 : 128)) return { text: cidr.text, family: cidr.family, prefix: cidr.prefix, first: value, last: value };
  const hostBits = BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix);
  const first = (value >> hostBits) << hostBits;
  // A single address shares its one value: a bigint is a heap object, and 100,000s of bans hold these.
  const last = hostBits === 0n ? first : first | ((1n << hostBits) - 1n);
  return { text: cidr.text, family: cidr.family, prefix: cidr.prefix, first, last };
}
