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

export class Cover {
  /** [family 4|6][prefix] → network start → entry. */
  private readonly byPrefix = { 4: new Map<number, Map<bigint, Wanted>>(), 6: new Map<number, Map<bigint, Wanted>>() };
  private count = 0;
  private nextExpiry = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.count;
  }

  get(address: Address): Wanted | undefined {
    return this.byPrefix[address.family].get(address.prefix)?.get(address.first);
  }

  /** Every wanted entry (covered ones included). */
  *entries(): IterableIterator<Wanted> {
    for (const family of [4, 6] as const) {
      for (const map of this.byPrefix[family].values()) yield* map.values();
    }
  }

  /** The entry that covers `address` (a shorter prefix holding it), if any. */
  coveredBy(address: Address): Wanted | undefined {
    const bits = address.family === 4 ? 32 : 128;
    for (const [prefix, map] of this.byPrefix[address.family]) {
      if (prefix >= address.prefix || map.size === 0) continue;
      const hostBits = BigInt(bits - prefix);
      const hit = map.get((address.first >> hostBits) << hostBits);
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
    }
    const inKernel = map.has(address.first) && this.coveredBy(address) === undefined;
    if (!map.has(address.first)) this.count++;
    map.set(address.first, wanted);
    if (wanted.expiresAt !== null && wanted.expiresAt < this.nextExpiry) this.nextExpiry = wanted.expiresAt;
    if (this.coveredBy(address)) return;
    note(delta, 'add', wanted, inKernel);
    if (address.prefix < (address.family === 4 ? 32 : 128)) {
      for (const inner of this.inside(address)) note(delta, 'remove', inner);
    }
  }

  remove(address: Address, delta: CoverDelta): boolean {
    const map = this.byPrefix[address.family].get(address.prefix);
    const wanted = map?.get(address.first);
    if (!map || !wanted) return false;
    const wasOutermost = this.coveredBy(address) === undefined;
    map.delete(address.first);
    if (map.size === 0) this.byPrefix[address.family].delete(address.prefix);
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
    for (const w of this.entries()) if (this.coveredBy(w.address) === undefined) result.push(w);
    return result;
  }

  clear(): void {
    this.byPrefix[4].clear();
    this.byPrefix[6].clear();
    this.count = 0;
    this.nextExpiry = Number.POSITIVE_INFINITY;
  }
}
