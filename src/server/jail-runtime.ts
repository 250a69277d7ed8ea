// One running jail: its log source, filter, counting state, store rows and firewall rules, wired so a
// line travels one way (read → dated → matched → counted → banned). The pure parts (Filter, Jail) make
// every decision; this file does the side effects in the order that keeps bans durable: a ban is
// committed to the store before the firewall is asked, so a crash in between is repaired at start-up by
// reconcile.
import { lookup as dnsLookup } from 'node:dns/promises';
import type { JailConfig } from '../config/model.js';
import type { Failure } from '../filter/failure.js';
import { Filter } from '../filter/filter.js';
import { resolveLogZone } from '../filter/timezone.js';
import { parseAddress } from '../firewall/address.js';
import type { BanEntry, Firewall, FirewallJail } from '../firewall/firewall.js';
import { type BanTicket, banEnd } from '../jail/bans.js';
import { Jail } from '../jail/jail.js';
import { FileSource } from '../sources/file.js';
import { JournalSource } from '../sources/journal.js';
import type { LineBatch, Source } from '../sources/source.js';
import type { DaemonStore } from './daemon-store.js';
import { type DaemonLog, formatLocalTime } from './daemon-log.js';
import { storePositions } from './positions.js';
import { FilterThread, LINE_DEADLINE_MS } from './filter-thread.js';

/** One action of a jail: the backend and what it acts on. */
export interface JailAction {
  firewall: Firewall;
  target: FirewallJail;
}

export interface JailRuntimeDeps {
  /** Wall clock in epoch seconds. */
  now: () => number;
  log: DaemonLog;
  store: DaemonStore | null;
  actions: JailAction[];
  selfAddresses: readonly string[];
  /** Runs `ignorecommand` with `<ip>` substituted; true means "ignore". */
  runIgnoreCommand: (command: string, ip: string) => Promise<boolean>;
  /** Poll interval of file sources, ms. */
  pollIntervalMs?: number;
}

export class JailRuntime {
  readonly name: string;
  readonly jail: Jail;
  readonly filter: Filter | null;
  private source: Source | null = null;
  /** Firewall work of this jail, chained so it runs in order (see enforce()). */
  private firewallQueue: Promise<void> = Promise.resolve();
  /** A firewall command failed since the last check: the kernel may lack bans or hold stale ones. */
  private firewallSuspect = false;
  private firewallObjectsCreated = false;
  private readonly files: string[];
  /** Matches in a thread with a deadline per line when the filter can backtrack catastrophically. */
  private readonly thread: FilterThread | null = null;

  constructor(
    readonly config: JailConfig,
    private readonly deps: JailRuntimeDeps,
  ) {
    this.name = config.name;
    this.jail = new Jail(config, {
      history: deps.store ?? undefined,
      selfAddresses: deps.selfAddresses,
    });
    const def = config.filter;
    this.filter =
      def && def.failregex.length > 0
        ? new Filter(def, { useDns: config.usedns, zone: resolveLogZone(config.options['logtimezone']) })
        : null;
    for (const c of this.filter?.catastrophic ?? [])
      deps.log.log('filter', 'WARNING', `[${this.name}] ${c.where}: ${c.option} can backtrack catastrophically at ${c.part}; this jail matches in a thread of its own, ${LINE_DEADLINE_MS} ms per line`);
    if (def && this.filter && this.filter.catastrophic.length > 0)
      this.thread = new FilterThread(def, { useDns: config.usedns, logtimezone: config.options['logtimezone'] });
    this.files = config.backend === 'systemd' ? [] : config.logpaths.map((p) => p.pattern);
  }

  /** Log files (or journal matches) for `status JAIL`. */
  get fileList(): string[] {
    return this.config.backend === 'systemd' ? (this.config.filter?.journalmatch ?? []) : this.files;
  }

  /**
   * Creates the firewall objects, restores `restored` bans (from the store or carried over a reload) and
   * makes the kernel hold exactly them, then starts reading logs: no line is read before every ban is back.
   */
  async start(restored: readonly BanTicket[]): Promise<void> {
    await this.createFirewallObjects();
    const now = this.deps.now();
    let count = 0;
    for (const ticket of restored) if (this.jail.restore(ticket, now)) count++;
    const wanted = this.entries(this.jail.bans.list(), now);
    for (const { firewall, target } of this.deps.actions) await firewall.reconcile(target, wanted);
    if (count > 0) this.deps.log.log('actions', 'NOTICE', `[${this.name}] Restored ${count} ban(s)`);
    await this.refreshIgnoredNames();
    this.source = this.createSource();
    if (this.source) await this.source.start();
    this.deps.log.log('jail', 'INFO', `Jail '${this.name}' started`);
  }

  /**
   * Creates the jail's tables, chains and sets (idempotent). The daemon does this for every jail before
   * restoring any bans: nft re-reads a table's big interval sets on every change to that table, so
   * creating a jail's objects after another jail restored 100,000 bans took seconds per jail.
   */
  async createFirewallObjects(): Promise<void> {
    if (this.firewallObjectsCreated) return;
    for (const { firewall, target } of this.deps.actions) await firewall.start(target);
    this.firewallObjectsCreated = true;
  }

  /** Resolves the DNS names of `ignoreip` anew (at start, then periodically: addresses change). */
  async refreshIgnoredNames(): Promise<void> {
    if (this.jail.ignore.names.length === 0) return;
    await this.jail.ignore.refresh(resolveName);
  }

  /** Stops reading; removes the firewall rules unless `keepRules`. Bans stay in the store. */
  async stop(options: { keepRules?: boolean } = {}): Promise<void> {
    await this.source?.stop();
    this.source = null;
    this.thread?.close();
    await this.enforce(({ firewall, target }) => firewall.stop(target, options));
    this.deps.log.log('jail', 'INFO', `Jail '${this.name}' stopped`);
  }

  /**
   * Runs firewall work for every action of the jail, in order, behind the hot path: a slow or hung tool
   * (killed after the runner's timeout) must not stop the jail from counting and deciding. The store
   * already holds every decision, and a failure marks the kernel state suspect, so the next check
   * reconciles it. The returned promise settles when this piece of work is done.
   */
  private enforce(work: (action: JailAction) => Promise<void>): Promise<void> {
    const run = async () => {
      for (const action of this.deps.actions) {
        try {
          await work(action);
        } catch (err) {
          this.firewallSuspect = true;
          this.deps.log.log('actions', 'ERROR', `[${this.name}] ${(err as Error).message}`);
        }
      }
    };
    this.firewallQueue = this.firewallQueue.then(run);
    return this.firewallQueue;
  }

  private createSource(): Source | null {
    if (this.filter === null) return null;
    const onBatch = (batch: LineBatch) => this.handleBatch(batch);
    const onError = (err: Error) => this.deps.log.log('filter', 'ERROR', `[${this.name}] ${err.message}`);
    const store = this.deps.store;
    if (this.config.backend === 'systemd') {
      return new JournalSource({
        key: this.name,
        matches: this.config.filter?.journalmatch ?? [],
        onBatch,
        onError,
        since: this.deps.now() - this.config.findtime,
        encoding: this.config.logencoding,
        cursors: store
          ? { get: (key) => store.getJournalCursor(key), set: (key, cursor) => store.setJournalCursor(key, cursor) }
          : undefined,
      });
    }
    return new FileSource({
      paths: this.config.logpaths,
      onBatch,
      onError,
      encoding: this.config.logencoding,
      positions: store ? storePositions(store, this.name) : undefined,
      pollIntervalMs: this.deps.pollIntervalMs,
    });
  }

  /** The hot path: every line of a batch through the filter and the jail; bans written once per batch. */
  async handleBatch(batch: LineBatch): Promise<void> {
    const filter = this.filter;
    if (filter === null) return;
    const now = this.deps.now();
    const times = batch.times;
    const due: BanTicket[] = [];
    if (this.thread) {
      const done = await this.thread.process(batch.lines, now, times);
      for (const [i, why] of done.skipped) this.skipped(batch.lines[i]!, why);
      for (const [i, failures] of done.failures) for (const f of failures) this.countFailure(f, batch.lines[i]!, now, due);
    } else {
      for (let i = 0; i < batch.lines.length; i++) {
        const line = batch.lines[i]!;
        const failures = filter.processLine(line, now, times?.[i]);
        if (filter.lastSkipped !== null) this.skipped(line, filter.lastSkipped);
        for (let f = 0; f < failures.length; f++) this.countFailure(failures[f]!, line, now, due);
      }
    }
    if (due.length > 0) await this.commit(due, now);
  }

  private skipped(line: string, why: string): void {
    this.deps.log.log('filter', 'WARNING', `[${this.name}] Line skipped unmatched (${why}): ${line.slice(0, 200)}`);
  }

  private countFailure(failure: Failure, line: string, now: number, due: BanTicket[]): void {
    // Failures identified by a name or an id carry no address the firewall could block.
    if (failure.kind !== 'ip') return;
    if (failure.time < now - this.config.findtime) return;
    this.deps.log.log('filter', 'INFO', `[${this.name}] Found ${failure.ip} - ${formatLocalTime(failure.time * 1000)}`);
    const ticket = this.jail.addFailure({ ip: failure.ip, time: failure.time, line }, now);
    if (ticket) due.push(ticket);
  }

  /** ignorecommand, then the jail, the store (durable), the firewall (batched), the log. */
  private async commit(due: BanTicket[], now: number): Promise<void> {
    const command = this.jail.ignoreCommand;
    const banned: BanTicket[] = [];
    for (const ticket of due) {
      if (command !== '' && (await this.deps.runIgnoreCommand(command, ticket.ip))) {
        this.deps.log.log('filter', 'INFO', `[${this.name}] Ignore ${ticket.ip} by command`);
        continue;
      }
      if (this.jail.commitBan(ticket)) banned.push(ticket);
    }
    // Not awaited: the firewall catches up behind the hot path (see enforce()).
    void this.apply(banned, now);
  }

  /** Records bans and queues them for the firewall; the promise settles when the firewall has them. */
  private apply(banned: BanTicket[], now: number): Promise<void> {
    if (banned.length === 0) return Promise.resolve();
    this.deps.store?.addBans(banned);
    for (const ticket of banned) this.deps.log.log('actions', 'NOTICE', `[${this.name}] Ban ${ticket.ip}`);
    const entries = this.entries(banned, now);
    return this.enforce(({ firewall, target }) => firewall.ban(target, entries));
  }

  /** Manual bans (`ban JAIL IP...`, `set JAIL banip`): how many were new, once the firewall has them. */
  async ban(ips: readonly string[]): Promise<number> {
    const now = this.deps.now();
    const banned: BanTicket[] = [];
    for (const ip of ips) {
      const result = this.jail.ban(ip, now);
      if (result.ok) banned.push(result.ticket);
      else if (result.reason === 'already-banned') {
        this.deps.log.log('actions', 'NOTICE', `[${this.name}] ${ip} already banned`);
      } else this.deps.log.log('actions', 'WARNING', `[${this.name}] refusing to ban ${ip}: ${result.reason}`);
    }
    await this.apply(banned, now);
    return banned.length;
  }

  /** Lifts bans; returns how many of `ips` were banned here. */
  async unban(ips: readonly string[] | 'all'): Promise<number> {
    const lifted: BanTicket[] = [];
    if (ips === 'all') lifted.push(...this.jail.unbanAll());
    else {
      for (const ip of ips) {
        const ticket = this.jail.unban(ip);
        if (ticket) lifted.push(ticket);
      }
    }
    await this.lift(lifted, 'Unban');
    return lifted.length;
  }

  /** Lifts bans whose time is over. */
  expire(): void {
    void this.lift(this.jail.expire(this.deps.now()), 'Unban');
  }

  /** Forgets bans and queues their removal; the promise settles when the firewall no longer has them. */
  private lift(tickets: BanTicket[], verb: string): Promise<void> {
    if (tickets.length === 0) return Promise.resolve();
    const store = this.deps.store;
    for (const ticket of tickets) {
      store?.removeBan(this.name, ticket.ip);
      this.deps.log.log('actions', 'NOTICE', `[${this.name}] ${verb} ${ticket.ip}`);
    }
    const addresses = tickets.flatMap((t) => parseAddress(t.ip) ?? []);
    return this.enforce(({ firewall, target }) => firewall.unban(target, addresses));
  }

  /** The firewall failures of this jail that the backends kept, oldest first, one line each. */
  firewallProblems(): string[] {
    return this.deps.actions.flatMap(({ firewall }) =>
      firewall.errors
        .filter((e) => e.jail === this.name)
        .map((e) => `${formatLocalTime(e.time)} ${firewall.name} ${e.operation} failed: ${e.message}`),
    );
  }

  /** actioncheck: rules flushed behind our back are put back with the current bans. */
  /**
   * actioncheck: rules flushed behind our back are put back with the current bans, and after a failed
   * firewall command the kernel is made to hold exactly the jail's bans again.
   */
  checkFirewall(): Promise<void> {
    const suspect = this.firewallSuspect;
    this.firewallSuspect = false;
    return this.enforce(async ({ firewall, target }) => {
      const wanted = () => this.entries(this.jail.bans.list(), this.deps.now());
      if (!(await firewall.check(target))) {
        this.deps.log.log('actions', 'ERROR', `[${this.name}] firewall rules missing; restoring them and ${this.jail.bans.size} ban(s)`);
        await firewall.start(target);
        await firewall.reconcile(target, wanted());
      } else if (suspect) {
        await firewall.reconcile(target, wanted());
        this.deps.log.log('actions', 'NOTICE', `[${this.name}] firewall reconciled after an earlier failure`);
      }
    });
  }

  /** Firewall entries for tickets: the kernel timeout is the time left, none for permanent bans. */
  private entries(tickets: readonly BanTicket[], now: number): BanEntry[] {
    const out: BanEntry[] = [];
    for (const ticket of tickets) {
      const address = parseAddress(ticket.ip);
      if (address === null) continue;
      const end = banEnd(ticket);
      out.push({ address, timeout: end === Number.POSITIVE_INFINITY ? null : Math.max(1, Math.ceil(end - now)) });
    }
    return out;
  }
}

const DNS_TIMEOUT_MS = 3000;

/** An `ignoreip` name's addresses, or none when it does not resolve within the timeout. */
async function resolveName(name: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), DNS_TIMEOUT_MS);
  });
  const lookup = dnsLookup(name, { all: true }).then(
    (found) => found.map((a) => a.address),
    () => [],
  );
  try {
    return await Promise.race([lookup, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
