// The one interface every firewall backend implements. The daemon speaks only this; a new backend is
// one new file that implements it (nftables.ts, iptables.ts, ipset.ts, script.ts, log.ts).
import { ExitCode, UserError } from '../errors.js';
import type { Address } from './address.js';

/** What a jail needs from the firewall, resolved from its config (ports are numbers, never names). */
/** What Firewall.adopt found in the kernel and no wanted ban covers: known at once, or later. */
export type Adoption = { found: KernelEntry[] } | { later: Promise<KernelEntry[]> };

export interface FirewallJail {
  /** Jail name; only `[A-Za-z0-9_.-]`, checked by `checkJailName`, because it names kernel objects. */
  name: string;
  /** Ports to block; null blocks all ports (the `-allports` actions). */
  ports: number[] | null;
  protocol: 'tcp' | 'udp' | 'all';
  blocktype: 'drop' | 'reject';
  /** Limit rules to this input interface (`NETWORK_INTERFACE` or the jail's `interface`). */
  interface: string | null;
  /**
   * nftables: let the kernel drop each element when its ban ends (`element_timeouts = true`). Off by
   * default, as in docker-mailserver, whose sets have no timeouts and whose daemon removes bans itself.
   */
  elementTimeouts?: boolean;
}

/** What the periodic check found beyond missing objects (see Firewall.audit). */
export interface AuditResult {
  /**
   * The element comparison was put off (bans of the jail were queued, or the last reading was too
   * recent, see nftables.ts): a check that runs only when told of a change must come back for it.
   */
  deferred?: boolean;
  /** Bans the kernel had lost (set flushed, elements deleted by hand) and that were put back. */
  restored: number;
  /** Rules that let packets past this jail's rule (e.g. an `accept` inserted before it), one line each. */
  bypass: string[];
}

/** One ban as handed to a backend: a validated address and how long the kernel should keep it. */
export interface BanEntry {
  address: Address;
  /** Remaining seconds; null = permanent. */
  timeout: number | null;
  /** Ticket details for action.d scripts (`<failures>`, `<time>`, `<bantime>`); native backends ignore them. */
  ticket?: BanTicket;
}

export interface BanTicket {
  failures: number;
  /** Epoch seconds of the ban. */
  time: number;
  /** Total ban length in seconds; -1 = permanent. */
  bantime: number;
  /** How many times this address has been banned (`<bancount>`); 1 when unknown. */
  banCount?: number;
  /** Matched log lines, oldest first (`<matches>`). Free text: never pasted into a command, see script.ts. */
  matches?: readonly string[];
  /** Groups the filter captured on the failure that led to the ban (`user` → `<F-USER>`). Free text. */
  fields?: Readonly<Record<string, string>>;
  /** More free text tags by name. */
  extra?: Record<string, string>;
}

/** One element as the kernel holds it (for reconcile and status). */
export interface KernelEntry {
  /** Canonical IP or CIDR text. */
  text: string;
  /** Remaining seconds as the kernel reports them; null = no timeout (or the backend has none). */
  expires: number | null;
}

export interface FirewallFailure {
  /** Epoch milliseconds. */
  time: number;
  jail: string;
  operation: string;
  message: string;
}

export interface Firewall {
  /** Backend name as in `banaction` (nftables, iptables, iptables-ipset, log, or an action.d name). */
  readonly name: string;
  /** Failures kept for `status` (most recent last, bounded); each one was also thrown to the caller. */
  readonly errors: readonly FirewallFailure[];
  /**
   * True when the backend reads BanEntry.ticket's matches and fields (action.d scripts, for unbans too).
   * Without such a backend a jail keeps neither once a ban is made: under a flood they were most of the
   * memory (a few hundred bytes per ban).
   */
  readonly usesTicketDetails?: boolean;
  /** Creates the jail's objects; idempotent (safe on rules left from a previous run). */
  start(jail: FirewallJail): Promise<void>;
  /** Removes the jail's rules and bans, or leaves them when `keepRules` (kernel timeouts end them). */
  stop(jail: FirewallJail, options?: { keepRules?: boolean }): Promise<void>;
  /**
   * Bans many entries in as few firewall commands as possible. `urgent` (a manual ban) lets it go ahead
   * of other jails' queued work. On failure the FirewallError lists the addresses the kernel lacks.
   */
  ban(jail: FirewallJail, entries: readonly BanEntry[], options?: { urgent?: boolean }): Promise<void>;
  /** Lifts bans; addresses the kernel does not hold are ignored. */
  unban(jail: FirewallJail, addresses: readonly Address[]): Promise<void>;
  /** Makes the kernel hold exactly `wanted` (the store's active bans): adds missing, removes stale. */
  reconcile(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<void>;
  /**
   * At start: like reconcile, but elements the kernel holds that `wanted` lacks are kept (the database
   * may have lost them) and handed over, so the jail can adopt them. Resolves once the kernel holds the
   * wanted bans; the elements found come then, or `later` when reading them would have held that up.
   * Backends without it reconcile.
   */
  adopt?(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<Adoption>;
  /**
   * At start, before the jail has taken its stored bans in: writes `entries` (the store's addresses)
   * so that the kernel's part of the restore runs beside the daemon's; adopt() then writes only what
   * differs. Resolves once the write is under way; a failure only leaves adopt() more to write.
   */
  prefill?(jail: FirewallJail, entries: readonly BanEntry[]): Promise<void>;
  /** True when the jail's rules and sets are in place. */
  check(jail: FirewallJail): Promise<boolean>;
  /** The periodic check of elements and rules: puts back lost bans, reports rules that bypass ours. */
  audit?(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<AuditResult>;
  /**
   * Subscribes to the kernel's notifications of changes that can weaken this backend's rules or bans
   * made by someone else; true when subscribed, and the periodic check is then not needed.
   */
  watchChanges?(onChange: (why: 'change' | 'overflow') => void): boolean;
  /** What the kernel holds for this jail. */
  list(jail: FirewallJail): Promise<KernelEntry[]>;
}

/**
 * Part of the refusal of a subnet ban on a kernel without nftables interval sets: no retry can enforce
 * it, so callers do not promise one.
 */
export const HASH_SET_LIMIT = 'the plain hash sets used instead hold single addresses only';

/** A firewall command failed. One line: what, for which jail, the command's own message. */
export class FirewallError extends UserError {
  /** Addresses that the kernel does not hold because of this failure (empty when unknown or none). */
  addresses: string[] = [];

  constructor(message: string) {
    super(message, ExitCode.failure);
    this.name = 'FirewallError';
  }
}

const JAIL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** Jail names become set, chain and ipset names: refuse anything that could break out of them. */
export function checkJailName(name: string): string {
  if (!JAIL_NAME.test(name)) {
    throw new UserError(`jail name '${name}' cannot name firewall objects: use letters, digits, '_', '.', '-'`);
  }
  return name;
}

const IFACE = /^[A-Za-z0-9_.:@-]{1,15}$/;

export function checkInterface(name: string): string {
  if (!IFACE.test(name)) throw new UserError(`interface '${name}' is not a valid network interface name`);
  return name;
}

/** Checks everything of a jail that ends up in a firewall command; backends call it in start(). */
export function checkJail(jail: FirewallJail): FirewallJail {
  checkJailName(jail.name);
  if (jail.interface !== null) checkInterface(jail.interface);
  for (const port of jail.ports ?? []) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`port ${port} is out of range 0-65535`);
  }
  return jail;
}

/** Keeps the last failures for `status`; shared by the backends. */
export class FailureLog {
  readonly entries: FirewallFailure[] = [];
  constructor(private readonly limit = 50) {}

  record(jail: string, operation: string, message: string): FirewallError {
    this.note(jail, operation, message);
    return new FirewallError(`firewall ${operation} failed for jail ${jail}: ${message}`);
  }

  /** Keeps a finding for `status`; one already kept with the same text is refreshed, not repeated. */
  note(jail: string, operation: string, message: string): void {
    const same = this.entries.findIndex((e) => e.jail === jail && e.operation === operation && e.message === message);
    if (same !== -1) this.entries.splice(same, 1);
    this.entries.push({ time: Date.now(), jail, operation, message });
    if (this.entries.length > this.limit) this.entries.shift();
  }
}
