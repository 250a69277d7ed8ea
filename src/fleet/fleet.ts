// One node's link to the fleet: publishes the bans this node makes (and admins' unbans) to a Redis
// stream, reads what the other nodes publish and hands it, verified, to the jail that takes it.
//
// - No loops: only bans made here are published (the jail's hook is not called for received bans),
//   and this node's own messages coming back from the stream are skipped.
// - Catch-up: the last stream ID applied is kept in the database; a restart, a partition or a Redis
//   restart continues from there, and a ban that ended meanwhile is not applied (the jail refuses it).
// - Redis down: local banning never waits for Redis. Messages go to the database's outbox and are sent,
//   oldest first, when the connection is back. A message sent twice (a reply lost with the connection)
//   is applied once: receivers remember what they applied.
// - Trimming: each XADD trims entries older than the longest bantime (MINID), so the stream stays bounded.
import { isIP } from 'node:net';
import { Redis } from 'ioredis';
import type { BanTicket } from '../jail/bans.js';
import type { FleetState } from '../store/fleet-store.js';
import { type FleetMessage, type SignedFields, sign, verify } from './message.js';
import { banOf, ticketOf } from './remaining.js';
import type { FleetSettings } from '../config/fleet-settings.js';

/** A running jail as the fleet sees it. */
export interface FleetJail {
  readonly name: string;
  /** Applies a ban of another node; false when this node does not ban it (ignored, over, already). */
  receive(ticket: BanTicket, origin: string): boolean;
  /** Lifts a ban an admin lifted on another node; false when it was not banned here. */
  receiveUnban(ip: string): boolean;
}

export interface FleetDeps {
  state: FleetState;
  /** Epoch seconds. */
  now: () => number;
  log: (level: 'INFO' | 'NOTICE' | 'WARNING' | 'ERROR', message: string) => void;
  /** The running jail of that name, if any. */
  jail: (name: string) => FleetJail | undefined;
  /** The longest bantime of the running jails, seconds; -1 when one is permanent. */
  retention: () => number;
}

export interface FleetStatus {
  redis: string;
  node: string;
  connected: boolean;
  /** Stream entries published by others not read yet (checked every few seconds). */
  behind: number;
  sent: number;
  received: number;
  applied: number;
  rejected: number;
  queued: number;
}

const READ_COUNT = 1000;
const BLOCK_MS = 2000;
const SEND_BATCH = 500;
/** Stream length cap when some jail bans forever (no age to trim by). */
const PERMANENT_MAXLEN = 1_000_000;
const SEEN_MAX = 100_000;
const LAG_CHECK_MS = 2000;
const LAG_MAX = 1000;
const POSITION_SAVE_MS = 1000;

export class Fleet {
  readonly counters = { sent: 0, received: 0, applied: 0, rejected: 0, behind: 0 };
  private readonly pub: Redis;
  private readonly sub: Redis;
  private connected = false;
  private stopped = false;
  private pending: SignedFields[] = [];
  private flushing: Promise<void> | null = null;
  private reading: Promise<void> | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  /** Messages applied lately (by content), so one sent twice is applied once. */
  private readonly seen = new Set<string>();
  private position: string;
  private rejectLogged = 0;
  private storeLogged = 0;
  private errorLogged = false;
  private savedPosition = '';
  private savedAt = 0;

  constructor(
    readonly settings: FleetSettings,
    private readonly deps: FleetDeps,
  ) {
    const r = settings.redis;
    const options = {
      host: r.host,
      port: r.port,
      path: r.path,
      username: r.username,
      password: r.password,
      db: r.db,
      // SNI takes a name only; for an address the certificate is checked against it all the same.
      tls: r.tls ? (r.host && isIP(r.host) === 0 ? { servername: r.host } : {}) : undefined,
      lazyConnect: true,
      // Commands fail at once while Redis is away: bans queue in the database instead of in memory.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
      connectTimeout: 3000,
    };
    this.pub = new Redis(options);
    this.sub = new Redis(options);
    this.position = this.stored(() => deps.state.position(), '0');
    this.pub.on('ready', () => {
      this.errorLogged = false;
      if (!this.connected) this.deps.log('NOTICE', `fleet: connected to ${r.display} as node ${settings.node}`);
      this.connected = true;
      this.kick();
    });
    this.pub.on('close', () => {
      if (this.connected && !this.stopped) this.deps.log('WARNING', `fleet: lost Redis at ${r.display}; bans are queued in the database until it is back`);
      this.connected = false;
    });
    // Reconnection is ioredis's; the first error of an outage says why (refused, TLS, AUTH), once.
    this.pub.on('error', (err: Error) => {
      if (this.errorLogged || this.stopped) return;
      this.errorLogged = true;
      this.deps.log('WARNING', `fleet: Redis at ${r.display}: ${err.message}; retrying`);
    });
    this.sub.on('error', () => {});
  }

  /** Starts connecting and reading; never waits for Redis (it may be down). */
  start(): void {
    // A failure is reported by the 'error' handler; ioredis keeps retrying.
    this.pub.connect().catch(() => {});
    this.sub.connect().catch(() => {});
    this.reading = this.readLoop();
    this.lagTimer = setInterval(() => void this.checkLag(), LAG_CHECK_MS);
    this.lagTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.lagTimer) clearInterval(this.lagTimer);
    await this.flushing;
    this.spill();
    this.sub.disconnect();
    this.pub.disconnect();
    await this.reading;
    this.savePosition(true);
    this.stored(() => this.deps.state.close(), undefined);
  }

  status(): FleetStatus {
    const { sent, received, applied, rejected, behind } = this.counters;
    return {
      redis: this.settings.redis.display,
      node: this.settings.node,
      connected: this.connected,
      behind,
      sent,
      received,
      applied,
      rejected,
      queued: this.pending.length + this.stored(() => this.deps.state.queuedCount(), 0),
    };
  }

  /** Bans made on this node (never call it for bans received from the fleet). */
  publishBans(tickets: readonly BanTicket[]): void {
    if (tickets.length === 0) return;
    for (const t of tickets) this.pending.push(sign(banOf(t, this.settings.node), this.settings.secret));
    this.kick();
  }

  /** Bans an admin lifted on this node. */
  publishUnbans(jail: string, ips: readonly string[]): void {
    const at = Math.floor(this.deps.now());
    for (const ip of ips) this.pending.push(sign({ kind: 'unban', origin: this.settings.node, jail, ip, at }, this.settings.secret));
    this.kick();
  }

  /** Moves what waits in memory to the database's outbox; kept in memory when the database fails. */
  private spill(): void {
    if (this.pending.length === 0) return;
    const messages = this.pending;
    const queued = this.stored(() => {
      this.deps.state.queue(messages);
      return true;
    }, false);
    if (queued) this.pending = [];
  }

  /**
   * The fleet's database work: a failing database (full, read-only) is logged, never thrown into the
   * daemon. The stream position then stays in memory, and unsent messages stay queued in memory.
   */
  private stored<T>(work: () => T, otherwise: T): T {
    try {
      return work();
    } catch (err) {
      if (this.storeLogged++ < 10) this.deps.log('ERROR', `fleet: database: ${(err as Error).message}`);
      return otherwise;
    }
  }

  private kick(): void {
    if (this.flushing !== null || this.stopped) return;
    this.flushing = this.flush()
      .catch((err: Error) => this.deps.log('ERROR', `fleet: publishing failed: ${err.message}`))
      .finally(() => {
      this.flushing = null;
      if (this.connected && this.pending.length > 0) this.kick();
    });
  }

  /** Sends the database's outbox, then what is in memory; on any failure, memory goes to the outbox. */
  private async flush(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // one batch for the bans of one tick
    const state = this.deps.state;
    while (true) {
      if (!this.connected) {
        this.spill();
        return;
      }
      const stored = this.stored(() => state.queued(SEND_BATCH), []);
      // Stored rows are what this node signed; the receivers verify them again.
      const batch = stored.length > 0 ? stored.map((r) => r.fields as SignedFields) : this.pending.slice(0, SEND_BATCH);
      if (batch.length === 0) return;
      try {
        await this.add(batch);
      } catch (err) {
        this.deps.log('WARNING', `fleet: publishing failed: ${(err as Error).message}; queued for retry`);
        this.spill();
        return;
      }
      // Not dequeued (the database failing): sent again later, and applied once by the receivers.
      if (stored.length > 0) this.stored(() => state.dequeue(stored.map((r) => r.seq)), undefined);
      else this.pending.splice(0, batch.length);
      this.counters.sent += batch.length;
    }
  }

  private async add(batch: readonly SignedFields[]): Promise<void> {
    const keep = this.deps.retention();
    const trim: string[] =
      // Exact MINID: each write removes only the few entries that just aged out, so it stays cheap.
      keep < 0 ? ['MAXLEN', '~', String(PERMANENT_MAXLEN)] : ['MINID', String(Math.max(0, Math.floor((this.deps.now() - keep) * 1000)))];
    const p = this.pub.pipeline();
    for (const f of batch) p.xadd(this.settings.stream, ...trim, '*', 'm', f.m, 's', f.s);
    const results = (await p.exec()) ?? [];
    const failed = results.find(([err]) => err !== null);
    if (failed) throw failed[0];
  }

  private async readLoop(): Promise<void> {
    while (!this.stopped) {
      try {
        const res = (await this.sub.xread('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', this.settings.stream, this.position)) as
          | Array<[string, Array<[string, string[]]>]>
          | null;
        if (res === null) continue;
        let last = this.position;
        let count = 0;
        for (const [, entries] of res) {
          for (const [id, flat] of entries) {
            this.handle(flat);
            last = id;
          }
          count += entries.length;
        }
        // A short read took everything there was: caught up (the periodic check counts a longer lag).
        if (count < READ_COUNT) this.counters.behind = 0;
        if (last !== this.position) {
          this.position = last;
          this.savePosition(false);
        }
      } catch {
        if (this.stopped) return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  /** One stream entry: verified, then applied unless it is this node's own or applied already. */
  handle(flat: readonly string[]): void {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    const checked = verify(fields, this.settings.secret);
    if (!checked.ok) {
      this.counters.rejected++;
      if (this.rejectLogged++ < 10) this.deps.log('WARNING', `fleet: dropped a message: ${checked.reason}`);
      return;
    }
    const message = checked.message;
    if (message.origin === this.settings.node) return;
    const key = identity(message);
    if (this.seen.has(key)) return;
    if (this.seen.size >= SEEN_MAX) this.seen.clear();
    this.seen.add(key);
    this.counters.received++;
    if (this.apply(message)) this.counters.applied++;
  }

  private apply(message: FleetMessage): boolean {
    const jail = this.deps.jail(message.jail) ?? this.deps.jail(this.settings.fallbackJail);
    if (jail === undefined) {
      this.deps.log('WARNING', `fleet: no jail ${message.jail} nor fallback jail ${this.settings.fallbackJail} here; ${message.kind} of ${message.ip} from ${message.origin} not applied`);
      return false;
    }
    if (message.kind === 'unban') return jail.receiveUnban(message.ip);
    const applied = jail.receive(ticketOf(message, jail.name), message.origin);
    if (applied) this.stored(() => this.deps.state.markOrigin(jail.name, message.ip, message.origin, message.start), undefined);
    return applied;
  }

  /**
   * Writes the read position at most once a second (and at stop): at 1,000 bans/s a write per read
   * would be an fsync per few bans. After a crash the last second is read again, and what it holds is
   * held already (restored from the database), so nothing is applied twice.
   */
  private savePosition(now: boolean): void {
    const at = performance.now();
    if (this.savedPosition === this.position || (!now && at - this.savedAt < POSITION_SAVE_MS)) return;
    const position = this.position;
    this.stored(() => this.deps.state.setPosition(position), undefined);
    this.savedPosition = position;
    this.savedAt = at;
  }

  /** Entries in the stream after this node's position (up to LAG_MAX). */
  private async checkLag(): Promise<void> {
    this.savePosition(false);
    if (!this.connected || this.stopped) return;
    try {
      const after = this.position === '0' ? '-' : `(${this.position}`;
      this.counters.behind = (await this.pub.xrange(this.settings.stream, after, '+', 'COUNT', LAG_MAX)).length;
    } catch {
      // The next check tries again.
    }
  }
}

/** What makes two messages the same: sent twice, it is applied once. */
export function identity(m: FleetMessage): string {
  return m.kind === 'ban' ? `b|${m.origin}|${m.jail}|${m.ip}|${m.start}|${m.end}` : `u|${m.origin}|${m.jail}|${m.ip}|${m.at}`;
}
