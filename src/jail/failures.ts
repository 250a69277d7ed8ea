// Sliding-window failure counting per IP: an IP is due for a ban when `maxretry` of its failures fall
// within `findtime` seconds of its newest one (inclusive: [newest - findtime, newest], as Fail2Ban). Fail2Ban estimates this from a rate (first time, last
// time, count); we count exactly, which only needs the newest `maxretry` timestamps per IP.
//
// Memory is the design constraint: a botnet can fail from a million addresses. Timestamps live in one
// Float64Array pool (slot × maxretry), not in per-IP arrays, so a failure allocates nothing once its IP
// has a slot. Slots are chained in least-recently-failed order by an intrusive doubly linked list in two
// Int32Arrays, so "drop stale entries" and "evict the oldest at the cap" are O(1) per entry from the
// head. (Using the Map's own insertion order instead — delete + re-insert, then a fresh iterator for the
// head — goes quadratic: V8 iterators skip every deleted entry left at the front.)

export interface FailureCounterOptions {
  /** Failures within findtime that make a ban (≥ 1). */
  maxretry: number;
  /** Window length in seconds. */
  findtime: number;
  /** Hard cap on tracked IPs; the least recently failing one is evicted beyond it. Default 1,000,000. */
  maxEntries?: number;
  /** Keep the matched line of each counted failure (Fail2Ban's `maxmatches`), up to maxretry per IP. */
  keepMatches?: boolean;
}

/** What an IP had accumulated when it was taken out for a ban. */
export interface FailureRecord {
  /** Failures within the window (at most maxretry). */
  count: number;
  firstTime: number;
  lastTime: number;
  /** Matched lines, oldest first (empty unless keepMatches). */
  matches: string[];
}

export const DEFAULT_MAX_ENTRIES = 1_000_000;
/** A kept matched line is cut to this many characters: log lines are hostile input. */
export const MAX_MATCH_LENGTH = 1000;
const INITIAL_SLOTS = 1024;

export class FailureCounter {
  readonly maxretry: number;
  readonly findtime: number;
  readonly maxEntries: number;
  readonly #keepMatches: boolean;
  readonly #slots = new Map<string, number>();
  /** slot → ip, and the least-recently-failed list (−1 ends it). */
  #keys: Array<string | undefined>;
  #prev: Int32Array;
  #next: Int32Array;
  #head = -1;
  #tail = -1;
  /** Per slot, `maxretry` timestamps sorted ascending; only the first `#counts[slot]` are valid. */
  #times: Float64Array;
  #counts: Uint32Array;
  #matches: Array<string | undefined>;
  #free: number[] = [];
  #capacity: number;
  #nextSlot = 0;
  #total = 0;
  #evicted = 0;

  constructor(options: FailureCounterOptions) {
    if (!Number.isInteger(options.maxretry) || options.maxretry < 1) throw new RangeError('maxretry must be an integer ≥ 1');
    if (!(options.findtime > 0)) throw new RangeError('findtime must be > 0');
    this.maxretry = options.maxretry;
    this.findtime = options.findtime;
    this.maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#keepMatches = options.keepMatches ?? false;
    this.#capacity = Math.min(INITIAL_SLOTS, this.maxEntries);
    this.#times = new Float64Array(this.#capacity * this.maxretry);
    this.#counts = new Uint32Array(this.#capacity);
    this.#matches = this.#keepMatches ? new Array(this.#capacity * this.maxretry) : [];
    this.#keys = new Array(this.#capacity);
    this.#prev = new Int32Array(this.#capacity);
    this.#next = new Int32Array(this.#capacity);
  }

  /** IPs with failures being tracked (Fail2Ban's "Currently failed"). */
  get size(): number {
    return this.#slots.size;
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

  /** IPs dropped because the cap was reached. */
  get evicted(): number {
    return this.#evicted;
  }

  /**
   * Records a failure at `time` and returns how many of the IP's failures now fall within findtime of its
   * newest one (capped at maxretry). The caller bans when that reaches maxretry, then calls take().
   */
  add(ip: string, time: number, match?: string): number {
    this.#total++;
    let slot = this.#slots.get(ip);
    if (slot === undefined) {
      slot = this.#allocate();
      this.#slots.set(ip, slot);
      this.#keys[slot] = ip;
    } else {
      this.#unlink(slot);
    }
    this.#append(slot);
    const r = this.maxretry;
    const base = slot * r;
    const times = this.#times;
    let n = this.#counts[slot] ?? 0;
    // Insert keeping the slot sorted; when full, the oldest timestamp falls out (or the new one, if older).
    let pos = n;
    if (n === r) {
      if (time < (times[base] ?? 0)) return this.#windowCount(slot);
      this.#shiftOut(base, n);
      n--;
      pos = n;
    }
    while (pos > 0 && (times[base + pos - 1] ?? 0) > time) {
      times[base + pos] = times[base + pos - 1] ?? 0;
      if (this.#keepMatches) this.#matches[base + pos] = this.#matches[base + pos - 1];
      pos--;
    }
    times[base + pos] = time;
    if (this.#keepMatches) this.#matches[base + pos] = match === undefined ? undefined : ownCopy(match);
    this.#counts[slot] = n + 1;
    return this.#windowCount(slot);
  }

  /** Removes the IP and returns what it had within the window (null when unknown). */
  take(ip: string): FailureRecord | null {
    const slot = this.#slots.get(ip);
    if (slot === undefined) return null;
    const base = slot * this.maxretry;
    const n = this.#counts[slot] ?? 0;
    const last = this.#times[base + n - 1] ?? 0;
    const first = n - this.#windowCount(slot);
    const matches: string[] = [];
    if (this.#keepMatches) {
      for (let i = first; i < n; i++) {
        const m = this.#matches[base + i];
        if (m !== undefined) matches.push(m);
      }
    }
    const record = { count: n - first, firstTime: this.#times[base + first] ?? last, lastTime: last, matches };
    this.delete(ip);
    return record;
  }

  /** Forgets an IP (e.g. once banned by hand). */
  delete(ip: string): boolean {
    const slot = this.#slots.get(ip);
    if (slot === undefined) return false;
    this.#release(slot);
    return true;
  }

  /** Failures of `ip` within findtime of its newest one; 0 when unknown. */
  count(ip: string): number {
    const slot = this.#slots.get(ip);
    return slot === undefined ? 0 : this.#windowCount(slot);
  }

  /**
   * Drops IPs whose newest failure is before `now - findtime`. Walks from the least recently failed
   * end and stops at the first live entry, so a periodic call costs only what it removes. An entry whose
   * log time runs behind its arrival order may outlive its window until the cap evicts it; it can never
   * cause a wrong ban, since counting always looks at the IP's own newest failure.
   */
  prune(now: number): number {
    const cutoff = now - this.findtime;
    let removed = 0;
    for (let slot = this.#head; slot !== -1; slot = this.#head) {
      const n = this.#counts[slot] ?? 0;
      if ((this.#times[slot * this.maxretry + n - 1] ?? 0) >= cutoff) break;
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
    this.#counts.fill(0);
    if (this.#keepMatches) this.#matches.fill(undefined);
  }

  #windowCount(slot: number): number {
    const base = slot * this.maxretry;
    const n = this.#counts[slot] ?? 0;
    const cutoff = (this.#times[base + n - 1] ?? 0) - this.findtime;
    let i = n - 1;
    while (i > 0 && (this.#times[base + i - 1] ?? 0) >= cutoff) i--;
    return n === 0 ? 0 : n - i;
  }

  #shiftOut(base: number, n: number): void {
    this.#times.copyWithin(base, base + 1, base + n);
    if (this.#keepMatches) {
      for (let i = 0; i < n - 1; i++) this.#matches[base + i] = this.#matches[base + i + 1];
    }
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
    this.#counts[slot] = 0;
    if (this.#keepMatches) this.#matches.fill(undefined, slot * this.maxretry, (slot + 1) * this.maxretry);
    this.#free.push(slot);
  }

  #append(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = -1;
    if (this.#tail === -1) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
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
    const times = new Float64Array(capacity * this.maxretry);
    times.set(this.#times);
    const counts = new Uint32Array(capacity);
    counts.set(this.#counts);
    this.#times = times;
    this.#counts = counts;
    if (this.#keepMatches) this.#matches.length = capacity * this.maxretry;
    this.#keys.length = capacity;
    const prev = new Int32Array(capacity);
    prev.set(this.#prev);
    const next = new Int32Array(capacity);
    next.set(this.#next);
    this.#prev = prev;
    this.#next = next;
    this.#capacity = capacity;
  }
}

/**
 * A standalone copy of (at most MAX_MATCH_LENGTH characters of) a line. A line cut from a read buffer is
 * a V8 sliced string that keeps the whole buffer alive; a kept match must hold only its own characters.
 */
function ownCopy(line: string): string {
  return Buffer.from(line.length > MAX_MATCH_LENGTH ? line.slice(0, MAX_MATCH_LENGTH) : line, 'utf8').toString('utf8');
}
