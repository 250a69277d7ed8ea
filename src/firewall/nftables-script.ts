// The nft text for docker-mailserver's objects: table `inet f2b-table`, chain `f2b-chain` (filter, hook
// input, priority -1), sets `addr-set-<jail>` / `addr6-set-<jail>` with `flags interval` (DMS's patch of
// Fail2Ban's nftables.conf; `interval, timeout` when the admin turns on element timeouts), and one rule
// per set. On kernels without interval sets (some NAS kernels, DMS issue 3897) the sets are plain hash
// sets instead: single addresses only. The IPv6 set and its rule are created on the first IPv6 ban, as Fail2Ban does. Pure functions,
// so the exact text is unit-tested; nftables.ts feeds it to `nft -f -`.
import type { Address } from './address.js';
import type { FirewallJail } from './firewall.js';

export const TABLE = 'f2b-table';
export const CHAIN = 'f2b-chain';

export function setName(jail: string, family: 4 | 6): string {
  return family === 4 ? `addr-set-${jail}` : `addr6-set-${jail}`;
}

/** The part of a rule before `ip saddr`: interface, protocol and ports. */
function match(jail: FirewallJail): string {
  const parts: string[] = [];
  if (jail.interface !== null) parts.push(`iifname "${jail.interface}"`);
  const ports = jail.ports?.join(', ');
  if (ports === undefined) {
    if (jail.protocol !== 'all') parts.push(`meta l4proto { ${jail.protocol} }`);
  } else if (jail.protocol === 'all') {
    parts.push(`meta l4proto { tcp, udp } th dport { ${ports} }`);
  } else {
    parts.push(`${jail.protocol} dport { ${ports} }`);
  }
  return parts.join(' ');
}

/** drop, or reject: a TCP reset for TCP-only rules (the client sees "refused"), ICMP otherwise. */
function verdict(jail: FirewallJail): string {
  if (jail.blocktype === 'drop') return 'drop';
  return jail.protocol === 'tcp' ? 'reject with tcp reset' : 'reject';
}

/** The rule's match for one family: interface, protocol, ports, then the set. */
function matchText(jail: FirewallJail, family: 4 | 6): string {
  const m = match(jail);
  const saddr = `${family === 4 ? 'ip' : 'ip6'} saddr @${setName(jail.name, family)}`;
  return `${m === '' ? '' : `${m} `}${saddr}`;
}

/** The rule body for one family, as `add rule` takes it (and close to how `nft list` prints it). */
export function ruleText(jail: FirewallJail, family: 4 | 6): string {
  return `${matchText(jail, family)} ${verdict(jail)}`;
}

/**
 * A rule with the same match and a counter but no verdict, just before the blocking rule: it counts the
 * packets and bytes that rule blocks (metrics). The counter is not put into the blocking rule itself,
 * because docker-mailserver's tests look for that rule's exact text in `nft list table`.
 */
export function counterRuleText(jail: FirewallJail, family: 4 | 6): string {
  return `${matchText(jail, family)} counter`;
}

/**
 * The set type: `interval` holds addresses and CIDRs (DMS's sets); `hash` (no `flags interval`) holds
 * single addresses only, for kernels that refuse interval sets with "Operation not supported".
 */
export type SetType = 'interval' | 'hash';

/** How a jail's sets are made: interval or plain hash, with or without per-element timeouts. */
export interface SetKind {
  type: SetType;
  timeouts: boolean;
}

/** The set's flags as written; `nft list` prints them the same, without the spaces. */
export function setFlags(kind: SetKind): string {
  const flags = [...(kind.type === 'interval' ? ['interval'] : []), ...(kind.timeouts ? ['timeout'] : [])];
  return flags.join(', ');
}

/** One family's set and rule; `add set` is idempotent, the rule is added once per start. */
export function familyScript(jail: FirewallJail, family: 4 | 6, kind: SetKind): string[] {
  const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  const flags = setFlags(kind);
  return [
    `add set inet ${TABLE} ${setName(jail.name, family)} { type ${type};${flags === '' ? '' : ` flags ${flags};`} }`,
    `add rule inet ${TABLE} ${CHAIN} ${counterRuleText(jail, family)}`,
    `add rule inet ${TABLE} ${CHAIN} ${ruleText(jail, family)}`,
  ];
}

/**
 * Creates table, chain, the IPv4 set and rule, and the IPv6 ones when `families` says so (a set kept
 * from an earlier run). `staleHandles` are this jail's rules from an earlier start; `recreate` are sets
 * whose flags differ from the wanted kind (element timeouts turned on or off), deleted and made anew.
 */
export function startScript(
  jail: FirewallJail,
  kind: SetKind,
  options: { families?: ReadonlyArray<4 | 6>; staleHandles?: readonly number[]; recreate?: readonly string[] } = {},
): string {
  const lines = [
    `add table inet ${TABLE}`,
    `add chain inet ${TABLE} ${CHAIN} { type filter hook input priority -1; }`,
    ...(options.staleHandles ?? []).map((h) => `delete rule inet ${TABLE} ${CHAIN} handle ${h}`),
    ...(options.recreate ?? []).map((set) => `delete set inet ${TABLE} ${set}`),
    ...(options.families ?? [4]).flatMap((f) => familyScript(jail, f, kind)),
  ];
  return `${lines.join('\n')}\n`;
}

/** Removes this jail's rules (by handle) and its `sets`; the table goes too when nothing else uses it. */
export function stopScript(handles: readonly number[], sets: readonly string[], dropTable: boolean): string {
  if (dropTable) return `delete table inet ${TABLE}\n`;
  const lines = [...handles.map((h) => `delete rule inet ${TABLE} ${CHAIN} handle ${h}`), ...sets.map((s) => `delete set inet ${TABLE} ${s}`)];
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export interface ElementAdd {
  address: Address;
  /** Whole seconds, 0 < timeout <= MAX_ELEMENT_TIMEOUT; null = no timeout. */
  timeout: number | null;
}

/** nft refuses element timeouts of 100,000,000 s or more ("value too large"). */
export const MAX_ELEMENT_TIMEOUT = 99_999_999;

/** Elements per statement: keeps each line reasonable while one `nft -f -` still does all of them. */
const CHUNK = 10_000;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/**
 * Element changes for one jail, removals first so a CIDR can replace the addresses it now covers in one
 * transaction. A removal-only batch writes `add` then `delete`: `delete` alone fails (taking the whole
 * batch with it) when the kernel already let the element time out, and nft 1.0.6 has no `destroy`. That
 * trick cannot be used beside additions: nft then still counts the re-added element and reports an
 * overlap, so mixed batches delete plainly (a failure there makes the caller re-read the kernel).
 */
export function elementScript(jail: string, remove: readonly Address[], add: readonly ElementAdd[]): string {
  const lines: string[] = [];
  for (const family of [4, 6] as const) {
    const set = `inet ${TABLE} ${setName(jail, family)}`;
    const added = add
      .filter((e) => e.address.family === family)
      .map((e) => (e.timeout === null || e.timeout > MAX_ELEMENT_TIMEOUT ? e.address.text : `${e.address.text} timeout ${e.timeout}s`));
    const gone = remove.filter((a) => a.family === family).map((a) => a.text);
    for (const part of chunks(gone)) {
      const list = part.join(', ');
      if (added.length === 0) lines.push(`add element ${set} { ${list} }`);
      lines.push(`delete element ${set} { ${list} }`);
    }
    for (const part of chunks(added)) lines.push(`add element ${set} { ${part.join(', ')} }`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
