// The daemon: reads the configuration, restores bans, starts every jail, answers the control socket,
// and keeps time (expiry, purge, firewall checks). It owns no decision logic of its own: jails decide,
// the store remembers, the firewall enforces.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { jailProblems } from '../config/jail-problems.js';
import { FAIL2BAN_VERSION } from '../config/jail-reader.js';
import { loadConfig } from '../config/load.js';
import type { Config, JailConfig, PolicyListen } from '../config/model.js';
import { substituteTags } from '../config/tags.js';
import { ExitCode, UserError } from '../errors.js';
import { FilterError, filterConfigError } from '../filter/filter.js';
import type { Firewall } from '../firewall/firewall.js';
import { hashFallbackMessage, probeFirewall } from '../firewall/probe.js';
import type { Runner } from '../firewall/runner.js';
import { type BackendName, createBackend, firewallFor, firewallJail, nativeAction } from '../firewall/select.js';
import { type BanTicket, MemoryBanHistory } from '../jail/bans.js';
import type { ListenAddress } from '../net/listen-address.js';
import { openPolicyServers, type PolicyServers } from '../policy/policy-servers.js';
import { openStore } from '../store/open-store.js';
import { type BanColumns, storedBans } from '../store/sqlite-store.js';
import type { Fleet, FleetStatus } from '../fleet/fleet.js';
import { longestBantime, openFleet } from '../fleet/open-fleet.js';
import {
  type BanTime,
  ControlError,
  type ControlHandler,
  type JailBans,
  type JailCount,
  type JailKey,
  type JailStatus,
  type ReloadOptions,
  type ServerKey,
} from './control-protocol.js';
import { type ControlServer, clearPath, startControlServer } from './control-server.js';
import { DaemonLog, parseLogLevel } from './daemon-log.js';
import type { DaemonStore } from './daemon-store.js';
import { type JailAction, JailRuntime, spawned } from './jail-runtime.js';
import { openMetrics } from './metrics.js';
import { ServerCounters } from './metrics-counters.js';
import type { MetricsServer } from './metrics-http.js';
import { acquireNetnsLock, type NetnsLock } from './netns-lock.js';
import { FirewallChecks } from './firewall-checks.js';
import { Gateways } from './gateways.js';
import { interfaceNetworks, OwnAddresses } from './own-addresses.js';
import { releaseFreedNativeMemory } from './native-heap.js';
import { Alarm } from './alarm.js';
import { MemoryPositions } from './positions.js';

export interface DaemonOptions {
  /** A Fail2Ban tree, or null for the built-in defaults alone. */
  configDir: string | null;
  /** Overrides of fail2ban.local's settings (command-line options). */
  socket?: string;
  pidfile?: string;
  dbfile?: string;
  logtarget?: string;
  loglevel?: string;
  /** `--metrics`: where /metrics listens, null for none (overrides fail2ban.local's `metrics`). */
  metrics?: ListenAddress | null;
  /** `--postfix-policy` / `--dovecot-policy`: override fail2ban.local's policy servers (null: off). */
  postfixPolicy?: PolicyListen | null;
  dovecotPolicy?: ListenAddress | null;
  /** Record bans without touching the kernel (the `log` backend). */
  dryRun?: boolean;
  /** Remove a socket left behind by a crash (`-x`). */
  removeStaleSocket?: boolean;
  /** Leave the kernel enforcing bans after stop; their timeouts end them. */
  keepRulesOnStop?: boolean;
  /** Runs firewall commands (tests: inside a network namespace). */
  firewallRunner?: Runner;
  /** How often each jail's firewall rules are checked and repaired (ms). */
  checkIntervalMs?: number;
  pollIntervalMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Take the network namespace's firewall lock before touching the firewall. Default: yes, unless
   * `dryRun` or a custom `firewallRunner` (whose commands may run in another namespace) is given.
   */
  netnsLock?: boolean;
  /** Applied to the configuration after every (re)load: docker-mailserver's variables, for example. */
  adjustConfig?: (config: Config) => Config;
}

const VERSION = '0.1.0';
/** Buffered read positions (and writes a failing disk refused) reach the database this long after. */
const FLUSH_MS = 2000;
/** Start-up's background compilations finish within a second or two; then freed C heap goes back. */
const FIRST_TRIM_MS = 3000;
/** Freed C heap goes back this long after activity (lines read) began, and not again until more. */
const TRIM_MS = 5 * 60_000;
/** A ban ending at `end` still holds at `end`: the expiry alarm rings just after. */
const EXPIRY_SLACK_MS = 20;
const PURGE_MS = 60 * 60 * 1000;
const IGNORE_DNS_MS = 5 * 60 * 1000;

export class Daemon implements ControlHandler {
  private config: Config;
  private readonly log: DaemonLog;
  private readonly store: DaemonStore | null;
  private readonly backends = new Map<string, Firewall>();
  private readonly runtimes = new Map<string, JailRuntime>();
  private control: ControlServer | null = null;
  private metricsServer: MetricsServer | null = null;
  private policyServers: PolicyServers | null = null;
  /** Ban sharing over Redis (`fleet = …`); null when off. */
  private fleet: Fleet | null = null;
  private lock: NetnsLock | null = null;
  private reloading: Promise<void> | null = null;
  /** Read positions when there is no database (`dbfile = None`), so a rebuilt jail does not re-read its logs. */
  private readonly memory = new MemoryPositions();
  /** The ban history without a database: shared by every jail (overalljails) and kept over reloads. */
  private readonly memoryHistory = new MemoryBanHistory();
  private readonly own = new OwnAddresses();
  private readonly ownNetworks = new OwnAddresses(interfaceNetworks);
  private readonly gateways = new Gateways();
  // The daemon's work due at a known time waits on alarms, not ticks: idle, it runs no JavaScript.
  private readonly alarmFailed = (err: Error) => this.log.log('server', 'ERROR', err.message);
  /** Bans to lift and failures to forget, at the soonest deadline of any jail. */
  private readonly expiry = new Alarm(() => this.expire(), this.alarmFailed);
  /** Read positions and refused writes, FLUSH_MS after the store buffered them. */
  private readonly flushing = new Alarm(() => this.stopping === null && this.store?.flush(), this.alarmFailed);
  private readonly trim = new Alarm(releaseFreedNativeMemory, this.alarmFailed);
  /** `ignoreip` names resolved again, only while some jail has names. */
  private readonly names = new Alarm(() => void this.refreshIgnoredNames(), this.alarmFailed);
  /** Old bans and outdated last-ban rows out of the database (dbpurgeage), hourly as in Fail2Ban. */
  private readonly purging = new Alarm(() => {
    this.purging.in(PURGE_MS);
    this.purge();
  }, this.alarmFailed);
  /** A deleted database file that could not be recreated yet, tried again. */
  private readonly databaseRetry = new Alarm(() => this.checkDatabaseFile(), this.alarmFailed);
  private watchedDatabase: string | null = null;
  private firewallChecks: FirewallChecks | null = null;
  private stopping: Promise<void> | null = null;
  private pidFileWritten = false;
  private readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  private readonly now = () => Date.now() / 1000;
  /** Lasting database problems for `status`: a corrupt file moved aside, a file deleted while running. */
  private readonly storeProblems: string[] = [];
  /** The kernel's refusal of nftables interval sets when the nftables backend uses plain hash sets. */
  private nftFallback: string | null = null;

  private constructor(
    private readonly options: DaemonOptions,
    config: Config,
    log: DaemonLog,
    store: DaemonStore | null,
    private readonly counters: ServerCounters,
  ) {
    this.config = config;
    this.log = log;
    this.store = store;
    this.stopped = new Promise((resolve) => {
      this.resolveStopped = resolve;
    });
  }

  /** Loads the configuration and opens the log and the store; throws UserError with a clear line. */
  static open(options: DaemonOptions): Daemon {
    const config = Daemon.readConfig(options);
    const server = config.server;
    const log = new DaemonLog(server.logtarget, parseLogLevel(server.loglevel));
    for (const warning of config.warnings) log.log('server', 'WARNING', warning);
    const counters = new ServerCounters();
    let store: DaemonStore | null = null;
    let storeProblems: string[] = [];
    let daemon: Daemon | undefined;
    if (server.dbfile.toLowerCase() !== 'none') {
      if (server.dbfile !== ':memory:') mkdirSync(dirname(server.dbfile), { recursive: true });
      const opened = openStore(server.dbfile, {
        maxMatches: server.dbmaxmatches,
        onDegraded: (message) => {
          if (message !== null) counters.databaseErrors++;
          log.log('database', message === null ? 'NOTICE' : 'ERROR', message ?? 'database writable again');
        },
        onBuffered: () => daemon?.flushing.in(FLUSH_MS),
      });
      for (const line of opened.log) log.log('database', line.level, line.message);
      store = opened.store;
      storeProblems = opened.problems;
    }
    daemon = new Daemon(options, config, log, store, counters);
    daemon.storeProblems.push(...storeProblems);
    return daemon;
  }

  private static readConfig(options: DaemonOptions): Config {
    const loaded = loadConfig({ dir: options.configDir });
    const config = options.adjustConfig ? options.adjustConfig(loaded) : loaded;
    const s = config.server;
    return {
      ...config,
      server: {
        ...s,
        socket: options.socket ?? s.socket,
        pidfile: options.pidfile ?? s.pidfile,
        dbfile: options.dbfile ?? s.dbfile,
        logtarget: options.logtarget ?? s.logtarget,
        loglevel: options.loglevel ?? s.loglevel,
        metrics: options.metrics !== undefined ? options.metrics : s.metrics,
        policy: {
          ...s.policy,
          postfix: options.postfixPolicy !== undefined ? options.postfixPolicy : s.policy.postfix,
          dovecot: options.dovecotPolicy !== undefined ? options.dovecotPolicy : s.policy.dovecot,
        },
      },
    };
  }

  /**
   * Takes the network namespace's lock before the first jail touches its firewall; a server without
   * jails (or a dry run, or one on a test's own runner) leaves the firewall alone and needs none.
   */
  private async lockFirewall(jails: readonly JailConfig[]): Promise<void> {
    const takeLock = this.options.netnsLock ?? (!this.options.dryRun && this.options.firewallRunner === undefined);
    if (takeLock && this.lock === null && jails.length > 0) this.lock = await acquireNetnsLock(this.config.server.socket);
  }

  /** Restores bans, starts the jails, then opens the control socket. */
  async start(): Promise<void> {
    this.log.log('server', 'INFO', `Starting portcullis ${VERSION} (Fail2Ban ${FAIL2BAN_VERSION} compatible)`);
    const socket = this.config.server.socket;
    // Both checks come before the first firewall command: a second server must not touch the first's table.
    await this.lockFirewall(this.config.jails);
    await clearPath(socket, this.options.removeStaleSocket ?? false);
    // The probe (one `nft -c`, ~10 ms) decides the set type, which the firewall objects need.
    await this.probeBackends(this.config.jails);
    this.fleet = await openFleet(this.config.server, {
      now: this.now,
      log: (level, message) => this.log.log('fleet', level, message),
      jail: (name) => this.runtimes.get(name),
      retention: () => longestBantime([...this.runtimes.values()].map((r) => r.config.bantime)),
    });
    const runtimes = this.config.jails.map((jailConfig) => this.createRuntime(jailConfig));
    // Every jail's objects are made before any jail restores its bans (nft re-reads a table's big sets on
    // each change), jails side by side: each has its own queue, and one jail's failure stays its own.
    // Then the stored addresses go to the kernel while the bans themselves are read and go into the
    // jails: with 100,000 bans the kernel's commit (0.3-0.6 s on a thread) and that CPU work (0.3-0.5 s)
    // overlap. The jails' start then writes only what differs.
    const objects = Promise.all(runtimes.map((runtime) => runtime.createFirewallObjects()));
    await spawned();
    const addresses = this.store?.activeAddresses(this.now()) ?? new Map<string, string[]>();
    await objects;
    await Promise.all(runtimes.map((runtime) => runtime.prefill(addresses.get(runtime.name) ?? [])));
    const stored = this.storedBans(this.config.jails);
    for (const runtime of runtimes) {
      const columns = stored.get(runtime.name);
      if (columns) runtime.restoreBans(storedBans(runtime.name, columns));
    }
    // Side by side too: the other jails start their sources while one waits for the kernel to take its bans.
    await Promise.all(runtimes.map((runtime) => this.startJail(runtime, [])));
    this.warnMissingLogs();
    this.control = await startControlServer({
      path: this.config.server.socket,
      handler: this,
      force: this.options.removeStaleSocket ?? false,
    });
    this.metricsServer = await openMetrics(this.config.server.metrics, this.log, {
      runtimes: () => this.runtimes.values(),
      firewalls: () => this.backends.values(),
      counters: this.counters,
      databaseDegraded: () => (this.store?.degraded ?? null) !== null,
      fleet: () => this.fleetStatus(),
    });
    this.policyServers = await openPolicyServers(this.config.server.policy, this.log, () => this.runtimes.values());
    this.writePidFile();
    this.startTimers();
    this.fleet?.start();
    this.log.log('server', 'INFO', `Server ready: ${this.runtimes.size} jail(s), socket ${this.config.server.socket}`);
  }

  /** A jail without any log file runs (it reads the file once it exists), but never silently. */
  private warnMissingLogs(): void {
    for (const [jail, problems] of jailProblems(this.config)) {
      for (const p of problems) if (p.startsWith('Have not found')) this.log.log('server', 'WARNING', `[${jail}] ${p}`);
    }
  }

  /** Resolves when the daemon has stopped (by signal or the `stop` command). */
  whenStopped(): Promise<void> {
    return this.stopped;
  }

  /** Bans of the store that are still running, by jail. Unexpired bans come back before any line is read. */
  private storedBans(jails: readonly JailConfig[]): Map<string, BanColumns> {
    if (this.store === null) return new Map();
    // Only action.d scripts read a ban's matched lines (JailRuntime's keepDetails); others drop them.
    const matches = !this.options.dryRun && jails.some((j) => j.actions.some((a) => nativeAction(a.name) === null));
    return this.store.activeBanColumns(this.now(), { matches });
  }

  private async probeBackends(jails: readonly JailConfig[]): Promise<void> {
    if (this.options.dryRun) return;
    const names = new Set<BackendName>();
    for (const jail of jails) {
      for (const action of jail.actions) {
        const native = nativeAction(action.name);
        if (native) names.add(native.backend);
      }
    }
    for (const name of names) {
      const support = await probeFirewall(name, this.options.firewallRunner);
      // Decided once, when the shared backend is first made: its sets keep their type across reloads.
      if (support?.sets === 'hash' && !this.backends.has('nftables') && this.nftFallback === null) {
        this.nftFallback = support.reason;
        this.log.log('server', 'WARNING', `nftables: ${hashFallbackMessage(support.reason)}`);
      }
    }
  }

  private backend(name: BackendName): Firewall {
    let fw = this.backends.get(name);
    if (fw === undefined) {
      fw = createBackend(name, {
        runner: this.options.firewallRunner,
        nftSets: this.nftFallback === null ? 'interval' : 'hash',
        write: (line) => this.log.log('actions', 'INFO', line),
        warn: (line) => this.log.log('actions', 'WARNING', line),
      });
      this.backends.set(name, fw);
    }
    return fw;
  }

  private actionsFor(jail: JailConfig): JailAction[] {
    const env = this.options.env ?? process.env;
    if (this.options.dryRun) {
      return [{ firewall: this.backend('log'), target: firewallJail(jail, jail.actions[0], env) }];
    }
    return jail.actions.map((action) => {
      const native = nativeAction(action.name);
      // Native backends are shared by every jail (one nftables table); an action.d script is per jail.
      const firewall = native ? this.backend(native.backend) : firewallFor(action, { runner: this.options.firewallRunner });
      return { firewall, target: firewallJail(jail, action, env) };
    });
  }

  /**
   * Builds a jail's runtime: its filter compiles, its ignore list and actions are checked here, before
   * anything runs, so a broken jail fails start-up (or a reload) as a configuration error.
   */
  private createRuntime(jailConfig: JailConfig): JailRuntime {
    try {
      return new JailRuntime(jailConfig, {
        now: this.now,
        log: this.log,
        store: this.store,
        actions: this.actionsFor(jailConfig),
        selfAddresses: this.own.current(),
        isOwnAddress: (ip) => this.own.covers(ip),
        isGateway: (ip) => this.gateways.covers(ip),
        isOwnNetwork: (ip) => this.ownNetworks.covers(ip),
        runIgnoreCommand: runIgnoreCommand,
        pollIntervalMs: this.options.pollIntervalMs,
        counters: this.counters.jail(jailConfig.name),
        positions: this.store === null ? this.memory.positions(jailConfig.name) : undefined,
        cursors: this.store === null ? this.memory.cursors : undefined,
        history: this.store === null ? this.memoryHistory : undefined,
        onBans: (tickets) => this.fleet?.publishBans(tickets),
        onSooner: () => this.scheduleExpiry(),
        onActivity: () => this.trim.in(TRIM_MS),
        onUnbans: (jail, ips) => this.fleet?.publishUnbans(jail, ips),
      });
    } catch (err) {
      if (err instanceof UserError) throw err;
      if (err instanceof FilterError && jailConfig.filter) throw filterConfigError(jailConfig.filter, err);
      throw new UserError(`jail ${jailConfig.name}: ${(err as Error).message}`, ExitCode.config);
    }
  }

  private async startJail(runtime: JailRuntime, restored: readonly BanTicket[]): Promise<void> {
    this.runtimes.set(runtime.name, runtime);
    await runtime.start(restored);
    this.firewallChecks?.track(runtime);
  }

  private startTimers(): void {
    this.scheduleExpiry();
    this.trim.in(FIRST_TRIM_MS);
    this.scheduleNameRefresh();
    this.watchDatabaseFile();
    this.purging.in(PURGE_MS);
    // On the kernel's change notifications where the firewall can watch, else every checkIntervalMs.
    this.firewallChecks = new FirewallChecks(() => this.runtimes.values(), this.options.checkIntervalMs ?? 30_000, this.log);
    this.firewallChecks.start();
    this.purge();
  }

  private expire(): void {
    for (const runtime of this.runtimes.values()) runtime.expire();
    this.scheduleExpiry();
  }

  /** Arms the expiry alarm for the soonest deadline of any jail (one may have moved earlier). */
  private scheduleExpiry(): void {
    let soonest = Number.POSITIVE_INFINITY;
    for (const runtime of this.runtimes.values()) soonest = Math.min(soonest, runtime.nextDeadline());
    if (soonest !== Number.POSITIVE_INFINITY) this.expiry.at(soonest * 1000 + EXPIRY_SLACK_MS);
  }

  private scheduleNameRefresh(): void {
    this.names.cancel();
    if ([...this.runtimes.values()].some((r) => r.jail.ignore.names.length > 0)) this.names.in(IGNORE_DNS_MS);
  }

  private async refreshIgnoredNames(): Promise<void> {
    try {
      for (const runtime of this.runtimes.values()) await runtime.refreshIgnoredNames();
    } catch (err) {
      this.alarmFailed(err as Error);
    }
    this.scheduleNameRefresh();
  }

  /**
   * The database file is watched by a stat poll in libuv (no JavaScript runs while it stays the same file):
   * deleted or replaced, checkDatabaseFile() runs.
   */
  private watchDatabaseFile(): void {
    const path = this.store === null ? null : this.config.server.dbfile;
    if (path === null || path === ':memory:') return;
    this.watchedDatabase = path;
    watchFile(path, { interval: FLUSH_MS, persistent: false }, (now, before) => {
      if (now.ino !== before.ino) this.checkDatabaseFile();
    });
  }

  /** A database file deleted under the daemon is recreated; the admin is told once, in the log and in `status`. */
  private checkDatabaseFile(): void {
    const warning = this.store?.recreateIfDeleted() ?? null;
    // Not recreated yet (or just recreated): looked at again until it stays there.
    if (warning !== null) this.databaseRetry.in(FLUSH_MS);
    if (warning === null || this.storeProblems.includes(warning)) return;
    this.log.log('database', 'WARNING', warning);
    this.storeProblems.push(warning);
  }

  private purge(): void {
    if (this.store === null) return;
    const result = this.store.purge(this.now(), this.config.server.dbpurgeage);
    if (result.bans + result.bips > 0) {
      this.log.log('database', 'INFO', `Purged ${result.bans} old ban(s) and ${result.bips} outdated last-ban row(s)`);
    }
  }

  private writePidFile(): void {
    const path = this.config.server.pidfile;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${process.pid}\n`);
      this.pidFileWritten = true;
    } catch (err) {
      this.log.log('server', 'WARNING', `cannot write the pid file ${path}: ${(err as Error).message}`);
    }
  }

  /** Stops reading, closes the socket, removes rules (unless kept) and flushes the store. Idempotent. */
  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.log('server', 'INFO', 'Shutdown in progress...');
      for (const alarm of [this.expiry, this.flushing, this.trim, this.names, this.purging, this.databaseRetry]) alarm.cancel();
      if (this.watchedDatabase !== null) unwatchFile(this.watchedDatabase);
      this.firewallChecks?.stop();
      await this.control?.close();
      await this.metricsServer?.close();
      await this.policyServers?.close();
      for (const runtime of this.runtimes.values()) {
        await runtime.stop({ keepRules: this.options.keepRulesOnStop ?? false });
      }
      await this.fleet?.stop();
      if (this.store?.flush() === false && this.store.pendingWrites > 0) {
        // Never silent: these writes, acknowledged bans among them, go with the process.
        this.log.log('database', 'ERROR', `${this.store.pendingWrites} database write(s) still pending at exit: ${this.store.degraded}`);
      }
      this.store?.close();
      await this.lock?.release();
      // A server that refused to start (another one runs) must not remove that one's pid file.
      if (this.pidFileWritten) rmSync(this.config.server.pidfile, { force: true });
      this.log.log('server', 'INFO', 'Exiting portcullis');
      this.log.close();
      this.resolveStopped();
    })();
    return this.stopping;
  }

  // ---- ControlHandler ------------------------------------------------------------------------------

  version(): string {
    return FAIL2BAN_VERSION;
  }

  fleetStatus(): FleetStatus | null {
    return this.fleet?.status() ?? null;
  }

  jailNames(): readonly string[] {
    return [...this.runtimes.keys()];
  }

  private runtime(jail: string): JailRuntime {
    const runtime = this.runtimes.get(jail);
    if (runtime === undefined) throw new ControlError('unknown-jail', `Sorry but the jail '${jail}' does not exist`, { jail });
    return runtime;
  }

  jailStatus(jail: string): JailStatus {
    const runtime = this.runtime(jail);
    const status = runtime.jail.status();
    const problems = [...runtime.firewallProblems(), ...runtime.clientProblems()];
    if (this.nftFallback !== null && runtime.config.actions.some((a) => nativeAction(a.name)?.backend === 'nftables')) {
      problems.push(`nftables: ${hashFallbackMessage(this.nftFallback)}`);
    }
    if (this.store?.degraded) problems.push(`database: ${this.store.degraded}`);
    for (const p of this.storeProblems) problems.push(`database: ${p}`);
    problems.push(...(jailProblems(this.config).get(jail) ?? []));
    return { ...status, files: runtime.fileList, problems };
  }

  async ban(jail: string, ips: readonly string[], force = false): Promise<number> {
    await this.settled();
    return this.runtime(jail).ban(ips, force);
  }

  async unban(ips: readonly string[] | 'all', jail: string | undefined): Promise<JailCount[]> {
    await this.settled();
    const targets = jail === undefined ? [...this.runtimes.values()] : [this.runtime(jail)];
    const counts: JailCount[] = [];
    const failures: string[] = [];
    for (const runtime of targets) {
      try {
        counts.push({ jail: runtime.name, count: await runtime.unban(ips) });
      } catch (err) {
        if (!(err instanceof ControlError)) throw err;
        counts.push({ jail: runtime.name, count: err.detail.count ?? 0 });
        failures.push(err.message);
      }
    }
    if (failures.length > 0) throw new ControlError('failed', failures.join('; '));
    return counts;
  }

  banned(): JailBans[] {
    return [...this.runtimes.values()].map((r) => ({ jail: r.name, ips: r.jail.status().bannedIps }));
  }

  /**
   * `reload [JAIL]`, as Fail2Ban does it: the configuration is read and every jail in it built (filters
   * compiled, actions resolved) before anything running is touched, so a configuration that does not
   * load leaves everything as it was. Then jails gone from it stop, new ones start, changed ones (or all,
   * with `restart`) are rebuilt with their bans carried over, and unchanged ones keep running untouched:
   * their failure counts and read positions survive. One reload at a time; bans and unbans wait for it.
   */
  reload(only: string | undefined, options: ReloadOptions = {}): Promise<void> {
    if (this.stopping !== null) return Promise.reject(new ControlError('failed', 'the server is shutting down'));
    if (this.reloading !== null) return Promise.reject(new ControlError('failed', 'Reload already in progress'));
    const run = this.reloadNow(only, options).finally(() => {
      this.reloading = null;
    });
    this.reloading = run;
    return run;
  }

  /** SIGHUP: the same reload as the control command, refused the same way while one runs. */
  hangup(): void {
    if (this.control === null) {
      // Still starting: the jails being started already read the configuration just now.
      this.log.log('server', 'WARNING', 'SIGHUP received during start-up: ignored');
      return;
    }
    this.log.log('server', 'INFO', 'SIGHUP received: reloading the configuration');
    this.reload(undefined).catch((err: Error) => this.log.log('server', 'ERROR', `reload on SIGHUP: ${err.message}`));
  }

  /** Waits for a running reload, so a ban or unban never lands on a jail that is being replaced. */
  private async settled(): Promise<void> {
    while (this.reloading !== null) await this.reloading.catch(() => {});
  }

  private async restartPrevious(old: JailRuntime): Promise<void> {
    try {
      await this.startJail(old, []);
      this.log.log('server', 'WARNING', `jail '${old.name}' keeps its previous configuration`);
    } catch (err) {
      this.runtimes.delete(old.name);
      this.log.log('server', 'ERROR', `jail '${old.name}' is stopped; its bans stay in the database: ${(err as Error).message}`);
    }
  }

  private async reloadNow(only: string | undefined, options: ReloadOptions): Promise<void> {
    const restart = options.restart === true;
    let next: Config;
    let wanted: Map<string, JailConfig>;
    let names: string[];
    let fresh: Map<string, JailRuntime>;
    try {
      next = Daemon.readConfig(this.options);
      wanted = new Map(next.jails.map((j) => [j.name, j]));
      if (only !== undefined && !wanted.has(only) && !this.runtimes.has(only)) {
        throw new ControlError('unknown-jail', `Sorry but the jail '${only}' does not exist`, { jail: only });
      }
      names = only !== undefined ? [only] : [...new Set([...this.runtimes.keys(), ...wanted.keys()])];
      const rebuilt = names.filter((n) => {
        const config = wanted.get(n);
        const old = this.runtimes.get(n);
        return config !== undefined && (restart || old === undefined || !sameJail(old.config, config));
      });
      await this.lockFirewall(rebuilt.map((n) => wanted.get(n)!));
      await this.probeBackends(rebuilt.map((n) => wanted.get(n)!));
      // Every new or changed jail is built before any running one is touched.
      fresh = new Map(rebuilt.map((n) => [n, this.createRuntime(wanted.get(n)!)] as const));
    } catch (err) {
      if (err instanceof ControlError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      this.log.log('server', 'ERROR', `reload failed, keeping the running configuration: ${message}`);
      const config = err instanceof UserError && err.exitCode === ExitCode.config;
      throw new ControlError(config ? 'config' : 'failed', `reload failed, the running configuration is kept: ${message}`);
    }
    this.log.log('server', 'INFO', only === undefined ? 'Reload all jails' : `Reload jail '${only}'`);
    if (options.unban === true) {
      // `reload --unban`: the reloaded jails start from no bans (the database forgets them too).
      for (const name of names) {
        await this.runtimes
          .get(name)
          ?.unban('all')
          .catch((err: Error) => this.log.log('server', 'ERROR', `reload --unban: ${err.message}`));
      }
    }
    const restored = this.storedBans(next.jails);
    for (const name of names) {
      const old = this.runtimes.get(name);
      const replacement = fresh.get(name);
      if (old !== undefined && replacement === undefined) {
        if (wanted.has(name)) {
          // Unchanged: keeps its counts, positions and bans; only names in ignoreip are looked up again.
          await old.refreshIgnoredNames();
          continue;
        }
        await old.stop();
        this.runtimes.delete(name);
        continue;
      }
      if (replacement === undefined) continue;
      const columns = restored.get(name);
      let carried: readonly BanTicket[] = columns ? storedBans(name, columns) : [];
      if (old !== undefined) {
        carried = old.jail.bans.list();
        const sameRules = sameTargets(old.config, replacement.config, this.actionsFor.bind(this));
        await old.stop({ keepRules: sameRules });
        this.runtimes.delete(name);
        // Fail2Ban reconfigures a changed jail in place, so its failures count on; `--restart` starts afresh.
        if (!restart) replacement.jail.failures.adopt(old.jail.failures);
      }
      try {
        await this.startJail(replacement, carried);
        if (old !== undefined && replacement.firewallStartError !== null) {
          await replacement.stop();
          throw new Error(replacement.firewallStartError);
        }
        // A changed jail is reconfigured in place by Fail2Ban and keeps its totals; `--restart` makes a new one.
        if (old !== undefined && !restart) {
          replacement.jail.bans.resumeTotal(old.jail.bans.total);
          replacement.jail.failures.resumeTotal(old.jail.failures.total);
        }
      } catch (err) {
        this.runtimes.delete(name);
        this.log.log('server', 'ERROR', `jail '${name}' could not start after the reload: ${(err as Error).message}`);
        // The host must not be left without the jail: the previous one runs again, with its bans.
        if (old !== undefined) await this.restartPrevious(old);
      }
    }
    if (only === undefined) {
      this.log.setLevel(parseLogLevel(next.server.loglevel));
      this.log.setTarget(next.server.logtarget);
      this.config = { ...next, server: { ...next.server, socket: this.config.server.socket } };
    } else {
      // The reloaded jail keeps its place in the order (a new one goes last), so `banned` does not change order.
      const known = this.config.jails.some((j) => j.name === only);
      const jails = this.config.jails
        .flatMap((j) => (j.name !== only ? [j] : wanted.has(only) ? [wanted.get(only)!] : []))
        .concat(!known && wanted.has(only) ? [wanted.get(only)!] : []);
      this.config = { ...this.config, jails };
    }
    this.warnMissingLogs();
    // A rebuilt jail was re-added at the end of the map; jails answer in configuration order, as at start
    // (Fail2Ban's jail order does not change on reload, so neither does `banned`'s or `status`'s).
    const order = this.config.jails.map((j) => j.name);
    const sorted = [...this.runtimes].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
    this.runtimes.clear();
    for (const [name, runtime] of sorted) this.runtimes.set(name, runtime);
    this.scheduleExpiry();
    this.scheduleNameRefresh();
    this.log.log('server', 'INFO', 'Reload finished.');
  }

  stop(): void {
    void this.shutdown();
  }

  get(jail: string, key: JailKey): number | string[] {
    const c = this.runtime(jail).config;
    switch (key) {
      case 'bantime':
        return c.bantime;
      case 'findtime':
        return c.findtime;
      case 'maxretry':
        return c.maxretry;
      case 'maxmatches':
        return c.maxmatches;
      case 'ignoreip':
        return c.ignoreip;
      case 'logpath':
        return this.runtime(jail).fileList;
      case 'actions':
        return c.actions.map((a) => a.name);
    }
  }

  getLogLevel(): string {
    return this.log.currentLevel;
  }

  setLogLevel(level: string): string {
    let parsed: ReturnType<typeof parseLogLevel>;
    try {
      parsed = parseLogLevel(level);
    } catch (err) {
      throw new ControlError('invalid-argument', (err as Error).message);
    }
    this.log.setLevel(parsed);
    return parsed;
  }

  serverSetting(key: ServerKey): string | number | null {
    const server = this.config.server;
    const noDb = server.dbfile === 'None' || server.dbfile === '';
    switch (key) {
      case 'logtarget':
        return this.log.currentTarget;
      case 'syslogsocket':
        return 'auto';
      case 'dbfile':
        return noDb ? null : server.dbfile;
      case 'dbpurgeage':
        return noDb ? null : server.dbpurgeage;
      case 'dbmaxmatches':
        return noDb ? null : server.dbmaxmatches;
    }
  }

  banTimes(jail: string): BanTime[] {
    return this.runtime(jail).jail.bans.list().map((t) => ({ ip: t.ip, time: t.time, bantime: t.bantime }));
  }

  jailBackend(jail: string): string {
    const backend = this.runtime(jail).config.backend;
    // `auto` resolves as on a host with pyinotify: portcullis always follows files by notification.
    return backend === 'auto' ? 'pyinotify' : backend;
  }

  flushLogs(): 'rolled over' | 'flushed' {
    return this.log.flush();
  }
}

/** True when a jail's configuration did not change: a reload leaves such a jail running untouched. */
function sameJail(a: JailConfig, b: JailConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** True when a reloaded jail keeps the same firewall objects, so its kernel rules can stay in place. */
function sameTargets(a: JailConfig, b: JailConfig, actionsFor: (j: JailConfig) => JailAction[]): boolean {
  const describe = (j: JailConfig) => JSON.stringify(actionsFor(j).map((x) => [x.firewall.name, x.target]));
  try {
    return describe(a) === describe(b);
  } catch {
    return false;
  }
}

/**
 * `ignorecommand` is admin-written shell, so it runs through /bin/sh; the only value put into it is
 * the address, which the jail has already validated and canonicalised (digits, dots, colons, hex).
 */
function runIgnoreCommand(command: string, ip: string): Promise<boolean> {
  if (!/^[0-9a-fA-F.:/]+$/.test(ip)) return Promise.resolve(false);
  const script = substituteTags(command, { ip });
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', script], { timeout: 10_000 }, (err) => resolve(err === null));
  });
}
