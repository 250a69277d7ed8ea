// A backend that touches no kernel: it records what it was asked to do. For `--dry-run`, `replay`, and
// tests of the layers above the firewall.
import type { Address } from './address.js';
import type { BanEntry, Firewall, FirewallFailure, FirewallJail, KernelEntry } from './firewall.js';
import { checkJail } from './firewall.js';

export interface LoggedAction {
  operation: 'start' | 'stop' | 'ban' | 'unban';
  jail: string;
  /** Addresses for ban/unban; empty for start/stop. */
  addresses: string[];
}

export class LogFirewall implements Firewall {
  readonly name = 'log';
  readonly errors: readonly FirewallFailure[] = [];
  /** Every call, in order. */
  readonly actions: LoggedAction[] = [];
  private readonly held = new Map<string, Map<string, number | null>>();

  /** `write` receives one line per action (e.g. the daemon's logger); omitted, nothing is printed. */
  constructor(
    private readonly write: (line: string) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  private record(operation: LoggedAction['operation'], jail: string, addresses: string[]): void {
    this.actions.push({ operation, jail, addresses });
    this.write(`[${jail}] ${operation}${addresses.length ? ` ${addresses.join(' ')}` : ''} (dry run, firewall untouched)`);
  }

  private jailSet(jail: string): Map<string, number | null> {
    let set = this.held.get(jail);
    if (!set) {
      set = new Map();
      this.held.set(jail, set);
    }
    return set;
  }

  async start(jail: FirewallJail): Promise<void> {
    checkJail(jail);
    this.jailSet(jail.name);
    this.record('start', jail.name, []);
  }

  async stop(jail: FirewallJail, options: { keepRules?: boolean } = {}): Promise<void> {
    if (!options.keepRules) this.held.delete(jail.name);
    this.record('stop', jail.name, []);
  }

  async ban(jail: FirewallJail, entries: readonly BanEntry[]): Promise<void> {
    const set = this.jailSet(jail.name);
    const now = this.now();
    for (const e of entries) set.set(e.address.text, e.timeout === null ? null : now + e.timeout * 1000);
    this.record('ban', jail.name, entries.map((e) => e.address.text));
  }

  async unban(jail: FirewallJail, addresses: readonly Address[]): Promise<void> {
    const set = this.jailSet(jail.name);
    for (const a of addresses) set.delete(a.text);
    this.record('unban', jail.name, addresses.map((a) => a.text));
  }

  async reconcile(jail: FirewallJail, wanted: readonly BanEntry[]): Promise<void> {
    this.held.set(jail.name, new Map());
    await this.ban(jail, wanted);
  }

  async check(jail: FirewallJail): Promise<boolean> {
    return this.held.has(jail.name);
  }

  async list(jail: FirewallJail): Promise<KernelEntry[]> {
    const now = this.now();
    return [...this.jailSet(jail.name)]
      .filter(([, until]) => until === null || until > now)
      .map(([text, until]) => ({ text, expires: until === null ? null : Math.ceil((until - now) / 1000) }));
  }
}
