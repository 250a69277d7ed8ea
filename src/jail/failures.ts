// Failure counting per IP with Fail2Ban's FailManager semantics, so we ban exactly when it does. Each IP
// keeps (first time, last time, retry, failures). A new failure later than the last one first "adjusts"
// the entry: when its first failure is older than findtime, the count is re-estimated from the rate seen
// so far, `retry = round(retry / (now - first) * findtime)` (Python's round: half to even), and first
// becomes `time - findtime`; then the failure is added. An IP whose LAST failure is findtime or more
// before "now" is forgotten (Fail2Ban's cleanup), so the estimate only spans bursts that keep going.
//
// Memory is the design constraint: a botnet can fail from a million addresses. Per-IP numbers live in
// typed arrays indexed by slot, so a failure allocates nothing once its IP has a slot. Slots are chained
// in least-recently-failed order by an intrusive doubly linked list in two Int32Arrays, so "drop stale
// entries" and "evict the oldest at the cap" are O(1) per entry from the head. (Using the Map's own
// insertion order instead — delete + re-insert, then a fresh iterator for the head — goes quadratic: V8
// iterators skip every deleted entry left at the front.)

import { ownString } from './own-string.js';

export interface FailureCounterOptions {
  /** Window length in seconds (Fail2Ban's findtime, FailManager's maxTime). */
  findtime: number;
  /** Hard cap on tracked IPs; the least recently failing one is evicted beyond it. Default 1,000,000. */
  maxEntries?: number;
  /** Matched lines kept per IP, newest last (Fail2Ban's `maxmatches`); 0 keeps none. */
  maxMatches?: number;
  /** Called when an IP is tracked while none was (nextExpiry() moved from never to a time). */
  onSooner?: () => void;
}

/** What an IP had accumulated when it was taken out for a ban. */
export interface FailureRecord {
  /** Fail2Ban's retry: the (rate-estimated, observer-weighted) count compared with maxretry. */
  retry: number;
  /** Failures actually seen (Fail2Ban's attempts). */
  failures: number;
  firstTime: number;
  lastTime: number;
  /** Matched lines, oldest first (at most maxMatches). */
  matches: string[];
}

export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** A kept matched line is cut to this many characters: log lines are hostile input. */
export const MAX_MATCH_LENGTH = 1000;
const INITIAL_SLOTS = 1024;

/** Python 3's round() of a non-negative float: halves go to the even neighbour. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export class FailureCounter {
  readonly findtime: number;
  readonly maxEntries: number;
  readonly maxMatches: number;
  readonly #slots = new Map<string, number>();
  /** slot → ip, and the least-recently-failed list (−1 ends it). */
  #keys: Array<string | undefined>;
  #prev: Int32Array;
  #next: Int32Array;
  #head = -1;
  #tail = -1;
  #first: Float64Array;
  #last: Float64Array;
  #retry: Float64Array;
  #failures: Uint32Array;
  #matches: Array<string[] | undefined>;
  #free: number[] = [];
  #capacity: number;
  readonly #onSooner: (() => void) | undefined;
  #nextSlot = 0;
  #total = 0;
  #evicted = 0;

  constructor(options: FailureCounterOptions) {
    if (!(options.findtime > 0)) throw new RangeError('findtime must be > 0');
    this.findtime = options.findtime;
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.maxMatches = Math.max(0, options.maxMatches ?? 0);
    this.#onSooner = options.onSooner;
    this.#capacity = Math.min(INITIAL_SLOTS, this.maxEntries);
    this.#first = new Float64Array(this.#capacity);
    this.#last = new Float64Array(this.#capacity);
    this.#retry = new Float64Array(this.#capacity);
    this.#failures = new Uint32Array(this.#capacity);
    this.#matches = this.maxMatches > 0 ? new Array(this.#capacity) : [];
    this.#keys = new Array(this.#capacity);
    this.#prev = new Int32Array(this.#capacity);
    this.#next = new Int32Array(this.#capacity);
  }

  /** IPs with failures being tracked (Fail2Ban's "Currently failed"). */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * When prune() drops the least recently failed IP (its last failure + findtime); Infinity when none
   * is tracked.
   */
  nextExpiry(): number {
    return this.#head === -1 ? Number.POSITIVE_INFINITY : (this.#last[this.#head] ?? 0) + this.findtime;
  }

  /** Failures ever added (Fail2Ban's "Total failed"). */
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

  /**
   * Takes over every IP `previous` tracks, oldest first, with its counts, times and kept matches: a
   * reload rebuilds a changed jail, but Fail2Ban reconfigures it in place and keeps its failures. The new
   * findtime, cap and maxmatches apply from here on; `previous` is left as it was.
   */
  adopt(previous: FailureCounter): void {
    for (let from = previous.#head; from !== -1; from = previous.#next[from] ?? -1) {
      const ip = previous.#keys[from];
      if (ip === undefined) continue;
      const existing = this.#slots.get(ip);
      if (existing !== undefined) this.#release(existing);
      const slot = this.#allocate();
      this.#slots.set(ip, slot);
      this.#keys[slot] = ip;
      this.#first[slot] = previous.#first[from] ?? 0;
      this.#last[slot] = previous.#last[from] ?? 0;
      this.#retry[slot] = previous.#retry[from] ?? 0;
      this.#failures[slot] = previous.#failures[from] ?? 0;
      if (this.maxMatches > 0) this.#matches[slot] = (previous.#matches[from] ?? []).slice(-this.maxMatches);
      this.#append(slot);
    }
  }

  /** IPs dropped because the cap was reached. */
  get evicted(): number {
    return this.#evicted;
  }

  /**
   * Records a failure of `ip` at `time` (≤ now) and returns its retry count, which the caller compares
   * with maxretry. An entry whose last failure is at or before `now - findtime` starts afresh.
   */
  add(ip: string, time: number, now: number, match?: string): number {
    this.#total++;
    let slot = this.#slots.get(ip);
    if (slot !== undefined && (this.#last[slot] ?? 0) <= now - this.findtime) {
      this.#release(slot);
      slot = undefined;
    }
    if (slot === undefined) {
      slot = this.#allocate();
      // Once per new address, never per line: the key outlives the chunk it was read from.
      const key = ownString(ip);
      this.#slots.set(key, slot);
      this.#keys[slot] = key;
      this.#first[slot] = time;
      this.#last[slot] = time;
      this.#retry[slot] = 1;
      this.#failures[slot] = 1;
      if (this.maxMatches > 0) this.#matches[slot] = match === undefined ? [] : [ownCopy(match)];
      this.#append(slot);
      return 1;
    }
    this.#unlink(slot);
    this.#append(slot);
    this.#adjust(slot, time);
    this.#retry[slot] = (this.#retry[slot] ?? 0) + 1;
    this.#failures[slot] = (this.#failures[slot] ?? 0) + 1;
    if (this.maxMatches > 0 && match !== undefined) {
      const kept = this.#matches[slot] ?? [];
      kept.push(ownCopy(match));
      if (kept.length > this.maxMatches) kept.splice(0, kept.length - this.maxMatches);
      this.#matches[slot] = kept;
    }
    return this.#retry[slot] ?? 0;
  }

  /**
   * Adds `extra` to the retry count of a tracked IP without a new failure (Fail2Ban's observer weighting
   * a known offender's failure). Returns the new retry, or 0 when the IP is not tracked.
   */
  weigh(ip: string, extra: number): number {
    const slot = this.#slots.get(ip);
    if (slot === undefined) return 0;
    this.#retry[slot] = (this.#retry[slot] ?? 0) + extra;
    return this.#retry[slot] ?? 0;
  }

  /** Removes the IP and returns what it had (null when unknown). */
  take(ip: string): FailureRecord | null {
    const slot = this.#slots.get(ip);
    if (slot === undefined) return null;
    const record: FailureRecord = {
      retry: this.#retry[slot] ?? 0,
      failures: this.#failures[slot] ?? 0,
      firstTime: this.#first[slot] ?? 0,
      lastTime: this.#last[slot] ?? 0,
      matches: this.maxMatches > 0 ? (this.#matches[slot] ?? []) : [],
    };
    this.#release(slot);
    return record;
  }

  /** Forgets an IP (e.g. once banned by hand). */
  delete(ip: string): boolean {
    const slot = this.#slots.get(ip);
    if (slot === undefined) return false;
    this.#release(slot);
    return true;
  }

  /** Retry count of `ip`; 0 when unknown. */
  count(ip: string): number {
    const slot = this.#slots.get(ip);
    return slot === undefined ? 0 : (this.#retry[slot] ?? 0);
  }

  /**
   * Fail2Ban's cleanup: drops IPs whose last failure is at or before `now - findtime`. Walks from the
   * least recently failed end and stops at the first live entry, so a periodic call costs only what it
   * removes. An entry whose log time runs behind its arrival order may outlive its window until add()
   * or the cap finds it; add() treats it as gone either way.
   */
  prune(now: number): number {
    const cutoff = now - this.findtime;
    let removed = 0;
    for (let slot = this.#head; slot !== -1; slot = this.#head) {
      if ((this.#last[slot] ?? 0) > cutoff) break;
      this.#release(slot);
      removed++;
    }
    return removed;
  }

  clear(): void {
    this.#slots.clear();
    this.#keys.fill(undefined);
    this.#head = this.#tail = -1;
    this.#free = [];
    this.#nextSlot = 0;
    if (this.maxMatches > 0) this.#matches.fill(undefined);
  }

  /** FailTicket.adjustTime: a later failure moves the window, re-estimating the count from the rate. */
  #adjust(slot: number, time: number): void {
    if (time <= (this.#last[slot] ?? 0)) return;
    const first = this.#first[slot] ?? 0;
    if (first < time - this.findtime) {
      this.#retry[slot] = pyRound(((this.#retry[slot] ?? 0) / (time - first)) * this.findtime);
      this.#first[slot] = time - this.findtime;
    }
    this.#last[slot] = time;
  }

  #allocate(): number {
    if (this.#slots.size >= this.maxEntries && this.#head !== -1) {
      this.#release(this.#head);
      this.#evicted++;
    }
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    if (this.#nextSlot === this.#capacity) this.#grow();
    return this.#nextSlot++;
  }

  /** Forgets the IP in `slot` and frees the slot. */
  #release(slot: number): void {
    const ip = this.#keys[slot];
    if (ip !== undefined) this.#slots.delete(ip);
    this.#keys[slot] = undefined;
    this.#unlink(slot);
    if (this.maxMatches > 0) this.#matches[slot] = undefined;
    this.#free.push(slot);
  }

  #append(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = -1;
    const wasEmpty = this.#tail === -1;
    if (wasEmpty) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
    if (wasEmpty) this.#onSooner?.();
  }

  #unlink(slot: number): void {
    const p = this.#prev[slot] ?? -1;
    const n = this.#next[slot] ?? -1;
    if (p === -1) this.#head = n;
    else this.#next[p] = n;
    if (n === -1) this.#tail = p;
    else this.#prev[n] = p;
  }

  #grow(): void {
    const capacity = Math.min(this.maxEntries, this.#capacity * 2);
    const grow64 = (a: Float64Array) => {
      const b = new Float64Array(capacity);
      b.set(a);
      return b;
    };
    const grow32 = (a: Int32Array) => {
      const b = new Int32Array(capacity);
      b.set(a);
      return b;
    };
    this.#first = grow64(this.#first);
    this.#last = grow64(this.#last);
    this.#retry = grow64(this.#retry);
    const failures = new Uint32Array(capacity);
    failures.set(this.#failures);
    this.#failures = failures;
    if (this.maxMatches > 0) this.#matches.length = capacity;
    this.#keys.length = capacity;
    this.#prev = grow32(this.#prev);
    this.#next = grow32(this.#next);
    this.#capacity = capacity;
  }
}

/**
 * A standalone copy of (at most MAX_MATCH_LENGTH characters of) a line. A line cut from a read buffer is
 * a V8 sliced string that keeps the whole buffer alive; a kept match must hold only its own characters.
 */
function ownCopy(line: string): string {
  return ownString(line.length > MAX_MATCH_LENGTH ? line.slice(0, MAX_MATCH_LENGTH) : line);
}
