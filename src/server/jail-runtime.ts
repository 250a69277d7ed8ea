// One running jail: its log source, filter, counting state, store rows and firewall rules, wired so a
// line travels one way (read → dated → matched → counted → banned). The pure parts (Filter, Jail) make
// every decision; this file does the side effects in the order that keeps bans durable: a ban is
// committed to the store before the firewall is asked, so a crash in between is repaired at start-up by
// reconcile.
import type { JailConfig } from '../config/model.js';
import { Filter } from '../filter/filter.js';
import { resolveLogZone } from '../filter/timezone.js';
import { type Address, parseAddress } from '../firewall/address.js';
import { type BanEntry, type Firewall, type FirewallJail, HASH_SET_LIMIT, type KernelEntry } from '../firewall/firewall.js';
import { type BanTicket, BufferedBanHistory, banEnd } from '../jail/bans.js';
import { type BanCommit, Jail, type JailHistory } from '../jail/jail.js';
import { LOST_CLIENT_PROBLEM, LostClientWatch } from '../jail/lost-client.js';
import { JailPipeline, PipelineOutput } from '../jail/pipeline.js';
import { FileSource } from '../sources/file.js';
import { JournalSource } from '../sources/journal.js';
import type { CursorStore, LineBatch, PositionStore, Source } from '../sources/source.js';
import { parseCidr, parseIp } from '../net/ip.js';
import { ControlError } from './control-protocol.js';
import type { DaemonStore } from './daemon-store.js';
import { type DaemonLog, formatLocalTime } from './daemon-log.js';
import { JailCounters } from './metrics-counters.js';
import { storePositions } from './positions.js';
import { FilterThread, LINE_DEADLINE_MS } from './filter-thread.js';
import { ownString } from '../jail/own-string.js';
import { builtin } from '../builtin.js';

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
  /** This jail's metrics, kept by the daemon over reloads. */
  counters?: JailCounters;
  /**
   * The host's addresses read fresh (ignoreself): true when `ip` (an address or a network) is or covers
   * one. Checked again right before every ban, so an address added to the host after the jail started
   * is never banned.
   */
  isOwnAddress?: (ip: string) => boolean;
  /** The host's gateways read fresh: never banned automatically, a manual ban needs `force`. */
  isGateway?: (ip: string) => boolean;
  /** True when `ip` is inside one of the host's own networks (with isGateway: the lost-client check). */
  isOwnNetwork?: (ip: string) => boolean;
  /** How long a manual ban or unban waits for the firewall before answering that it is not confirmed (ms). */
  confirmTimeoutMs?: number;
  /** The ban history when there is no store: one for every jail, as the database's is (overalljails). */
  history?: JailHistory;
  /** Where read positions and journal cursors are kept when there is no store. */
  positions?: PositionStore;
  cursors?: CursorStore;
  /** Bans this jail made or prolonged (automatic or manual, never received ones) and admins' unbans: for the fleet. */
  onBans?: (tickets: readonly BanTicket[]) => void;
  onUnbans?: (jail: string, ips: readonly string[]) => void;
  /** The jail's next deadline (Jail.nextDeadline()) may have moved earlier: the daemon re-arms its expiry alarm. */
  onSooner?: () => void;
  /** Lines arrived (once per batch): the daemon returns freed memory some time after activity. */
  onActivity?: () => void;
}

export class JailRuntime {
  readonly name: string;
  readonly jail: Jail;
  readonly filter: Filter | null;
  readonly counters: JailCounters;
  /** The line → failure → decision path, the same one `replay` runs. */
  private readonly pipeline: JailPipeline | null;
  private readonly out = new PipelineOutput();
  /** One address standing for many user names: the real client address is lost (see lost-client.ts). */
  private readonly lostClient: LostClientWatch;
  private readonly lostClientProblems: string[] = [];
  /** New bans, answered from memory until the batch writes them to the store in one transaction. */
  private readonly history: BufferedBanHistory | null;
  private source: Source | null = null;
  /** Firewall work of this jail, chained so it runs in order (see enforce()). */
  private firewallQueue: Promise<void> = Promise.resolve();
  /** A firewall command failed since the last check: the kernel may lack bans or hold stale ones. */
  private firewallSuspect = false;
  private firewallObjectsCreated = false;
  /** Bypass rules already logged, so the periodic check logs each once. */
  private readonly bypassLogged = new Set<string>();
  private readonly files: string[];
  /** Matches in a thread with a deadline per line when the filter can backtrack catastrophically. */
  private readonly thread: FilterThread | null = null;
  /** An action reads tickets' matches and fields (`<matches>`, `<F-USER>`): they are kept with each ban. */
  private readonly keepDetails: boolean;

  constructor(
    readonly config: JailConfig,
    private readonly deps: JailRuntimeDeps,
  ) {
    this.name = config.name;
    this.counters = deps.counters ?? new JailCounters();
    this.history = deps.store ? new BufferedBanHistory(deps.store) : null;
    this.lostClient = new LostClientWatch(
      config.findtime,
      (ip) => deps.isGateway?.(ip) === true || deps.isOwnNetwork?.(ip) === true,
    );
    // Only action.d scripts read a ban's matches and fields after it is made (see usesTicketDetails).
    this.keepDetails = deps.actions.some((a) => a.firewall.usesTicketDetails === true);
    this.jail = new Jail(config, {
      history: this.history ?? deps.history,
      selfAddresses: deps.selfAddresses,
      keepMatches: this.keepDetails,
      onSooner: deps.onSooner,
    });
    const def = config.filter;
    this.filter =
      def && def.failregex.length > 0
        ? new Filter(def, { useDns: config.usedns, zone: resolveLogZone(config.options['logtimezone']) })
        : null;
    this.pipeline =
      this.filter === null ? null : new JailPipeline(this.jail, this.filter, {
            deferBans: config.ignorecommand !== '',
            reportFound: true,
            isOwnAddress: config.ignoreself ? deps.isOwnAddress : undefined,
            isGateway: deps.isGateway,
            lostClient: this.lostClient,
          });
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
  async start(restored: readonly BanTicket[] = []): Promise<void> {
    // The bans go into the jail (CPU only) while nft makes the objects in processes of its own.
    const objects = this.createFirewallObjects();
    await spawned();
    this.restoreBans(restored);
    await objects;
    const now = this.deps.now();
    const count = this.restoredCount;
    this.restoredCount = 0;
    const wanted = this.entries(this.jail.bans.list(), now, this.parsedAtStart);
    this.parsedAtStart = null;
    // A firewall that fails here does not stop the jail (nor the others): the jail counts and records
    // bans, and the periodic check rebuilds the kernel side once the firewall answers again.
    for (const action of this.deps.actions) {
      try {
        const { firewall, target } = action;
        if (!firewall.adopt) await firewall.reconcile(target, wanted);
        else {
          const adoption = await firewall.adopt(target, wanted);
          if ('found' in adoption) await this.adopt(action, adoption.found, now);
          // The bans are in the kernel; the jail runs while the kernel's other elements are read.
          else adoption.later.then((found) => this.adopt(action, found, this.deps.now())).catch((err: unknown) => this.firewallFailed(err));
        }
      } catch (err) {
        this.firewallFailed(err);
      }
    }
    if (count > 0) this.deps.log.log('actions', 'NOTICE', `[${this.name}] Restored ${count} ban(s)`);
    await this.refreshIgnoredNames();
    this.source = this.createSource();
    if (this.source) await this.source.start();
    this.deps.log.log('jail', 'INFO', `Jail '${this.name}' started`);
  }

  /**
   * At start, before restoreBans(): hands the firewalls the addresses the store holds for this jail
   * (those restore() would keep), so that the kernel takes them while the daemon reads the bans
   * themselves. In parts: the kernel starts on the first while the next is parsed. Resolves once the
   * writes are under way.
   */
  async prefill(ips: readonly string[]): Promise<void> {
    const actions = this.deps.actions.filter((a) => a.firewall.prefill !== undefined);
    if (actions.length === 0 || ips.length === 0) return;
    const parsed = new Map<string, Address>();
    this.parsedAtStart = parsed;
    for (let from = 0; from < ips.length; from += PREFILL_PART) {
      const entries: BanEntry[] = [];
      for (let i = from; i < Math.min(from + PREFILL_PART, ips.length); i++) {
        const target = this.jail.restoreTarget(ips[i] as string);
        const address = target === null ? null : parseAddress(target);
        if (address === null) continue;
        entries.push({ address, timeout: null });
        parsed.set(address.text, address);
      }
      await Promise.all(actions.map(({ firewall, target }) => firewall.prefill?.(target, entries)));
    }
  }

  /** The addresses prefill() parsed, for start()'s sync to use again (100,000 parses are ~50 ms and their garbage). */
  private parsedAtStart: Map<string, Address> | null = null;

  /** Bans taken in by restoreBans() and not yet announced by start()'s "Restored N ban(s)". */
  private restoredCount = 0;

  /**
   * Takes stored (or carried) bans into the jail without touching the firewall: the daemon does it for
   * every jail while their firewall objects are being made, then start() puts them in the kernel.
   */
  restoreBans(restored: readonly BanTicket[]): void {
    const now = this.deps.now();
    for (const ticket of restored) if (this.jail.restore(ticket, now)) this.restoredCount++;
  }

  /**
   * Creates the jail's tables, chains and sets (idempotent). The daemon does this for every jail before
   * restoring any bans: nft re-reads a table's big interval sets on every change to that table, so
   * creating a jail's objects after another jail restored 100,000 bans took seconds per jail.
   */
  async createFirewallObjects(): Promise<void> {
    if (this.firewallObjectsCreated) return;
    this.firewallObjectsCreated = true;
    this.firewallStartError = null;
    for (const { firewall, target } of this.deps.actions) {
      try {
        await firewall.start(target);
      } catch (err) {
        this.firewallStartError ??= (err as Error).message;
        this.firewallFailed(err);
      }
    }
  }

  /**
   * Why the firewall refused this jail's objects at its last start, or null. The jail runs anyway (the
   * check retries), but a reload uses it to keep the previous jail, whose rules the kernel took.
   */
  firewallStartError: string | null = null;

  /** A firewall command failed: logged, kept for `status`, and repaired by the next check. */
  private firewallFailed(err: unknown): void {
    this.counters.firewallFailures++;
    this.firewallSuspect = true;
    this.deps.log.log('actions', 'ERROR', `[${this.name}] ${(err as Error).message}`);
    this.onFirewallSuspect?.();
  }

  /**
   * Elements the kernel held that the store lacked (a lost or rolled-back database) are bans all the
   * same: they become the jail's bans for a full bantime (or what the kernel's timeout leaves) and are
   * written to the store. Those the jail would not ban now (ignoreip, own addresses) are lifted, and so
   * are those whose ban the store records as over (they ended while the daemon was down).
   */
  private async adopt({ firewall, target }: JailAction, found: readonly KernelEntry[], now: number): Promise<void> {
    if (found.length === 0) return;
    const adopted: BanTicket[] = [];
    const refused: string[] = [];
    const ended: string[] = [];
    for (const k of found) {
      if (this.jail.bans.has(k.text)) continue; // adopted through another action
      // A ban the store knows and no longer holds as active ended while the daemon was down.
      if ((this.deps.store?.previousBans(k.text, this.name) ?? 0) > 0) {
        ended.push(k.text);
        continue;
      }
      const ticket: BanTicket = {
        ip: k.text,
        jail: this.name,
        time: now,
        bantime: k.expires ?? this.config.bantime,
        banCount: 1,
        failures: 0,
        matches: [],
      };
      if (this.jail.restore(ticket, now)) adopted.push(ticket);
      else refused.push(k.text);
    }
    if (adopted.length > 0) {
      this.deps.store?.addBans(adopted);
      const shown = adopted.slice(0, 10).map((t) => t.ip).join(', ');
      const more = adopted.length > 10 ? ` and ${adopted.length - 10} more` : '';
      this.deps.log.log('actions', 'WARNING', `[${this.name}] Adopted ${adopted.length} ban(s) found in the kernel but not in the database: ${shown}${more}`);
    }
    if (refused.length > 0) {
      this.deps.log.log('actions', 'NOTICE', `[${this.name}] Lifting ${refused.length} kernel ban(s) this jail ignores: ${refused.slice(0, 10).join(', ')}`);
    }
    if (ended.length > 0) {
      this.deps.log.log('actions', 'NOTICE', `[${this.name}] Lifting ${ended.length} kernel ban(s) that ended while the daemon was down`);
    }
    if (refused.length + ended.length > 0) await firewall.unban(target, [...refused, ...ended].flatMap((ip) => parseAddress(ip) ?? []));
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
    // Started again (a reload falling back to it), it must create the objects it just removed.
    if (options.keepRules !== true) this.firewallObjectsCreated = false;
    this.deps.log.log('jail', 'INFO', `Jail '${this.name}' stopped`);
  }

  /**
   * Runs firewall work for every action of the jail, in order, behind the hot path: a slow or hung tool
   * (killed after the runner's timeout) must not stop the jail from counting and deciding. The store
   * already holds every decision, and a failure marks the kernel state suspect, so the next check
   * reconciles it. The returned promise settles when this piece of work is done.
   */
  private enforce(work: (action: JailAction) => Promise<void>): Promise<string[]> {
    const run = async () => {
      const errors: string[] = [];
      for (const action of this.deps.actions) {
        try {
          await work(action);
        } catch (err) {
          this.firewallFailed(err);
          errors.push((err as Error).message);
        }
      }
      return errors;
    };
    const done = this.firewallQueue.then(run);
    this.firewallQueue = done.then(() => {});
    return done;
  }

  /**
   * Bans and unbans go to the backends at once, not behind the previous batch's completion: a backend
   * queues them in call order and coalesces whatever waits into one transaction, so a flood of bans
   * reaches the kernel in a few large batches instead of one nft run per read chunk. Resolves with the
   * error messages of the actions that failed (none when every action did its part).
   */
  private send(work: (action: JailAction) => Promise<void>): Promise<string[]> {
    const errors: string[] = [];
    return Promise.all(
      this.deps.actions.map(async (action) => {
        try {
          await work(action);
        } catch (err) {
          this.firewallFailed(err);
          errors.push((err as Error).message);
        }
      }),
    ).then(() => errors);
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
          : this.deps.cursors,
      });
    }
    return new FileSource({
      paths: this.config.logpaths,
      onBatch,
      onError,
      encoding: this.config.logencoding,
      positions: store ? storePositions(store, this.name) : this.deps.positions,
      pollIntervalMs: this.deps.pollIntervalMs,
    });
  }

  /** The hot path: every line of a batch through the shared pipeline; decisions written once per batch. */
  async handleBatch(batch: LineBatch): Promise<void> {
    const pipeline = this.pipeline;
    if (pipeline === null) return;
    this.deps.onActivity?.();
    const readAt = performance.now();
    const now = this.deps.now();
    const times = batch.times;
    const out = this.out;
    const filter = pipeline.filter;
    const counts = this.counters.source(batch.path);
    counts.read += batch.lines.length;
    if (this.thread) {
      const done = await this.thread.process(batch.lines, now, times);
      for (const [i, why] of done.skipped) this.skipped(batch.lines[i]!, why);
      for (const [i, failures] of done.failures) this.safely(() => pipeline.failures(batch.lines[i]!, failures, now, out));
    } else {
      for (let i = 0; i < batch.lines.length; i++) {
        const line = batch.lines[i]!;
        // Inline rather than through safely(): no closure per line on the hot path.
        try {
          pipeline.line(line, now, out, now, times?.[i]);
        } catch (err) {
          this.lineFailed(err);
        }
        if (filter.lastSkipped !== null) this.skipped(line, filter.lastSkipped);
      }
    }
    counts.matched += out.matchedLines;
    out.matchedLines = 0;
    if (out.empty) return;
    // One line per failure: at a level that hides them, no date is formatted for nothing.
    if (this.deps.log.enabled('INFO')) {
      for (const { ip, time } of out.found) this.deps.log.log('filter', 'INFO', `[${this.name}] Found ${ip} - ${formatLocalTime(time * 1000)}`);
    }
    for (const ip of out.ignoredSelf) this.deps.log.log('filter', 'INFO', `[${this.name}] Ignore ${ip} by ignoreself rule`);
    for (const ip of out.ignoredGateway)
      this.deps.log.log('filter', 'INFO', `[${this.name}] Ignore ${ip}: a gateway of this host is never banned automatically`);
    for (const { ip, users } of out.lostClient) this.clientLost(ip, users);
    if (this.keepDetails) for (const [ticket, fields] of out.fields) this.fieldsOf.set(ticket, ownFields(fields));
    const lifted = out.lifted.splice(0);
    const commits = out.commits.splice(0);
    const due = out.due.splice(0);
    out.clear();
    void this.lift(lifted, 'Unban', false);
    void this.apply(commits, now, { readAt });
    if (due.length > 0) await this.commit(due, readAt);
  }

  /** Logs the lost client address once per address, and keeps it for `status JAIL`. */
  private clientLost(ip: string, users: number): void {
    const what = this.deps.isGateway?.(ip) ? 'a gateway of this host' : "inside this host's own networks";
    const problem =
      `${LOST_CLIENT_PROBLEM}: failures for ${users} user names within findtime all come from ${ip} (${what}); ` +
      'a proxy hides the clients (Docker\'s userland proxy, or IPv6 reaching an IPv4-only container). Fix: set "userland-proxy": false ' +
      "in Docker's daemon.json, enable IPv6 NAT for the container network (ip6tables), or use the PROXY protocol";
    this.lostClientProblems.push(`${formatLocalTime(this.deps.now() * 1000)} ${problem}`);
    this.deps.log.log('filter', 'WARNING', `[${this.name}] ${problem}`);
  }

  /** Conditions found while reading logs (the lost client address), one line each, for `status JAIL`. */
  clientProblems(): string[] {
    return [...this.lostClientProblems];
  }

  /** One bad line must never drop the rest of the batch. */
  private safely(work: () => unknown): void {
    try {
      work();
    } catch (err) {
      this.lineFailed(err);
    }
  }

  private lineFailed(err: unknown): void {
    this.deps.log.log('filter', 'ERROR', `[${this.name}] failed to process a line: ${(err as Error).message}`);
  }

  private skipped(line: string, why: string): void {
    this.deps.log.log('filter', 'WARNING', `[${this.name}] Line skipped unmatched (${why}): ${line.slice(0, 200)}`);
  }

  /** ignorecommand, then the jail, the store (durable), the firewall (batched), the log. */
  private async commit(due: BanTicket[], readAt: number): Promise<void> {
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
    void this.apply(commits, this.deps.now(), { readAt });
  }

  /**
   * Records bans (new ones in the history, prolonged ones as their last-ban row, each kind in one
   * transaction) and queues them for the firewall; the promise settles when the firewall has them, with
   * the firewall's error messages (none when every action took them). `urgent` (manual bans) jumps the
   * backends' queues; `readAt` (performance.now() when the line was read) times the ban for the latency
   * histogram.
   */
  private apply(commits: readonly BanCommit[], now: number, options: { urgent?: boolean; readAt?: number } = {}): Promise<string[]> {
    if (commits.length === 0) return Promise.resolve([]);
    const store = this.deps.store;
    const tickets = commits.map((c) => c.ticket);
    if (store) {
      store.addBans(this.history?.drain() ?? []);
      store.extendBans(commits.filter((c) => c.kind === 'prolong').map((c) => c.ticket));
    }
    this.deps.onBans?.(tickets);
    for (const { kind, ticket } of commits) {
      if (kind === 'ban') this.deps.log.log('actions', 'NOTICE', `[${this.name}] Ban ${ticket.ip}`);
      else this.deps.log.log('actions', 'NOTICE', `[${this.name}] ${ticket.ip} already banned; ban prolonged to ${formatLocalTime(banEnd(ticket) * 1000)}`);
    }
    const entries = this.entries(tickets, now);
    const { urgent = false, readAt } = options;
    const done = this.send(({ firewall, target }) => firewall.ban(target, entries, { urgent }));
    if (readAt === undefined) return done;
    return done.then((errors) => {
      if (errors.length === 0) this.counters.banLatency.observe((performance.now() - readAt) / 1000, commits.length);
      return errors;
    });
  }

  /**
   * Manual bans (`ban JAIL IP...`, `set JAIL banip`): how many were new, once the firewall has them.
   * Addresses that must not be banned are refused with the reason (ControlError 'refused'); a firewall
   * that refuses, or does not confirm in time, is reported as a failure ('failed'). Either way the
   * bans that were made stay recorded, and the periodic check keeps bringing them into the kernel.
   */
  async ban(ips: readonly string[], force = false): Promise<number> {
    const now = this.deps.now();
    const banned: BanTicket[] = [];
    const prolonged: BanTicket[] = [];
    const refused: string[] = [];
    for (const ip of ips) {
      const why = this.refusal(ip, force);
      if (why !== null) {
        refused.push(why);
        this.deps.log.log('actions', 'WARNING', `[${this.name}] refusing to ban ${why}`);
        continue;
      }
      const result = this.jail.ban(ip, now);
      if (result.ok) banned.push(result.ticket);
      else if (result.reason === 'already-banned') {
        if (result.prolonged !== null) prolonged.push(result.prolonged);
        else this.deps.log.log('actions', 'NOTICE', `[${this.name}] ${ip} already banned`);
      } else {
        refused.push(`${ip}: ${result.reason}`);
        this.deps.log.log('actions', 'WARNING', `[${this.name}] refusing to ban ${ip}: ${result.reason}`);
      }
    }
    const errors = await this.confirmed(
      this.apply(
        [
          ...banned.map((ticket) => ({ kind: 'ban' as const, ticket })),
          ...prolonged.map((ticket) => ({ kind: 'prolong' as const, ticket })),
        ],
        now,
        { urgent: true },
      ),
    );
    const count = banned.length;
    if (errors.length > 0) {
      // A subnet ban a hash set cannot hold is not retried: saying so would promise what cannot come.
      const retry = errors.every((e) => e.includes(HASH_SET_LIMIT)) ? '' : '; the firewall check retries them';
      throw new ControlError('failed', `${this.name}: ${count} ban(s) recorded, but ${errors[0]}${retry}`, { count });
    }
    // Acknowledged means durable: a ban the database cannot take yet is said to be only in memory.
    const store = this.deps.store;
    if (count > 0 && store !== null) {
      store.flush();
      if (store.degraded !== null) {
        throw new ControlError(
          'failed',
          `${this.name}: ${count} ban(s) in the firewall, but not saved: ${store.degraded}; kept in memory and written once the database takes them`,
          { count },
        );
      }
    }
    if (refused.length > 0) {
      throw new ControlError('refused', `${this.name}: ${count} of ${ips.length} newly banned; not banned: ${refused.join('; ')}`, { count });
    }
    return count;
  }

  /** Why a manual ban of `ip` must not be made, as "IP is …", or null when it may (`force`: a gateway may). */
  private refusal(ip: string, force: boolean): string | null {
    const cidr = parseCidr(ip);
    if (cidr === null) return `${ip}: not an IP address or network`;
    const single = cidr.prefix === (cidr.family === 4 ? 32 : 128);
    if (cidr.prefix === 0) return `${cidr.text} is too wide: it covers every address`;
    const parsed = single ? parseIp(cidr.address) : null;
    const reason = parsed !== null ? this.jail.ignore.check(parsed) : this.jail.ignore.checkNetwork(cidr);
    const own = reason === 'ignoreself' || (this.config.ignoreself && this.deps.isOwnAddress?.(cidr.text));
    if (reason === 'loopback') return single ? `${cidr.text} is a loopback address` : `${cidr.text} covers loopback addresses`;
    if (own) return single ? `${cidr.text} is an address of this host (ignoreself)` : `${cidr.text} covers an address of this host (ignoreself)`;
    if (reason === 'ignoreip') return single ? `${cidr.text} is in ignoreip` : `${cidr.text} overlaps ignoreip`;
    if (!force && this.deps.isGateway?.(cidr.text)) {
      const what = single ? `${cidr.text} is a gateway of this host` : `${cidr.text} covers a gateway of this host`;
      return `${what} (banning it may lock every client out; add --force to ban it all the same)`;
    }
    return null;
  }

  /** The firewall's answer to a manual command, or a failure when it does not come within the timeout. */
  private async confirmed(work: Promise<string[]>): Promise<string[]> {
    const ms = this.deps.confirmTimeoutMs ?? MANUAL_CONFIRM_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string[]>((resolve) => {
      timer = setTimeout(() => resolve([`the firewall did not confirm within ${ms / 1000} s (it is still trying)`]), ms);
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lifts bans; returns how many of `ips` were banned here, once the firewall no longer has them. */
  async unban(ips: readonly string[] | 'all'): Promise<number> {
    const lifted: BanTicket[] = [];
    if (ips === 'all') lifted.push(...this.jail.unbanAll());
    else {
      for (const ip of ips) {
        const ticket = this.jail.unban(ip);
        if (ticket) lifted.push(ticket);
      }
    }
    if (lifted.length > 0) this.deps.onUnbans?.(this.name, lifted.map((t) => t.ip));
    const errors = await this.confirmed(this.lift(lifted, 'Unban', true));
    if (errors.length > 0) {
      throw new ControlError('failed', `${this.name}: ${lifted.length} unbanned in the records, but ${errors[0]}; the firewall check retries`, {
        count: lifted.length,
      });
    }
    return lifted.length;
  }

  /**
   * A ban another node of the fleet made, with its own start and end (the kernel gets the time left):
   * refused like a manual ban (loopback, own addresses, and here ignoreip too) or when it is over or
   * held already. Recorded and enforced like any ban, but never handed to onBans (no loops).
   */
  receive(ticket: BanTicket, origin: string): boolean {
    const now = this.deps.now();
    if (this.refusal(ticket.ip, false) !== null || banEnd(ticket) <= now) return false;
    let commit: BanCommit = { kind: 'ban', ticket };
    if (!this.jail.restore(ticket, now)) {
      // Held already: a later end (the origin prolonged its ban) prolongs it here too.
      const current = this.jail.bans.get(ticket.ip);
      if (current === undefined || banEnd(ticket) <= banEnd(current)) return false;
      commit = { kind: 'prolong', ticket: { ...current, bantime: ticket.bantime < 0 ? -1 : banEnd(ticket) - current.time } };
      this.jail.bans.replace(commit.ticket);
    }
    const verb = commit.kind === 'ban' ? 'Ban' : 'Prolong';
    this.deps.log.log('actions', 'NOTICE', `[${this.name}] ${verb} ${ticket.ip} (from fleet node ${origin})`);
    // A catch-up brings hundreds at once: one store transaction and one firewall batch for them all.
    if (this.received.push(commit) === 1) {
      queueMicrotask(() => {
        const commits = this.received.splice(0);
        this.deps.store?.addBans(commits.filter((c) => c.kind === 'ban').map((c) => c.ticket));
        this.deps.store?.extendBans(commits.filter((c) => c.kind === 'prolong').map((c) => c.ticket));
        const entries = this.entries(commits.map((c) => c.ticket), this.deps.now());
        void this.send(({ firewall, target }) => firewall.ban(target, entries, { urgent: true }));
      });
    }
    return true;
  }

  /** Received bans waiting for the end of the current tick (see receive()). */
  private readonly received: BanCommit[] = [];

  /** An unban an admin made on another node of the fleet; not published again. */
  receiveUnban(ip: string): boolean {
    const ticket = this.jail.unban(ip);
    if (ticket === null) return false;
    void this.lift([ticket], 'Unban', true);
    return true;
  }

  /** When expire() next has work (epoch seconds); Infinity: never. */
  nextDeadline(): number {
    return this.jail.nextDeadline();
  }

  /** Lifts bans whose time is over (now > end), and forgets failures outside findtime. */
  expire(): void {
    void this.lift(this.jail.expire(this.deps.now()), 'Unban', false);
  }

  /**
   * Queues the removal of lifted bans; the promise settles when the firewall no longer has them, with the
   * firewall's error messages. A manual unban also deletes the history (one transaction); an expired ban
   * keeps it for bantime.increment, as in Fail2Ban, and writes nothing.
   */
  private lift(tickets: readonly BanTicket[], verb: string, manual: boolean): Promise<string[]> {
    if (tickets.length === 0) return Promise.resolve([]);
    if (manual) this.deps.store?.removeBans(this.name, tickets.map((t) => t.ip));
    for (const ticket of tickets) {
      this.deps.log.log('actions', 'NOTICE', `[${this.name}] ${verb} ${ticket.ip}`);
    }
    const addresses = tickets.flatMap((t) => parseAddress(t.ip) ?? []);
    return this.send(({ firewall, target }) => firewall.unban(target, addresses));
  }

  /** The firewall failures of this jail that the backends kept, oldest first, one line each. */
  firewallProblems(): string[] {
    return this.deps.actions.flatMap(({ firewall }) =>
      firewall.errors
        .filter((e) => e.jail === this.name)
        .map((e) => `${formatLocalTime(e.time)} ${firewall.name} ${e.operation} failed: ${e.message}`),
    );
  }

  /**
   * actioncheck: rules flushed behind our back are put back with the current bans, and after a failed
   * firewall command the kernel is made to hold exactly the jail's bans again. False when part of it
   * failed or was put off (see AuditResult.deferred): a check run on notifications must come again.
   */
  async checkFirewall(): Promise<boolean> {
    const suspect = this.firewallSuspect;
    this.firewallSuspect = false;
    this.counters.firewallChecks++;
    let complete = true;
    const errors = await this.enforce(async ({ firewall, target }) => {
      const wanted = () => this.entries(this.jail.bans.list(), this.deps.now());
      if (!(await firewall.check(target))) {
        this.deps.log.log('actions', 'ERROR', `[${this.name}] firewall rules missing; restoring them and ${this.jail.bans.size} ban(s)`);
        await firewall.start(target);
        await firewall.reconcile(target, wanted());
        this.counters.firewallRepairs++;
      } else if (suspect) {
        await firewall.reconcile(target, wanted());
        this.counters.firewallRepairs++;
        this.deps.log.log('actions', 'NOTICE', `[${this.name}] firewall reconciled after an earlier failure`);
      } else if (firewall.audit) {
        const found = await firewall.audit(target, wanted());
        if (found.deferred) complete = false;
        if (found.restored > 0) {
          this.deps.log.log('actions', 'ERROR', `[${this.name}] ${found.restored} ban(s) were missing from the kernel; put them back`);
        }
        for (const line of found.bypass) {
          if (!this.bypassLogged.has(line)) this.deps.log.log('actions', 'WARNING', `[${this.name}] ${line}`);
        }
        this.bypassLogged.clear();
        for (const line of found.bypass) this.bypassLogged.add(line);
      }
    });
    return complete && errors.length === 0;
  }

  /** The firewalls of the jail's actions (a check driven by change notifications needs all of them to watch). */
  get firewalls(): Firewall[] {
    return this.deps.actions.map((a) => a.firewall);
  }

  /** Told when a firewall command failed: a check must follow (see firewallFailed()). */
  onFirewallSuspect: (() => void) | null = null;

  /** A firewall command failed since the last check (at start, before anyone was told). */
  get firewallSuspected(): boolean {
    return this.firewallSuspect;
  }

  /** The filter's captured groups of the failure that produced a ticket (`<F-USER>` in action.d). */
  private readonly fieldsOf = new WeakMap<BanTicket, Readonly<Record<string, string>>>();

  /** Firewall entries for tickets: the kernel timeout is the time left, none for permanent bans. */
  private entries(tickets: readonly BanTicket[], now: number, parsed: ReadonlyMap<string, Address> | null = null): BanEntry[] {
    const out: BanEntry[] = [];
    for (const ticket of tickets) {
      const address = parsed?.get(ticket.ip) ?? parseAddress(ticket.ip);
      if (address === null) continue;
      const end = banEnd(ticket);
      const timeout = end === Number.POSITIVE_INFINITY ? null : Math.max(1, Math.ceil(end - now));
      // For action.d scripts' tags; references only, nothing is copied per ban. Native backends never
      // read them, and a flood's bans can wait seconds in their queue: the matches would outlive the
      // young generation for nothing.
      if (!this.keepDetails) {
        out.push({ address, timeout });
        continue;
      }
      out.push({
        address,
        timeout,
        ticket: {
          failures: ticket.failures,
          time: ticket.time,
          bantime: ticket.bantime,
          banCount: ticket.banCount,
          matches: ticket.matches,
          fields: this.fieldsOf.get(ticket) ?? {},
        },
      });
    }
    return out;
  }
}

/**
 * Captured fields as standalone strings: a capture is a slice of the read chunk and would keep the whole
 * chunk (64 KiB and more) alive for as long as the ban runs.
 */
function ownFields(fields: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = ownString(v);
  return out;
}

const DNS_TIMEOUT_MS = 3000;
/** Below the CLI's 30 s: a hanging firewall tool is reported as such, not as a server that is gone. */
const MANUAL_CONFIRM_MS = 10_000;

/** An `ignoreip` name's addresses, or none when it does not resolve within the timeout. */
async function resolveName(name: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), DNS_TIMEOUT_MS);
  });
  // dns is loaded by the first jail with names to resolve (at its start), not by every daemon.
  const lookup = builtin('node:dns/promises').lookup(name, { all: true }).then(
    (found) => found.map((a) => a.address),
    () => [],
  );
  try {
    return await Promise.race([lookup, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Addresses per prefill() write. The kernel commits each part on a thread while the next is parsed;
 * each commit also rebuilds the set's lookup array (a walk of every element, ~15 ms at 100,000).
 */
const PREFILL_PART = 25_000;

/** Lets queued firewall work start its processes (the queue drains on a microtask) before CPU work. */
export function spawned(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
