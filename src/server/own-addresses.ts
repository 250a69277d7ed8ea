// The host's own addresses, for `ignoreself`. Read from the interfaces again whenever the copy is older
// than a second, so an address added to the host (a new container network, DHCP, a VPN) is known before
// it could be banned; a flood of bans costs one read per second, not one per ban.
import { networkInterfaces } from 'node:os';
import { AddressSnapshot } from './address-snapshot.js';

/** The host's own addresses, for `ignoreself` (see AddressSnapshot for when they are read). */
export class OwnAddresses extends AddressSnapshot {
  constructor(read: () => string[] = interfaceAddresses, clock: () => number = Date.now) {
    super(read, clock);
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
