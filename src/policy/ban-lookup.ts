// Is this client address banned by any running jail? Asked by the Postfix and Dovecot policy servers for
// every connection or login, so it answers from the jails' in-memory ban lists: one Map lookup for an
// address banned as itself, and a containment check against the jail's banned networks (CIDR bans),
// whose set is rebuilt only when the jail's bans change.
import type { BanList } from '../jail/bans.js';
import { AddressSet, parseCidr, parseIp } from '../net/ip.js';

/** What the lookup reads of a running jail. */
export interface BanSource {
  readonly name: string;
  readonly jail: { readonly bans: BanList };
}

interface NetworkCache {
  /** `total` and `size` of the list when the set was built: adds raise total, removals lower size. */
  total: number;
  size: number;
  networks: AddressSet;
}

export class BanLookup {
  private readonly caches = new WeakMap<BanList, NetworkCache>();

  constructor(private readonly sources: () => Iterable<BanSource>) {}

  /** The name of a jail that bans `address` (itself or a network holding it); null when none does or it is no address. */
  bannedBy(address: string): string | null {
    const ip = parseIp(address);
    if (ip === null) return null;
    for (const source of this.sources()) {
      const bans = source.jail.bans;
      if (bans.size === 0) continue;
      if (bans.has(ip.text) || this.networks(bans).has(ip)) return source.name;
    }
    return null;
  }

  private networks(bans: BanList): AddressSet {
    const cached = this.caches.get(bans);
    if (cached !== undefined && cached.total === bans.total && cached.size === bans.size) return cached.networks;
    const networks = new AddressSet();
    for (const ticket of bans.list()) {
      if (!ticket.ip.includes('/')) continue;
      const cidr = parseCidr(ticket.ip);
      if (cidr !== null) networks.add(cidr);
    }
    this.caches.set(bans, { total: bans.total, size: bans.size, networks });
    return networks;
  }
}
