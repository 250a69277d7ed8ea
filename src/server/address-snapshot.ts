// A list of the host's addresses (its own, its networks, its gateways) read from the kernel again
// whenever the copy is older than a second: an address the host gains after start (a new container
// network, DHCP, a VPN) is known before it could be banned, and a flood of bans costs one read per
// second, not one per ban.
import { cidrsOverlap, type ParsedCidr, parseCidr } from '../net/ip.js';

const TTL_MS = 1000;

export class AddressSnapshot {
  private list: ParsedCidr[] = [];
  private readAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly read: () => string[],
    private readonly clock: () => number = Date.now,
  ) {}

  /** The addresses as text, read fresh when the copy is stale. */
  current(): string[] {
    return this.fresh().map((c) => c.text);
  }

  /** True when `ip` (an address or a network) is, or overlaps, one of the listed addresses or networks. */
  covers(ip: string): boolean {
    const target = parseCidr(ip);
    return target !== null && this.fresh().some((listed) => cidrsOverlap(listed, target));
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
