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
import { parseCidr, parseIp } from '../net/ip.js';

/** What the filter hands over; structurally a subset of src/filter's Failure. */
export interface FailureInput {
  /** An address, or a network `addr/prefix` (from `<SUBNET>`); anything else is dropped. */
  ip: string;
  /** Epoch seconds. */
  time: number;
  /** The matched log line, kept for `<matches>` and the store when maxmatches > 0. */
  line?: string;
}

export interface JailOptions {
  /** Earlier bans per IP for bantime.increment; default: an in-memory history private to this jail. */
  history?: BanHistory & { record?(ticket: BanTicket): void };
  /** Random source for bantime.rndtime; default Math.random. */
  random?: RandomSource;
  /** The host's own addresses, for ignoreself. */
  selfAddresses?: readonly string[];
  /** Cap on IPs with failures tracked at once (default 1,000,000). */
  maxTrackedIps?: number;
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
export type ManualBanResult = { ok: true; ticket: BanTicket } | { ok: false; reason: 'invalid' | 'loopback' | 'already-banned' };

export class Jail {
  readonly name: string;
  readonly config: JailConfig;
  readonly ignore: IgnoreList;
  readonly failures: FailureCounter;
  readonly bans = new BanList();
  readonly #history: BanHistory & { record?(ticket: BanTicket): void };
  readonly #random: RandomSource;
  readonly #bantimeFor: ReturnType<typeof bantimeCalculator>;
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
      maxretry: Math.max(1, config.maxretry),
      findtime: config.findtime,
      maxEntries: options.maxTrackedIps ?? DEFAULT_MAX_ENTRIES,
      keepMatches: config.maxmatches > 0,
    });
    this.#history = options.history ?? new MemoryBanHistory();
    this.#random = options.random ?? Math.random;
    this.#bantimeFor = bantimeCalculator(config.increment);
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
   * Counts one failure. Returns a ticket when this failure completes maxretry within findtime, else null.
   * The ticket is not active until commitBan(). Failures that are unparsable, older than now - findtime,
   * ignored, or from an IP already banned return null.
   */
  addFailure(failure: FailureInput, now: number): BanTicket | null {
    if (failure.time < now - this.config.findtime) return null;
    const target = this.#target(failure.ip);
    if (target === null) return null;
    if (target.ignored !== null) {
      this.#ignored++;
      return null;
    }
    if (this.bans.has(target.text)) return null;
    const count = this.failures.add(target.text, failure.time, failure.line);
    if (count < this.config.maxretry) return null;
    const record = this.failures.take(target.text);
    if (record === null) return null;
    const ticket = this.#ticket(target.text, record.lastTime, record.count, record.matches.slice(-this.config.maxmatches));
    // A ban that would already be over (an old log read from its head) is not made, as in Fail2Ban.
    return banEnd(ticket) <= now ? null : ticket;
  }

  /** Activates a ticket from addFailure(); false when the IP got banned meanwhile. */
  commitBan(ticket: BanTicket): boolean {
    if (!this.bans.add(ticket)) return false;
    this.#history.record?.(ticket);
    return true;
  }

  /**
   * Bans by hand (`set JAIL banip`). Like Fail2Ban, ignoreip does not stop a manual ban ("user knows
   * best"), but loopback is refused. bantime.increment applies.
   */
  ban(ipText: string, now: number): ManualBanResult {
    const target = this.#target(ipText);
    if (target === null) return { ok: false, reason: 'invalid' };
    if (target.ignored === 'loopback') return { ok: false, reason: 'loopback' };
    if (this.bans.has(target.text)) return { ok: false, reason: 'already-banned' };
    this.failures.delete(target.text);
    const ticket = this.#ticket(target.text, now, 0, []);
    this.commitBan(ticket);
    return { ok: true, ticket };
  }

  /**
   * Re-activates a ban read from the store at start or carried over a reload. Skipped (false) when it is
   * over by `now`, already present, invalid, or now ignored (as Fail2Ban skips ignored IPs on restore).
   */
  restore(ticket: BanTicket, now: number): boolean {
    const target = this.#target(ticket.ip);
    if (target === null || banEnd(ticket) <= now || target.ignored !== null) return false;
    return this.bans.add(target.text === ticket.ip && ticket.jail === this.name ? ticket : { ...ticket, ip: target.text, jail: this.name });
  }

  /** Lifts a ban; null when the IP is not banned here. */
  unban(ipText: string): BanTicket | null {
    const target = this.#target(ipText);
    return target === null ? null : this.bans.remove(target.text);
  }

  unbanAll(): BanTicket[] {
    return this.bans.clear();
  }

  /** Bans whose time is over (to lift in the firewall), and forgets failures outside the window. */
  expire(now: number): BanTicket[] {
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
      bannedIps: this.bans.list().map((t) => t.ip),
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

  #ticket(ip: string, time: number, failures: number, matches: string[]): BanTicket {
    const overall = this.config.increment.overalljails;
    const previous = this.#history.previousBans(ip, overall ? null : this.name);
    const bantime = this.#bantimeFor(this.config.bantime, previous, this.#random);
    return { ip, jail: this.name, time, bantime, banCount: previous + 1, failures, matches };
  }
}
