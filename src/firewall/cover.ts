// The bans a jail wants, and which of them the kernel must hold. nftables interval sets refuse an
// element that overlaps another ("interval overlaps with an existing one"), so when a CIDR covers other
// bans only the outermost entry goes into the kernel; the covered ones wait here and are put back when
// the CIDR is lifted. CIDR blocks either nest or are disjoint, so "covered" is a lookup per prefix length.
import type { Address } from './address.js';

export interface Wanted {
  address: Address;
  /** Epoch ms when the ban ends; null = permanent. */
  expiresAt: number | null;
}

/** Kernel changes an operation needs: `add` (with remaining time) and `remove` (by text). */
export interface CoverDelta {
  add: Map<string, Wanted>;
  remove: Map<string, Address>;
  /** Added by this delta and not in the kernel before it: removing one again writes nothing. */
  born: Set<string>;
}

export function emptyDelta(): CoverDelta {
  return { add: new Map(), remove: new Map(), born: new Set() };
}

/** `inKernel`: the entry is outermost right now, so the kernel holds it (or this delta adds it). */
function note(delta: CoverDelta | undefined, kind: 'add' | 'remove', wanted: Wanted, inKernel = false): void {
  if (delta === undefined) return;
  const text = wanted.address.text;
  if (kind === 'add') {
    if (!inKernel && !delta.remove.has(text)) delta.born.add(text);
    delta.remove.delete(text);
    delta.add.set(text, wanted);
  } else {
    delta.add.delete(text);
    if (!delta.born.delete(text)) delta.remove.set(text, wanted.address);
  }
}

/**
 * The key of an entry in its prefix's map: a single address by its text (a string caches its hash, where
 * a bigint key is hashed anew on every lookup: with 100,000 bans the start-up sync's adds and lookups
 * took ~170 ms), a subnet by its first address (coveredBy computes that from any address inside it).
 */
const keyOf = (address: Address): string | bigint => (address.prefix === (address.family === 4 ? 32 : 128) ? address.text : address.first);

export class Cover {
  /** [family 4|6][prefix] → key (keyOf) → entry. */
  private readonly byPrefix = { 4: new Map<number, Map<string | bigint, Wanted>>(), 6: new Map<number, Map<string | bigint, Wanted>>() };
  /** Prefixes shorter than a single address that hold entries, per family: all coveredBy looks at. */
  private readonly subnets: { 4: number[]; 6: number[] } = { 4: [], 6: [] };
  private count = 0;
  private nextExpiry = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.count;
  }

  get(address: Address): Wanted | undefined {
    return this.byPrefix[address.family].get(address.prefix)?.get(keyOf(address));
  }

  /** True when some wanted entry is a subnet (then an entry may be covered by another). */
  hasSubnets(): boolean {
    return this.subnets[4].length + this.subnets[6].length > 0;
  }

  /** True when the single address with this canonical text is wanted (no parsing: see keyOf). */
  holdsHost(text: string): boolean {
    const family = text.includes(':') ? 6 : 4;
    return this.byPrefix[family].get(family === 4 ? 32 : 128)?.has(text) ?? false;
  }

  /** Every wanted entry (covered ones included). */
  *entries(): IterableIterator<Wanted> {
    for (const family of [4, 6] as const) {
      for (const map of this.byPrefix[family].values()) yield* map.values();
    }
  }

  /** The entry that covers `address` (a shorter prefix holding it), if any. */
  coveredBy(address: Address): Wanted | undefined {
    const prefixes = this.subnets[address.family];
    if (prefixes.length === 0) return undefined;
    const bits = address.family === 4 ? 32 : 128;
    for (const prefix of prefixes) {
      if (prefix >= address.prefix) continue;
      const hostBits = BigInt(bits - prefix);
      const hit = this.byPrefix[address.family].get(prefix)?.get((address.first >> hostBits) << hostBits);
      if (hit) return hit;
    }
    return undefined;
  }

  /** True when the kernel should hold this entry: wanted and not covered by another. */
  isOutermost(address: Address): boolean {
    return this.get(address) !== undefined && this.coveredBy(address) === undefined;
  }

  /** Entries inside `address` (longer prefixes) that are outermost once `address` is ignored. */
  private inside(address: Address): Wanted[] {
    const found: Wanted[] = [];
    for (const [prefix, map] of this.byPrefix[address.family]) {
      if (prefix <= address.prefix) continue;
      for (const w of map.values()) {
        if (w.address.first >= address.first && w.address.last <= address.last) found.push(w);
      }
    }
    return found;
  }

  /** Adds an entry; `delta` collects the kernel changes (left out when the caller diffs the kernel itself). */
  add(wanted: Wanted, delta?: CoverDelta): void {
    const { address } = wanted;
    let map = this.byPrefix[address.family].get(address.prefix);
    if (!map) {
      map = new Map();
      this.byPrefix[address.family].set(address.prefix, map);
      if (address.prefix < (address.family === 4 ? 32 : 128)) this.subnets[address.family].push(address.prefix);
    }
    const key = keyOf(address);
    const held = map.has(key);
    if (!held) this.count++;
    map.set(key, wanted);
    if (wanted.expiresAt !== null && wanted.expiresAt < this.nextExpiry) this.nextExpiry = wanted.expiresAt;
    if (this.coveredBy(address)) return;
    note(delta, 'add', wanted, held);
    if (address.prefix < (address.family === 4 ? 32 : 128)) {
      for (const inner of this.inside(address)) note(delta, 'remove', inner);
    }
  }

  remove(address: Address, delta: CoverDelta): boolean {
    const map = this.byPrefix[address.family].get(address.prefix);
    const key = keyOf(address);
    const wanted = map?.get(key);
    if (!map || !wanted) return false;
    const wasOutermost = this.coveredBy(address) === undefined;
    map.delete(key);
    if (map.size === 0) {
      this.byPrefix[address.family].delete(address.prefix);
      const prefixes = this.subnets[address.family];
      if (prefixes.includes(address.prefix)) prefixes.splice(prefixes.indexOf(address.prefix), 1);
    }
    this.count--;
    if (!wasOutermost) return true;
    note(delta, 'remove', wanted);
    for (const inner of this.inside(address)) {
      if (this.coveredBy(inner.address) === undefined) note(delta, 'add', inner);
    }
    return true;
  }

  /** Drops entries whose time is up (the kernel dropped them itself) and puts back what they covered. */
  expire(now: number, delta: CoverDelta): void {
    if (now < this.nextExpiry) return;
    const due: Wanted[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const w of this.entries()) {
      if (w.expiresAt === null) continue;
      if (w.expiresAt <= now) due.push(w);
      else if (w.expiresAt < next) next = w.expiresAt;
    }
    this.nextExpiry = next;
    // Longest prefixes first, so a covering CIDR's removal re-adds only children that are still wanted.
    due.sort((a, b) => b.address.prefix - a.address.prefix);
    for (const w of due) {
      this.remove(w.address, delta);
      // The kernel's own timeout removes it; a delete racing that would fail the whole batch.
      delta.remove.delete(w.address.text);
    }
  }

  /** All outermost entries: what the kernel should hold. */
  outermost(): Wanted[] {
    const result: Wanted[] = [];
    // Loops, not entries(): a generator step per entry, 100,000s of them at start.
    for (const family of [4, 6] as const) {
      for (const map of this.byPrefix[family].values()) {
        for (const w of map.values()) if (this.coveredBy(w.address) === undefined) result.push(w);
      }
    }
    return result;
  }

  clear(): void {
    this.byPrefix[4].clear();
    this.byPrefix[6].clear();
    this.subnets[4].length = 0;
    this.subnets[6].length = 0;
    this.count = 0;
    this.nextExpiry = Number.POSITIVE_INFINITY;
  }
}
