// The host's own addresses, for `ignoreself`. Read from the interfaces again whenever the copy is older
// than a second, so an address added to the host (a new container network, DHCP, a VPN) is known before
// it could be banned; a flood of bans costs one read per second, not one per ban.
import { networkInterfaces } from 'node:os';
import { cidrsOverlap, type ParsedCidr, parseCidr } from '../net/ip.js';

const TTL_MS = 1000;

export class OwnAddresses {
  private list: ParsedCidr[] = [];
  private readAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly read: () => string[] = interfaceAddresses,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The addresses as text, read fresh when the copy is stale. */
  current(): string[] {
    return this.fresh().map((c) => c.text);
  }

  /** True when `ip` (an address or a network) is, or covers, one of the host's addresses. */
  covers(ip: string): boolean {
    const target = parseCidr(ip);
    return target !== null && this.fresh().some((own) => cidrsOverlap(own, target));
  }

  private fresh(): ParsedCidr[] {
    const now = this.clock();
    if (now - this.readAt >= TTL_MS) {
      this.list = this.read().flatMap((a) => parseCidr(a) ?? []);
      this.readAt = now;
    }
    return this.list;
  }
}

/** Every address of every interface (IPv6 zone suffixes dropped). */
function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.split('%')[0]!));
}

/** Every interface's network (`address/prefix`): a peer inside one of them is on the host's own networks. */
export function interfaceNetworks(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).flatMap((i) => i.cidr?.split('%')[0] ?? []));
}
