// Reading what nft lists: elements of `nft -j list set`, and the sets and rules of our table in a terse
// `nft -t -a list ruleset`. Pure functions, so the parsing is unit-tested without a kernel.
import { parseAddress } from './address.js';
import type { KernelEntry } from './firewall.js';
import { CHAIN, setName } from './nftables-script.js';

/** Parses one element of `nft -j list set`: a string, `{prefix}`, or `{elem: {val, expires}}`. */
export function parseElement(raw: unknown): KernelEntry | null {
  let value: unknown = raw;
  let expires: number | null = null;
  if (typeof raw === 'object' && raw !== null && 'elem' in raw) {
    const elem = (raw as { elem: { val: unknown; expires?: number } }).elem;
    value = elem.val;
    expires = typeof elem.expires === 'number' ? elem.expires : null;
  }
  let text: string | null = null;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'object' && value !== null && 'prefix' in value) {
    const p = (value as { prefix: { addr: string; len: number } }).prefix;
    text = `${p.addr}/${p.len}`;
  }
  // Ranges that are not a CIDR block were not written by us; they are left alone.
  const address = text === null ? null : parseAddress(text);
  return address ? { text: address.text, expires } : null;
}

/** One set of the terse table listing: its name and flags. */
export interface ListedSet {
  name: string;
  flags: string;
}

/** The sets of a terse `nft list` of our table (`set NAME { … flags a,b … }`). */
export function listedSets(table: string): ListedSet[] {
  const sets: ListedSet[] = [];
  for (const m of table.matchAll(/^\s*set (\S+) \{[^}]*?\}/gms)) {
    const flags = (m[0].match(/^\s*flags (.*)$/m)?.[1] ?? '').replace(/\s/g, '');
    sets.push({ name: m[1] as string, flags });
  }
  return sets;
}

/** The rules of our chain in order: text without the handle comment, and the handle. */
export function chainRules(table: string): Array<{ text: string; handle: number }> {
  const lines = table.split('\n');
  const start = lines.findIndex((l) => l.trim().startsWith(`chain ${CHAIN} {`));
  if (start === -1) return [];
  const rules: Array<{ text: string; handle: number }> = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '}') break;
    const m = line.match(/^\s*(.*?)\s*# handle (\d+)\s*$/);
    if (m && !/^(type|policy)\b/.test(m[1] as string) && m[1] !== '') rules.push({ text: m[1] as string, handle: Number(m[2]) });
  }
  return rules;
}

/** True when a rule uses one of the jail's sets. */
export const uses = (text: string, jail: string): boolean => {
  const words = text.split(/\s+/);
  return words.includes(`@${setName(jail, 4)}`) || words.includes(`@${setName(jail, 6)}`);
};

/**
 * A rule as nft lists it, compared with the one we write: counters' values dropped, a one-element
 * `{ x }` as the bare `x` nft prints, and `reject with <icmp type>` as the plain `reject` we write
 * (nft names the default it used). Anything else that differs is a different rule.
 */
export function sameRule(listed: string, written: string): boolean {
  const plain = (text: string) =>
    text
      .replace(/ counter packets \d+ bytes \d+/, ' counter')
      .replace(/\{ ([^\s,{}]+) \}/g, '$1')
      .replace(/ reject with icmp(?:v6|x)? port-unreachable$/, ' reject');
  return plain(listed) === plain(written);
}

/** True when the terse table's chain hooks input at priority -1, as the start script makes it. */
export function chainHooked(table: string): boolean {
  return new RegExp(`^\\s*chain ${CHAIN} \\{[^\\n]*\\n\\s*type filter hook input priority (?:filter )?- ?1;`, 'm').test(table);
}
