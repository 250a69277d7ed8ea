// One jail's state machine: failures in, ban decisions out. Pure and synchronous: `now` is an argument,
// randomness and ban history are injected, and the caller (src/server) does every side effect — the
// firewall, the store, DNS for ignoreip names, and ignorecommand.
//
// A failure-driven ban is two steps so the caller can run ignorecommand (async) in between:
//   const ticket = jail.addFailure(failure, now);            // null, or a ban due now (not yet active)
//   if (ticket && !(jail.ignoreCommand && await run(ticket.ip))) jail.commitBan(ticket);
// Manual bans (`ban`) and restored ones (`restore`) take effect at once.
import type { JailConfig } from '../config/model.js';
import { type BanHistory, BanList, type BanTicket, banEnd, bantimeCalculator, MemoryBanHistory, type RandomSource } from './bans.js';
import { DEFAULT_MAX_ENTRIES, FailureCounter } from './failures.js';
import { type IgnoreReason, IgnoreList } from './ignore.js';
import { cidrsOverlap, parseCidr, parseIp } from '../net/ip.js';
import { ownString } from './own-string.js';

/** The outcome of commitBan(): a new ban, or the running ban of the address made longer. */
export interface BanCommit {
  kind: 'ban' | 'prolong';
  /** The ban now in force. */
  ticket: BanTicket;
}

/** What the filter hands over; structurally a subset of src/filter's Failure. */
export interface FailureInput {
  /** An address, or a network `addr/prefix` (from `<SUBNET>`); anything else is dropped. */
  ip: string;
  /** Epoch seconds. */
  time: number;
  /** The matched log line, kept for `<matches>` and the store when maxmatches > 0. */
  line?: string;
}

/** Ban history as a jail uses it: read for increment and weighting, told of new bans and manual unbans. */
export type JailHistory = BanHistory & { record?(ticket: BanTicket): void; forget?(ip: string, jail: string): void };

export interface JailOptions {
  /** Earlier bans per IP for bantime.increment; default: an in-memory history private to this jail. */
  history?: JailHistory;
  /** Random source for bantime.rndtime; default Math.random. */
  random?: RandomSource;
  /** The host's own addresses, for ignoreself. */
  selfAddresses?: readonly string[];
  /** Cap on IPs with failures tracked at once (default 1,000,000). */
  maxTrackedIps?: number;
  /**
   * Called when the jail's next deadline (nextDeadline()) may have moved earlier: a ban that ends before
   * every other, or a failure tracked while none was. The daemon wakes for deadlines instead of ticking.
   */
  onSooner?: () => void;
  /**
   * Keep each running ban's matched lines (default true). Off, a ban's matches go with the ticket that
   * commitBan() returns (for the store and the firewall) and the ban list holds the ticket without them.
   */
  keepMatches?: boolean;
}

/** The numbers of `fail2ban-client status JAIL`. */
export interface JailStatus {
  currentlyFailed: number;
  totalFailed: number;
  currentlyBanned: number;
  totalBanned: number;
  /** Current bans in the order they were made. */
  bannedIps: string[];
}

/** Why manual ban() refused; loopback is the only address a user cannot ban. */
export type ManualBanResult =
  | { ok: true; ticket: BanTicket }
  | { ok: false; reason: 'invalid' | 'loopback' }
  /** `prolonged`: the running ban, made to end at now + bantime when that is later (Fail2Ban's addBanTicket). */
  | { ok: false; reason: 'already-banned'; prolonged: BanTicket | null };

const NO_MATCHES: readonly string[] = Object.freeze([]);

export class Jail {
  readonly name: string;
  readonly config: JailConfig;
  readonly ignore: IgnoreList;
  readonly failures: FailureCounter;
  readonly bans: BanList;
  readonly #history: JailHistory;
  readonly #random: RandomSource;
  readonly #bantimeFor: ReturnType<typeof bantimeCalculator>;
  readonly #keepMatches: boolean;
  #ignored = 0;

  /** Throws RangeError/FormulaError for settings the jail cannot work with (the config layer reports them). */
  constructor(config: JailConfig, options: JailOptions = {}) {
    this.name = config.name;
    this.config = config;
    this.ignore = new IgnoreList({
      ignoreip: config.ignoreip,
      ignoreself: config.ignoreself,
      selfAddresses: options.selfAddresses ?? [],
    });
    this.failures = new FailureCounter({
      findtime: config.findtime,
      maxEntries: options.maxTrackedIps ?? DEFAULT_MAX_ENTRIES,
      maxMatches: config.maxmatches,
      onSooner: options.onSooner,
    });
    this.bans = new BanList(options.onSooner);
    this.#history = options.history ?? new MemoryBanHistory();
    this.#random = options.random ?? Math.random;
    this.#bantimeFor = bantimeCalculator(config.increment);
    this.#keepMatches = options.keepMatches ?? true;
  }

  /** The ticket as the ban list keeps it: without its matches unless they are kept (see keepMatches). */
  #held(ticket: BanTicket): BanTicket {
    return this.#keepMatches || ticket.matches.length === 0 ? ticket : { ...ticket, matches: NO_MATCHES };
  }

  /** The command to run before committing a failure-driven ban ('' when none). */
  get ignoreCommand(): string {
    return this.config.ignorecommand;
  }

  /** Failures dropped because their IP is ignored (loopback, ignoreip, ignoreself). */
  get ignoredFailures(): number {
    return this.#ignored;
  }

  /**
   * Counts one failure at `now`, as Fail2Ban's filter, FailManager and observer do, and returns a ticket
   * when it reaches maxretry, else null. The ticket is not active until commitBan(). A failure dated in
   * the future counts as now (a forged date must not make a giant ban); one older than `now - findtime`,
   * unparsable or ignored returns null. Failures of an address that is already banned still count: their
   * ticket prolongs the running ban (see commitBan()). With bantime.increment, a failure of an address
   * banned before weighs more (Fail2Ban's observer): after one earlier ban it counts 2, after two 3,
   * then 5, 9, … (at most maxretry).
   */
  addFailure(failure: FailureInput, now: number): BanTicket | null {
    const time = Math.min(failure.time, now);
    if (time < now - this.config.findtime) return null;
    const target = this.#target(failure.ip);
    if (target === null) return null;
    if (target.ignored !== null) {
      this.#ignored++;
      return null;
    }
    const ip = this.config.subnets === undefined ? target.text : this.#network(target.text);
    const maxretry = this.config.maxretry;
    let retry = this.failures.add(ip, time, now, failure.line);
    if (retry < maxretry && this.config.increment.enabled) {
      const last = this.#history.lastBan(ip, this.name);
      if (last !== null && time > last.time) {
        const weight = Math.min(2 ** Math.min(last.banCount, 20) / 2 + 1, maxretry);
        if (weight > 1) retry = this.failures.weigh(ip, weight - 1);
      }
    }
    if (retry < maxretry) return null;
    const record = this.failures.take(ip);
    if (record === null) return null;
    const current = this.bans.get(ip);
    if (current !== undefined) {
      // Prolongs the running ban with the jail's plain bantime (Fail2Ban's addBanTicket); no new ban count.
      return { ip: current.ip, jail: this.name, time: record.lastTime, bantime: this.config.bantime, banCount: current.banCount, failures: record.failures, matches: record.matches };
    }
    // The ban outlives the chunk the address was read from (see own-string.ts).
    return this.#ticket(ownString(ip), record.lastTime, record.failures, record.matches);
  }

  /**
   * Activates a ticket from addFailure(). Returns the ban made, or — when the address is banned already —
   * the running ban prolonged to end at the ticket's time + bantime (if that is later), or null when
   * nothing changed or the ban would already be over by `now` (an old log read from its head).
   */
  commitBan(ticket: BanTicket, now: number): BanCommit | null {
    const base = this.config.bantime;
    if (base >= 0 && ticket.time + base < now) return null;
    const current = this.bans.get(ticket.ip);
    if (current === undefined) {
      this.bans.add(this.#held(ticket));
      if (!this.#seenBefore(ticket)) this.#history.record?.(ticket);
      return { kind: 'ban', ticket };
    }
    if (base >= 0 && ticket.time + base <= banEnd(current)) return null;
    if (base < 0 && current.bantime < 0) return null;
    const longer = base < 0 ? base : base + Math.max(0, ticket.time - current.time);
    const prolonged: BanTicket = { ...current, bantime: longer };
    this.bans.replace(prolonged);
    return { kind: 'prolong', ticket: prolonged };
  }

  /**
   * Bans by hand (`set JAIL banip`). Like Fail2Ban, ignoreip does not stop a manual ban ("user knows
   * best"), but loopback is refused. bantime.increment applies.
   */
  ban(ipText: string, now: number): ManualBanResult {
    const target = this.#target(ipText);
    if (target === null) return { ok: false, reason: 'invalid' };
    if (target.ignored === 'loopback') return { ok: false, reason: 'loopback' };
    const current = this.bans.get(target.text);
    if (current !== undefined) {
      const again: BanTicket = { ...current, time: now, bantime: this.config.bantime, failures: 0, matches: [] };
      const commit = this.commitBan(again, now);
      return { ok: false, reason: 'already-banned', prolonged: commit?.kind === 'prolong' ? commit.ticket : null };
    }
    this.failures.delete(target.text);
    const ticket = this.#ticket(target.text, now, 0, []);
    this.bans.add(ticket);
    this.#history.record?.(ticket);
    return { ok: true, ticket };
  }

  /** The address restore() would hold a stored ban of `ip` under, or null when it would skip it. */
  restoreTarget(ip: string): string | null {
    const target = this.#target(ip);
    return target === null || target.ignored !== null ? null : target.text;
  }

  /**
   * Re-activates a ban read from the store at start or carried over a reload. Skipped (false) when it is
   * over by `now`, already present, invalid, or now ignored (as Fail2Ban skips ignored IPs on restore).
   */
  restore(ticket: BanTicket, now: number): boolean {
    const target = this.#target(ticket.ip);
    if (target === null || banEnd(ticket) <= now || target.ignored !== null) return false;
    return this.bans.add(this.#held(target.text === ticket.ip && ticket.jail === this.name ? ticket : { ...ticket, ip: target.text, jail: this.name }));
  }

  /**
   * Lifts a ban by hand; null when the IP is not banned here. As in Fail2Ban, a manual unban also
   * forgets the address's ban history (bantime.increment starts over); expiry never does.
   */
  unban(ipText: string): BanTicket | null {
    const target = this.#target(ipText);
    if (target === null) return null;
    const ticket = this.bans.remove(target.text) ?? this.#coveringBan(target.text);
    if (ticket !== null) this.#history.forget?.(ticket.ip, this.name);
    return ticket;
  }

  unbanAll(): BanTicket[] {
    const all = this.bans.clear();
    for (const t of all) this.#history.forget?.(t.ip, this.name);
    return all;
  }

  /** When expire() next has something to do: a ban ends or a failure leaves the window; Infinity: never. */
  nextDeadline(): number {
    return Math.min(this.bans.nextEnd(), this.failures.nextExpiry());
  }

  /** Bans whose time is over (now > end: to lift in the firewall), and forgets failures outside the window. */
  expire(now: number): readonly BanTicket[] {
    this.failures.prune(now);
    return this.bans.expire(now);
  }

  /** Why an address would be ignored now (for `portcullis` diagnostics); null when it would not be. */
  ignoredBecause(ipText: string): IgnoreReason | null {
    return this.ignore.checkText(ipText);
  }

  status(): JailStatus {
    return {
      currentlyFailed: this.failures.size,
      totalFailed: this.failures.total,
      currentlyBanned: this.bans.size,
      totalBanned: this.bans.total,
      bannedIps: this.bans.ips(),
    };
  }

  /** Canonical text of an address or network, and why it must not be banned (null: it may be). */
  #target(text: string): { text: string; ignored: IgnoreReason | null } | null {
    const ip = parseIp(text);
    if (ip !== null) return { text: ip.text, ignored: this.ignore.check(ip) };
    const net = text.includes('/') ? parseCidr(text) : null;
    if (net === null) return null;
    if (net.prefix === (net.family === 4 ? 32 : 128)) {
      const single = { text: net.address, family: net.family };
      return { text: net.address, ignored: this.ignore.check(single) };
    }
    return { text: net.text, ignored: this.ignore.checkNetwork(net) };
  }

  /**
   * The network an address is counted and banned by (`ipv4_subnet`/`ipv6_subnet`), or the address itself
   * when the option is the full length, or when the network would cover an ignored address (ignoreip,
   * this host, loopback): one attacker next door must not get a neighbour banned.
   */
  #network(ip: string): string {
    const subnets = this.config.subnets!;
    if (ip.includes('/')) return ip;
    const v6 = ip.includes(':');
    const prefix = v6 ? subnets.v6 : subnets.v4;
    if (prefix === (v6 ? 128 : 32)) return ip;
    const net = parseCidr(`${ip}/${prefix}`);
    return net === null || this.ignore.checkNetwork(net) !== null ? ip : net.text;
  }

  /** Lifts the network ban that holds `ip` (a subnet ban, or a manual CIDR ban), if there is one. */
  #coveringBan(ip: string): BanTicket | null {
    const target = parseCidr(ip);
    if (target === null) return null;
    for (const ticket of this.bans.list()) {
      if (!ticket.ip.includes('/')) continue;
      const net = parseCidr(ticket.ip);
      if (net !== null && net.prefix <= target.prefix && net.family === target.family && cidrsOverlap(net, target)) {
        return this.bans.remove(ticket.ip);
      }
    }
    return null;
  }

  /**
   * Fail2Ban's guard against counting one ban twice when a log is read again after a restart: with
   * bantime.increment, a ban no later than the last one recorded (in any jail, with overalljails) is
   * made but not added to the history.
   */
  #seenBefore(ticket: BanTicket): boolean {
    const inc = this.config.increment;
    if (!inc.enabled || this.config.bantime <= 0) return false;
    const last = this.#history.lastBan(ticket.ip, inc.overalljails ? null : this.name);
    return last !== null && ticket.time <= last.time;
  }

  #ticket(ip: string, time: number, failures: number, matches: string[]): BanTicket {
    const overall = this.config.increment.overalljails;
    const previous = this.#history.previousBans(ip, overall ? null : this.name);
    const bantime = this.#bantimeFor(this.config.bantime, previous, this.#random);
    return { ip, jail: this.name, time, bantime, banCount: previous + 1, failures, matches };
  }
}
