// One running jail: its log source, filter, counting state, store rows and firewall rules, wired so a
// line travels one way (read → dated → matched → counted → banned). The pure parts (Filter, Jail) make
// every decision; this file does the side effects in the order that keeps bans durable: a ban is
// committed to the store before the firewall is asked, so a crash in between is repaired at start-up by
// reconcile.
import { lookup as dnsLookup } from 'node:dns/promises';
import type { JailConfig } from '../config/model.js';
import { Filter } from '../filter/filter.js';
import { resolveLogZone } from '../filter/timezone.js';
import { parseAddress } from '../firewall/address.js';
import type { BanEntry, Firewall, FirewallJail } from '../firewall/firewall.js';
import { type BanTicket, BufferedBanHistory, banEnd } from '../jail/bans.js';
import { type BanCommit, Jail } from '../jail/jail.js';
import { JailPipeline, PipelineOutput } from '../jail/pipeline.js';
import { FileSource } from '../sources/file.js';
import { JournalSource } from '../sources/journal.js';
import type { LineBatch, Source } from '../sources/source.js';
import type { DaemonStore } from './daemon-store.js';
import { type DaemonLog, formatLocalTime } from './daemon-log.js';
import { storePositions } from './positions.js';

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
  /** The line → failure → decision path, the same one `replay` runs. */
  private readonly pipeline: JailPipeline | null;
  private readonly out = new PipelineOutput();
  /** New bans, answered from memory until the batch writes them to the store in one transaction. */
  private readonly history: BufferedBanHistory | null;
  private source: Source | null = null;
  /** Firewall work of this jail, chained so it runs in order (see enforce()). */
  private firewallQueue: Promise<void> = Promise.resolve();
  /** A firewall command failed since the last check: the kernel may lack bans or hold stale ones. */
  private firewallSuspect = false;
  private firewallObjectsCreated = false;
  private readonly files: string[];

  constructor(
    readonly config: JailConfig,
    private readonly deps: JailRuntimeDeps,
  ) {
    this.name = config.name;
    this.history = deps.store ? new BufferedBanHistory(deps.store) : null;
    this.jail = new Jail(config, {
      history: this.history ?? undefined,
      selfAddresses: deps.selfAddresses,
    });
    const def = config.filter;
    this.filter =
      def && def.failregex.length > 0
        ? new Filter(def, { useDns: config.usedns, zone: resolveLogZone(config.options['logtimezone']) })
        : null;
    this.pipeline =
      this.filter === null ? null : new JailPipeline(this.jail, this.filter, { deferBans: config.ignorecommand !== '', reportFound: true });
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

  /** The hot path: every line of a batch through the shared pipeline; decisions written once per batch. */
  async handleBatch(batch: LineBatch): Promise<void> {
    const pipeline = this.pipeline;
    if (pipeline === null) return;
    const now = this.deps.now();
    const times = batch.times;
    const out = this.out;
    for (let i = 0; i < batch.lines.length; i++) {
      // One bad line must never drop the rest of the batch.
      try {
        pipeline.line(batch.lines[i]!, now, out, now, times?.[i]);
      } catch (err) {
        this.deps.log.log('filter', 'ERROR', `[${this.name}] failed to process a line: ${(err as Error).message}`);
      }
    }
    if (out.empty) return;
    for (const { ip, time } of out.found) {
      this.deps.log.log('filter', 'INFO', `[${this.name}] Found ${ip} - ${formatLocalTime(time * 1000)}`);
    }
    const lifted = out.lifted.splice(0);
    const commits = out.commits.splice(0);
    const due = out.due.splice(0);
    out.clear();
    void this.lift(lifted, 'Unban', false);
    void this.apply(commits, now);
    if (due.length > 0) await this.commit(due);
  }

  /** ignorecommand, then the jail, the store (durable), the firewall (batched), the log. */
  private async commit(due: BanTicket[]): Promise<void> {
    const command = this.jail.ignoreCommand;
    const commits: BanCommit[] = [];
    for (const ticket of due) {
      if (command !== '' && (await this.deps.runIgnoreCommand(command, ticket.ip))) {
        this.deps.log.log('filter', 'INFO', `[${this.name}] Ignore ${ticket.ip} by command`);
        continue;
      }
      const commit = this.jail.commitBan(ticket, this.deps.now());
      if (commit !== null) commits.push(commit);
    }
    // Not awaited: the firewall catches up behind the hot path (see enforce()).
    void this.apply(commits, this.deps.now());
  }

  /**
   * Records bans (new ones in the history, prolonged ones as their last-ban row, each kind in one
   * transaction) and queues them for the firewall; the promise settles when the firewall has them.
   */
  private apply(commits: readonly BanCommit[], now: number): Promise<void> {
    if (commits.length === 0) return Promise.resolve();
    const store = this.deps.store;
    const tickets = commits.map((c) => c.ticket);
    if (store) {
      store.addBans(this.history?.drain() ?? []);
      store.extendBans(commits.filter((c) => c.kind === 'prolong').map((c) => c.ticket));
    }
    for (const { kind, ticket } of commits) {
      if (kind === 'ban') this.deps.log.log('actions', 'NOTICE', `[${this.name}] Ban ${ticket.ip}`);
      else this.deps.log.log('actions', 'NOTICE', `[${this.name}] ${ticket.ip} already banned; ban prolonged to ${formatLocalTime(banEnd(ticket) * 1000)}`);
    }
    const entries = this.entries(tickets, now);
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
    await this.apply(
      banned.map((ticket) => ({ kind: 'ban', ticket })),
      now,
    );
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
    await this.lift(lifted, 'Unban', true);
    return lifted.length;
  }

  /** Lifts bans whose time is over (now > end). */
  expire(): void {
    void this.lift(this.jail.expire(this.deps.now()), 'Unban', false);
  }

  /**
   * Queues the removal of lifted bans; the promise settles when the firewall no longer has them. A
   * manual unban also deletes the history (one transaction); an expired ban keeps it for
   * bantime.increment, as in Fail2Ban, and writes nothing.
   */
  private lift(tickets: readonly BanTicket[], verb: string, manual: boolean): Promise<void> {
    if (tickets.length === 0) return Promise.resolve();
    if (manual) this.deps.store?.removeBans(this.name, tickets.map((t) => t.ip));
    for (const ticket of tickets) {
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
