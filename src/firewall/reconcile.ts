// Keeping the kernel in step with the store: a generic reconcile for backends that can list exactly
// what they hold, and the repair the daemon runs periodically (someone flushed the ruleset).
import { type Address, parseAddress } from './address.js';
import type { BanEntry, Firewall, FirewallJail } from './firewall.js';

/** Diff of the kernel's entries against `wanted`: unban what is stale, ban what is missing. */
export async function reconcileByDiff(
  fw: Pick<Firewall, 'list' | 'ban' | 'unban'>,
  jail: FirewallJail,
  wanted: readonly BanEntry[],
): Promise<void> {
  const want = new Map<string, BanEntry>();
  for (const e of wanted) if (e.timeout === null || e.timeout > 0) want.set(e.address.text, e);
  const held = new Set<string>();
  const stale: Address[] = [];
  for (const k of await fw.list(jail)) {
    held.add(k.text);
    const address = parseAddress(k.text);
    if (address && !want.has(k.text)) stale.push(address);
  }
  const missing = [...want.values()].filter((e) => !held.has(e.address.text));
  if (stale.length > 0) await fw.unban(jail, stale);
  if (missing.length > 0) await fw.ban(jail, missing);
}

export type RepairResult = 'ok' | 'repaired';

/**
 * The periodic check: when the jail's rules or sets are gone (flushed, another tool reset the
 * firewall), recreates them and puts every active ban back. Returns what it did, for the log.
 */
export async function checkAndRepair(fw: Firewall, jail: FirewallJail, wanted: readonly BanEntry[]): Promise<RepairResult> {
  if (await fw.check(jail)) return 'ok';
  await fw.start(jail);
  await fw.reconcile(jail, wanted);
  return 'repaired';
}
