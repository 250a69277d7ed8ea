// The host's gateways, read from the kernel's routing tables (/proc/net/route, /proc/net/ipv6_route).
// Behind Docker's userland proxy, or when IPv6 reaches an IPv4-only container, every connection arrives
// from the network's gateway (for example 172.18.0.1); banning it locks every user out. Read fresh with
// the same one-second TTL as the host's own addresses (own-addresses.ts), so a gateway that appears after
// start (a new container network, DHCP) is known before it could be banned.
import { readFileSync } from 'node:fs';
import { parseCidr } from '../net/ip.js';
import { AddressSnapshot } from './address-snapshot.js';

const RTF_GATEWAY = 0x2;

/** The host's gateways, read fresh like its own addresses (AddressSnapshot). */
export class Gateways extends AddressSnapshot {
  constructor(read: () => string[] = routeGateways, clock: () => number = Date.now) {
    super(read, clock);
  }
}

/** Every route's next hop on every interface, IPv4 and IPv6 (a missing table reads as none). */
export function routeGateways(): string[] {
  return [...parseRoute(readOrEmpty('/proc/net/route')), ...parseIpv6Route(readOrEmpty('/proc/net/ipv6_route'))];
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** /proc/net/route: `Iface Destination Gateway Flags …`, the gateway in little-endian hex. */
export function parseRoute(text: string): string[] {
  const found = new Set<string>();
  for (const line of text.split('\n').slice(1)) {
    const [, , gateway, flags] = line.trim().split(/\s+/);
    if (gateway === undefined || flags === undefined || !/^[0-9A-Fa-f]{8}$/.test(gateway)) continue;
    if ((Number.parseInt(flags, 16) & RTF_GATEWAY) === 0 || /^0+$/.test(gateway)) continue;
    const n = Number.parseInt(gateway, 16);
    found.add(`${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`);
  }
  return [...found];
}

/** /proc/net/ipv6_route: `dest plen src plen nexthop metric refcnt use flags iface`, 32 hex digits each. */
export function parseIpv6Route(text: string): string[] {
  const found = new Set<string>();
  for (const line of text.split('\n')) {
    const nexthop = line.trim().split(/\s+/)[4];
    if (nexthop === undefined || !/^[0-9a-fA-F]{32}$/.test(nexthop) || /^0+$/.test(nexthop)) continue;
    const groups = nexthop.match(/.{4}/g)!.map((g) => g.toLowerCase());
    const text6 = parseCidr(groups.join(':'))?.text;
    if (text6 !== undefined) found.add(text6);
  }
  return [...found];
}
