// Reads the counting rules (see counterRuleText) out of `nft -j list ruleset`: per jail, the packets and
// bytes its blocking rules stopped, IPv4 and IPv6 together.
import { CHAIN, TABLE } from './nftables-script.js';

export interface DropCount {
  packets: number;
  bytes: number;
}

interface JsonRule {
  family?: string;
  table?: string;
  chain?: string;
  expr?: Array<Record<string, unknown>>;
}

const SET_REF = /^@addr6?-set-(.+)$/;

/** Jail → counts, from our chain's rules that match one of our sets and carry a counter. */
export function parseDropCounters(json: string): Map<string, DropCount> {
  const out = new Map<string, DropCount>();
  const items = (JSON.parse(json) as { nftables?: Array<{ rule?: JsonRule }> }).nftables ?? [];
  for (const { rule } of items) {
    if (rule === undefined || rule.family !== 'inet' || rule.table !== TABLE || rule.chain !== CHAIN) continue;
    let jail: string | null = null;
    let counter: DropCount | null = null;
    for (const expr of rule.expr ?? []) {
      const right = (expr['match'] as { right?: unknown } | undefined)?.right;
      const ref = typeof right === 'string' ? SET_REF.exec(right) : null;
      if (ref) jail = ref[1]!;
      const c = expr['counter'] as Partial<DropCount> | undefined;
      if (c && typeof c.packets === 'number' && typeof c.bytes === 'number') counter = { packets: c.packets, bytes: c.bytes };
    }
    if (jail === null || counter === null) continue;
    const sum = out.get(jail) ?? { packets: 0, bytes: 0 };
    out.set(jail, { packets: sum.packets + counter.packets, bytes: sum.bytes + counter.bytes });
  }
  return out;
}
