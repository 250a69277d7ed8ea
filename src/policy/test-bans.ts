// Ban lists for the policy tests: real BanLists holding the given addresses or networks.
import { BanList } from '../jail/bans.js';
import type { BanSource } from './ban-lookup.js';

export function banSource(name: string, addresses: readonly string[]): BanSource {
  const bans = new BanList();
  for (const ip of addresses) bans.add({ ip, jail: name, time: 1_700_000_000, bantime: 600, banCount: 1, failures: 3, matches: [] });
  return { name, jail: { bans } };
}
