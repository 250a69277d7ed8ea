// Ban tickets, their duration (bantime, permanent, bantime.increment) and the set of current bans of one
// jail with cheap expiry. Pure: times are arguments, randomness is injected.
import type { BantimeIncrement, Seconds } from '../config/model.js';
import { compileFormula, type Formula } from './formula.js';

export const PERMANENT = -1;

export interface BanTicket {
  readonly ip: string;
  readonly jail: string;
  /** Epoch seconds the ban counts from (the last failure's time, or "now" for a manual ban). */
  readonly time: number;
  /** Seconds, or -1 (PERMANENT). */
  readonly bantime: Seconds;
  /** 1 for a first ban; earlier bans + 1 with bantime.increment (Fail2Ban's bancount). */
  readonly banCount: number;
  /** Failures that led to the ban (0 for a manual ban). */
  readonly failures: number;
  /** Matched log lines, oldest first. */
  readonly matches: readonly string[];
}

/** End of a ban in epoch seconds; Infinity when permanent. */
export function banEnd(ticket: Pick<BanTicket, 'time' | 'bantime'>): number {
  return ticket.bantime < 0 ? Number.POSITIVE_INFINITY : ticket.time + ticket.bantime;
}

/** The last ban of an IP in one jail (Fail2Ban's `bips` row): its ban count and when it was made. */
export interface LastBan {
  banCount: number;
  time: number;
}

/**
 * Earlier bans per IP, for bantime.increment and the observer's weighting of known offenders. The store
 * implements this; so does memory. History survives expiry; only a manual unban forgets it.
 */
export interface BanHistory {
  /** Earlier bans of `ip` in `jail`, or summed over all jails when jail is null (overalljails). */
  previousBans(ip: string, jail: string | null): number;
  /**
   * The last ban of `ip` in `jail`; with jail null, over all jails: ban counts summed, the latest time
   * (Fail2Ban's getBan with overalljails). Null when there is none.
   */
  lastBan(ip: string, jail: string | null): LastBan | null;
}

type Recorded = Pick<BanTicket, 'ip' | 'jail' | 'banCount' | 'time'>;

/** Keeps bans in memory: for tests, replays, and a daemon running without a database. */
export class MemoryBanHistory implements BanHistory {
  readonly #rows = new Map<string, Map<string, LastBan>>();

  record(ticket: Recorded): void {
    let perJail = this.#rows.get(ticket.ip);
    if (perJail === undefined) this.#rows.set(ticket.ip, (perJail = new Map()));
    perJail.set(ticket.jail, { banCount: ticket.banCount, time: ticket.time });
  }

  /** Forgets an IP's history in one jail (a manual unban). */
  forget(ip: string, jail: string): void {
    this.#rows.get(ip)?.delete(jail);
  }

  previousBans(ip: string, jail: string | null): number {
    const perJail = this.#rows.get(ip);
    if (perJail === undefined) return 0;
    if (jail !== null) return perJail.get(jail)?.banCount ?? 0;
    let sum = 0;
    for (const row of perJail.values()) sum += row.banCount;
    return sum;
  }

  lastBan(ip: string, jail: string | null): LastBan | null {
    const perJail = this.#rows.get(ip);
    if (perJail === undefined) return null;
    if (jail !== null) return perJail.get(jail) ?? null;
    return overall(perJail.values());
  }

  /** The last ban of `ip` per jail. */
  rowsOf(ip: string): ReadonlyMap<string, LastBan> {
    return this.#rows.get(ip) ?? EMPTY;
  }
}

const EMPTY: ReadonlyMap<string, LastBan> = new Map();

/** Ban counts summed, the latest time; null for no rows. */
function overall(rows: Iterable<LastBan>): LastBan | null {
  let found: LastBan | null = null;
  for (const row of rows) {
    found = found === null ? { ...row } : { banCount: found.banCount + row.banCount, time: Math.max(found.time, row.time) };
  }
  return found;
}

/**
 * A history whose new bans are written later, in one batch (one transaction instead of one fsync per
 * ban): recorded bans answer at once from memory, the rest from `base` (the store). drain() hands the
 * recorded bans over; the caller writes them to `base` right away.
 */
export class BufferedBanHistory implements BanHistory {
  #own = new MemoryBanHistory();
  #pending: BanTicket[] = [];

  constructor(private readonly base: BanHistory) {}

  record(ticket: BanTicket): void {
    this.#own.record(ticket);
    this.#pending.push(ticket);
  }

  /** The bans recorded since the last call, to be written to `base` now. */
  drain(): BanTicket[] {
    const out = this.#pending;
    this.#pending = [];
    this.#own = new MemoryBanHistory();
    return out;
  }

  /** Forgets what is buffered for an IP (its history is being deleted in `base`). */
  forget(ip: string, jail: string): void {
    this.#own.forget(ip, jail);
  }

  previousBans(ip: string, jail: string | null): number {
    return this.lastBan(ip, jail)?.banCount ?? 0;
  }

  lastBan(ip: string, jail: string | null): LastBan | null {
    if (jail !== null) return this.#own.lastBan(ip, jail) ?? this.base.lastBan(ip, jail);
    const own = this.#own.rowsOf(ip);
    const stored = this.base.lastBan(ip, null);
    if (own.size === 0) return stored;
    // A buffered row replaces its jail's stored one.
    let banCount = stored?.banCount ?? 0;
    let time = stored?.time ?? Number.NEGATIVE_INFINITY;
    for (const [j, row] of own) {
      banCount += row.banCount - (this.base.lastBan(ip, j)?.banCount ?? 0);
      time = Math.max(time, row.time);
    }
    return { banCount, time };
  }
}

/** Returns a number in [0, 1), like Math.random. */
export type RandomSource = () => number;

/** Computes the bantime of a ban from the jail's bantime and the IP's earlier ban count. */
export type BantimeCalculator = (bantime: Seconds, previousBans: number, random: RandomSource) => Seconds;

/**
 * Builds the bantime.increment calculation. Semantics follow Fail2Ban 1.0: nothing changes for a first
 * ban, a permanent bantime or increment off; `multipliers` (index = earlier bans, last one repeats)
 * replace the formula; the formula never shortens the ban below bantime; maxtime caps; rndtime adds a
 * random 0..rndtime seconds after the cap. maxtime/rndtime ≤ 0 mean unset.
 * Throws FormulaError for a formula outside the supported subset (the config layer reports it).
 */
export function bantimeCalculator(increment: BantimeIncrement): BantimeCalculator {
  if (!increment.enabled) return (bantime) => bantime;
  const factor = increment.factor;
  const multipliers = increment.multipliers;
  let grow: (bantime: Seconds, count: number) => number;
  if (multipliers.length > 0) {
    grow = (bantime, count) => bantime * factor * (multipliers[Math.min(count, multipliers.length - 1)] ?? 1);
  } else {
    const formula: Formula = increment.formula === null ? defaultFormula : compileFormula(increment.formula);
    grow = (bantime, count) => Math.max(bantime, formula({ time: bantime, count, factor }));
  }
  return (bantime, previousBans, random) => {
    if (bantime <= 0 || previousBans <= 0) return bantime;
    let t = grow(bantime, previousBans);
    // A formula that overflows (or is undefined) is capped, never thrown: an exception here would drop
    // the rest of a batch of lines. Without maxtime, Fail2Ban's fallback: the plain bantime.
    if (Number.isNaN(t) || (!Number.isFinite(t) && !(increment.maxtime > 0))) return bantime;
    if (increment.maxtime > 0) t = Math.min(t, increment.maxtime);
    if (increment.rndtime > 0) t += random() * increment.rndtime;
    return t;
  };
}

/** ban.Time * (1 << min(ban.Count, 20)) * banFactor, without parsing. */
const defaultFormula: Formula = ({ time, count, factor }) => time * 2 ** Math.min(count, 20) * factor;

const NONE: readonly BanTicket[] = Object.freeze([]);

/**
 * The current bans of one jail, in ban order, with expiry through a min-heap on end time (lazy deletion:
 * entries of unbanned or replaced tickets are skipped when they surface), so expire() costs only what
 * it returns even with 100,000 bans.
 */
export class BanList {
  readonly #tickets = new Map<string, BanTicket>();
  readonly #heap: BanTicket[] = [];
  #total = 0;

  /** `onSooner`: called when a ban ends before every other held one (nextEnd() moved earlier). */
  constructor(private readonly onSooner?: () => void) {}

  /** When the earliest held ban ends (a lifted one may still stand here until expire() passes it); Infinity when none ends. */
  nextEnd(): number {
    const first = this.#heap[0];
    return first === undefined ? Number.POSITIVE_INFINITY : banEnd(first);
  }

  /** Adds a ban; false (Fail2Ban's 0) when the IP is already banned. */
  add(ticket: BanTicket): boolean {
    if (this.#tickets.has(ticket.ip)) return false;
    this.#tickets.set(ticket.ip, ticket);
    this.#total++;
    if (ticket.bantime >= 0) this.#push(ticket);
    return true;
  }

  /** Removes a ban; null when the IP is not banned. */
  remove(ip: string): BanTicket | null {
    const ticket = this.#tickets.get(ip);
    if (ticket === undefined) return null;
    this.#tickets.delete(ip);
    return ticket;
  }

  get(ip: string): BanTicket | undefined {
    return this.#tickets.get(ip);
  }

  has(ip: string): boolean {
    return this.#tickets.has(ip);
  }

  /**
   * Replaces the current ban of `ticket.ip` by `ticket` (a prolonged ban); false when the IP is not
   * banned. The old heap entry is skipped when it surfaces.
   */
  replace(ticket: BanTicket): boolean {
    if (!this.#tickets.has(ticket.ip)) return false;
    this.#tickets.set(ticket.ip, ticket);
    if (ticket.bantime >= 0) this.#push(ticket);
    return true;
  }

  /** Removes and returns every ban whose end is before `now` (a ban ending at `now` still holds), earliest end first. */
  expire(now: number): readonly BanTicket[] {
    // Called for every failure: nothing due must cost no allocation.
    const first = this.#heap[0];
    if (first === undefined || !(banEnd(first) < now)) return NONE;
    const out: BanTicket[] = [];
    for (let top = this.#heap[0]; top !== undefined && banEnd(top) < now; top = this.#heap[0]) {
      this.#pop();
      if (this.#tickets.get(top.ip) === top) {
        this.#tickets.delete(top.ip);
        out.push(top);
      }
    }
    if (this.#heap.length > 2 * this.#tickets.size + 1024) this.#rebuild();
    return out;
  }

  /** The banned addresses in the order they were banned: one array, where list().map() makes two. */
  ips(): string[] {
    return Array.from(this.#tickets.keys());
  }

  /** Current bans in the order they were made. */
  list(): BanTicket[] {
    return [...this.#tickets.values()];
  }

  clear(): BanTicket[] {
    const all = this.list();
    this.#tickets.clear();
    this.#heap.length = 0;
    return all;
  }

  get size(): number {
    return this.#tickets.size;
  }

  /** Bans ever added (Fail2Ban's "Total banned"). */
  get total(): number {
    return this.#total;
  }

  /**
   * Continues the count of the list this one replaces: a reload rebuilds a jail, but Fail2Ban's reload
   * keeps the jail and so its totals.
   */
  resumeTotal(total: number): void {
    this.#total = Math.max(this.#total, total);
  }

  #push(ticket: BanTicket): void {
    const heap = this.#heap;
    let i = heap.push(ticket) - 1;
    const end = banEnd(ticket);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (banEnd(p) <= end) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = ticket;
    if (i === 0) this.onSooner?.();
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    const end = banEnd(last);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && banEnd(heap[r]!) < banEnd(heap[l]!) ? r : l;
      if (banEnd(heap[c]!) >= end) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
  }

  /** Drops heap entries of tickets no longer current, so unban churn cannot grow the heap forever. */
  #rebuild(): void {
    const live = this.#heap.filter((t) => this.#tickets.get(t.ip) === t);
    this.#heap.length = 0;
    for (const t of live) this.#push(t);
  }
}
