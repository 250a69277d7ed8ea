// Strict IP and CIDR parsing. Every address that reaches a firewall command passes through here first, so
// the rules are narrow on purpose: no zone ids (`fe80::1%eth0`), no leading zeros in IPv4 octets, no
// whitespace. node:net's isIP does the validation; the canonical text form (RFC 5952 for IPv6, with
// IPv4-mapped addresses folded to plain IPv4 as Fail2Ban does) is written here because Node has no
// canonicaliser, and prefix masking needs the 16-bit groups anyway.
import { isIP } from 'node:net';

export type IpFamily = 4 | 6;

export interface ParsedIp {
  /** The canonical text: dotted quad, or RFC 5952 lower-case compressed IPv6. */
  readonly text: string;
  readonly family: IpFamily;
}

export interface ParsedCidr {
  /** The network address (host bits cleared), canonical. */
  readonly address: string;
  readonly prefix: number;
  readonly family: IpFamily;
  /** `address/prefix`; a full-length prefix is written as the bare address. */
  readonly text: string;
}

/**
 * The value of an IPv4 address as isIP accepts it (four decimal octets up to 255, no leading zeros), or
 * -1 for anything else. Read by hand: every failure's address and every stored ban is parsed, and
 * isIP's regex was the larger part of that.
 */
export function ipv4Value(text: string): number {
  if (text.length < 7 || text.length > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return -1; // a leading zero
      octet = octet * 10 + c - 48;
      if (++digits > 3 || octet > 255) return -1;
    } else return -1;
  }
  return dots === 3 && digits > 0 ? value * 256 + octet : -1;
}

/** Parses one address; returns null for anything that is not exactly an IPv4 or IPv6 address. */
export function parseIp(input: string): ParsedIp | null {
  if (ipv4Value(input) >= 0) return { text: input, family: 4 };
  const family = isIP(input);
  if (family === 4) return { text: input, family: 4 };
  if (family !== 6 || input.includes('%')) return null;
  const groups = ipv6Groups(input);
  if (groups === null) return null;
  if (isV4Mapped(groups)) return { text: v4FromGroups(groups), family: 4 };
  return { text: formatV6(groups), family: 6 };
}

/** The canonical form of an address, or null when it is not one. */
export function normalizeIp(input: string): string | null {
  return parseIp(input)?.text ?? null;
}

/**
 * Parses `addr` or `addr/prefix`. Host bits are cleared (`10.1.2.3/8` → `10.0.0.0/8`), as Fail2Ban's
 * ignoreip does. A mapped IPv6 network (`::ffff:10.0.0.0/104`) becomes its IPv4 equivalent.
 */
export function parseCidr(input: string): ParsedCidr | null {
  const slash = input.indexOf('/');
  if (slash === -1) {
    const ip = parseIp(input);
    if (ip === null) return null;
    const prefix = ip.family === 4 ? 32 : 128;
    return { address: ip.text, prefix, family: ip.family, text: ip.text };
  }
  const addrText = input.slice(0, slash);
  const prefixText = input.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return null;
  let prefix = Number(prefixText);
  const family = isIP(addrText);
  if (family === 0 || addrText.includes('%')) return null;
  let groups: number[] | null;
  if (family === 4) {
    if (prefix > 32) return null;
    groups = v4ToGroups(addrText);
    prefix += 96;
  } else {
    if (prefix > 128) return null;
    groups = ipv6Groups(addrText);
    if (groups === null) return null;
  }
  const masked = maskGroups(groups, prefix);
  if (isV4Mapped(masked) && prefix >= 96) {
    const address = v4FromGroups(masked);
    const p4 = prefix - 96;
    return { address, prefix: p4, family: 4, text: p4 === 32 ? address : `${address}/${p4}` };
  }
  const address = formatV6(masked);
  return { address, prefix, family: 6, text: prefix === 128 ? address : `${address}/${prefix}` };
}

/** True for 127.0.0.0/8 and ::1 (mapped forms included, since parseIp folds them). */
export function isLoopback(ip: ParsedIp): boolean {
  return ip.family === 4 ? ip.text.startsWith('127.') : ip.text === '::1';
}

/** True when two networks share any address (aligned CIDR blocks are either nested or disjoint). */
export function cidrsOverlap(a: ParsedCidr, b: ParsedCidr): boolean {
  if (a.family !== b.family) return false;
  const inside = (net: ParsedCidr, addr: string): boolean => {
    const set = new AddressSet();
    set.add(net);
    return set.has({ text: addr, family: net.family });
  };
  return inside(a, b.address) || inside(b, a.address);
}

/**
 * A set of addresses and networks with fast containment checks. Hand-rolled rather than node:net's
 * BlockList, whose check() allocates a SocketAddress per call: restoring 100,000 bans spent more time
 * there than in SQLite. Sets here are small (ignoreip, own addresses), so a linear scan of masks wins.
 */
export class AddressSet {
  /** IPv4 networks as [network, prefix] pairs of unsigned 32-bit numbers. */
  readonly #v4: number[] = [];
  /** IPv6 networks: 8 groups each, then the prefix. */
  readonly #v6: Array<{ groups: number[]; prefix: number }> = [];

  add(cidr: ParsedCidr): void {
    if (cidr.family === 4) this.#v4.push(v4Number(cidr.address), cidr.prefix);
    else this.#v6.push({ groups: ipv6Groups(cidr.address) ?? [], prefix: cidr.prefix });
  }

  has(ip: ParsedIp): boolean {
    if (ip.family === 4) {
      if (this.#v4.length === 0) return false;
      const value = v4Number(ip.text);
      for (let i = 0; i < this.#v4.length; i += 2) {
        const prefix = this.#v4[i + 1]!;
        if (prefix === 0 || (value ^ this.#v4[i]!) >>> (32 - prefix) === 0) return true;
      }
      return false;
    }
    if (this.#v6.length === 0) return false;
    const groups = ipv6Groups(ip.text);
    return groups !== null && this.#v6.some((net) => groupsMatch(groups, net.groups, net.prefix));
  }

  get size(): number {
    return this.#v4.length / 2 + this.#v6.length;
  }
}

/** Dotted IPv4 (already validated) as an unsigned 32-bit number, without allocating. */
function v4Number(text: string): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      value = (value << 8) | octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return ((value << 8) | octet) >>> 0;
}

function groupsMatch(ip: number[], net: number[], prefix: number): boolean {
  for (let g = 0, bits = prefix; bits > 0; g++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if (((ip[g] ?? 0) & mask) !== ((net[g] ?? 0) & mask)) return false;
  }
  return true;
}

function ipv6Groups(text: string): number[] | null {
  let head = text;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    const v4 = text.slice(lastColon + 1);
    if (isIP(v4) !== 4) return null;
    tailV4 = v4ToGroups(v4).slice(6);
    head = text.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(halves[0] ?? '');
  const right = halves.length === 2 ? parse(halves[1] ?? '') : [];
  const missing = 8 - left.length - right.length - tailV4.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...left, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right, ...tailV4];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

function v4ToGroups(text: string): number[] {
  const o = text.split('.').map(Number);
  return [0, 0, 0, 0, 0, 0xffff, ((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0)];
}

function isV4Mapped(g: number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

function v4FromGroups(g: number[]): string {
  const a = g[6] ?? 0;
  const b = g[7] ?? 0;
  return `${a >> 8}.${a & 0xff}.${b >> 8}.${b & 0xff}`;
}

function maskGroups(groups: number[], prefix: number): number[] {
  return groups.map((g, i) => {
    const bits = Math.min(16, Math.max(0, prefix - i * 16));
    return bits === 0 ? 0 : g & ((0xffff << (16 - bits)) & 0xffff);
  });
}

/** RFC 5952: lower case, no leading zeros, the longest run (≥ 2) of zero groups as `::`, leftmost on ties. */
function formatV6(groups: number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
