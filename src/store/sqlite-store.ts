// Persistence in SQLite (better-sqlite3, synchronous by design: a ban is on disk before the call
// returns). Durability: WAL with synchronous=FULL, so every committed transaction is fsynced to the WAL
// and survives a crash of the process (kill -9) and of the machine (power loss); synchronous=NORMAL in
// WAL mode may lose the last transactions on power loss. To keep throughput, callers batch: addBans()
// writes many bans in one transaction (one fsync), and file positions and journal cursors are buffered
// and written with the next ban write or flush() (the daemon flushes FLUSH_MS after `onBuffered` and at exit).
//
// The store never takes the daemon down. When the disk is read-only, full or failing, writes are kept
// in a queue that drops nothing, `degraded` says why, and the next write (or flush()) tries again. A
// database file deleted while running is recreated from the open connection (recreateIfDeleted()).
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database as Db, Statement } from 'better-sqlite3';
import { makeDurable, openDatabase } from './database.js';
import { UserError, ExitCode } from '../errors.js';
import type { BanDatabase } from './fail2ban-db.js';
import { describeStorageFailure, isStorageFailure, openError } from './errors.js';
import { migrate, SCHEMA_VERSION } from './schema.js';
import type { FilePosition, LastBan, PositionStore, PurgeResult, StoredBan } from './types.js';

export interface StoreOptions {
  /** `dbmaxmatches`: matched lines kept per ban (default 10, as Fail2Ban). */
  maxMatches?: number;
  /** Called when the store becomes degraded (a message) or recovers (null). */
  onDegraded?: (message: string | null) => void;
  /** Called when something waits for flush(): a buffered position or cursor, a write the disk refused. */
  onBuffered?: () => void;
}

/** Fail2Ban's outDatedFactor: a last-ban row outlives its ban by this many bantimes before purge. */
const OUTDATED_FACTOR = 3;

type Row = [ip: string, jail: string, time: number, bantime: number, banCount: number, failures: number, matches: string | null];

/** A ban read back from the database; its matched lines are parsed only if someone asks for them. */
/** Shared by every restored ban without matches: asking for them allocates nothing. */
const NO_MATCHES: readonly string[] = Object.freeze([]);

/** One jail's active bans, ban i at index i of every array; `matches` (JSON texts) only when asked for. */
export interface BanColumns {
  ip: string[];
  time: number[];
  bantime: number[];
  banCount: number[];
  failures: number[];
  matches: Array<string | null> | null;
}

const ACTIVE_COLUMNS =
  'SELECT jail, json_group_array(ip), json_group_array(timeofban), json_group_array(bantime), json_group_array(bancount), json_group_array(failures)';
const ACTIVE_BY_JAIL = 'FROM bips WHERE bantime < 0 OR timeofban + bantime > ? GROUP BY jail';

/** The bans of one jail's columns, oldest first. */
export function storedBans(jail: string, c: BanColumns): StoredBan[] {
  const out: StoredBan[] = new Array(c.ip.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = new RestoredBan(c.ip[i] as string, jail, c.time[i] as number, c.bantime[i] as number, c.banCount[i] as number, c.failures[i] as number, c.matches?.[i] ?? null);
  }
  return out.sort((a, b) => a.time - b.time);
}

class RestoredBan implements StoredBan {
  #matches: readonly string[] | string | null;
  constructor(
    readonly ip: string,
    readonly jail: string,
    readonly time: number,
    readonly bantime: number,
    readonly banCount: number,
    readonly failures: number,
    matches: string | null,
  ) {
    this.#matches = matches;
  }

  get matches(): readonly string[] {
    const m = this.#matches;
    if (typeof m !== 'string' || m === '[]') return m === null || m === '[]' ? NO_MATCHES : m;
    const parsed = parseMatches(m);
    this.#matches = parsed;
    return parsed;
  }
}

export class SqliteStore implements PositionStore {
  readonly path: string;
  #db: Db;
  readonly #maxMatches: number;
  readonly #onDegraded: ((message: string | null) => void) | undefined;
  readonly #onBuffered: (() => void) | undefined;
  #stmt: ReturnType<typeof prepare>;
  readonly #positions = new Map<string, { jail: string; path: string; position: FilePosition }>();
  readonly #cursors = new Map<string, string>();
  #pending: Array<() => void> = [];
  #degraded: string | null = null;
  /** The inode opened, to notice the file being deleted under us; null in memory. */
  #ino: number | null;

  private constructor(path: string, db: Db, options: StoreOptions, degraded: string | null) {
    this.path = path;
    this.#db = db;
    this.#ino = inodeOf(path);
    this.#maxMatches = options.maxMatches ?? 10;
    this.#onDegraded = options.onDegraded;
    this.#onBuffered = options.onBuffered;
    this.#stmt = prepare(db);
    this.#degraded = degraded;
  }

  /**
   * Opens (creating or migrating) the database at `path`. Throws a UserError with a one-line fix when it
   * cannot be opened or read at all; a database that can be read but not written opens degraded, so
   * its bans can still be restored.
   */
  static open(path: string, options: StoreOptions = {}): SqliteStore {
    if (path !== ':memory:' && !existsSync(dirname(path))) throw openError(path, Object.assign(new Error(''), { code: 'ENOENT' }));
    let store: SqliteStore;
    try {
      store = SqliteStore.#openWritable(path, options);
    } catch (err) {
      if (err instanceof UserError || !isStorageFailure(err) || !existsSync(path)) throw toUserError(path, err);
      // Unwritable file or file system: restore what is there, queue what comes (degraded).
      store = SqliteStore.#openReadOnly(path, options, describeStorageFailure(path, err));
    }
    if (store.degraded !== null) options.onDegraded?.(store.degraded);
    return store;
  }

  static #openWritable(path: string, options: StoreOptions): SqliteStore {
    const db = openDatabase(path);
    try {
      checkOwnership(db, path);
      makeDurable(db);
      migrate(db);
      return new SqliteStore(path, db, options, null);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  static #openReadOnly(path: string, options: StoreOptions, degraded: string): SqliteStore {
    let db: Db;
    try {
      db = openDatabase(path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw toUserError(path, err);
    }
    try {
      checkOwnership(db, path);
      const version = db.pragma('user_version', { simple: true });
      if (version !== SCHEMA_VERSION) {
        throw new UserError(`database ${path} is read-only and needs a schema upgrade (version ${version} → ${SCHEMA_VERSION}); make it writable`, ExitCode.environment);
      }
      return new SqliteStore(path, db, options, degraded);
    } catch (err) {
      db.close();
      throw toUserError(path, err);
    }
  }

  /** Why writes are failing (one line), or null when the store is healthy. */
  get degraded(): string | null {
    return this.#degraded;
  }

  /** Writes waiting for the storage to come back. */
  get pendingWrites(): number {
    return this.#pending.length;
  }

  /** Records bans (history + last ban per ip/jail) in one transaction. False when only queued. */
  addBans(bans: readonly StoredBan[]): boolean {
    if (bans.length === 0 && this.#positions.size === 0 && this.#cursors.size === 0) return this.#degraded === null;
    const rows = bans.map((b) => [b.jail, b.ip, b.time, b.bantime, b.banCount, b.failures, this.#matchesJson(b)] as const);
    return this.#write(() => {
      for (const r of rows) {
        this.#stmt.insertBan.run(...r);
        this.#stmt.upsertBip.run(...r);
      }
    });
  }

  addBan(ban: StoredBan): boolean {
    return this.addBans([ban]);
  }

  /**
   * Records running bans made longer (failures went on while banned): the last-ban row only, so a
   * restart restores the longer ban; the history keeps one row per ban, as Fail2Ban's does.
   */
  extendBans(bans: readonly StoredBan[]): boolean {
    if (bans.length === 0) return this.#degraded === null;
    const rows = bans.map((b) => [b.jail, b.ip, b.time, b.bantime, b.banCount, b.failures, this.#matchesJson(b)] as const);
    return this.#write(() => {
      for (const r of rows) this.#stmt.upsertBip.run(...r);
    });
  }

  /**
   * Forgets a ban lifted by hand (`unbanip`), history included, as Fail2Ban does: a manual unban also
   * resets bantime.increment for that IP. Expired bans need no call: their rows stay as the history
   * bantime.increment reads, until dbpurgeage purges them.
   */
  removeBan(jail: string, ip: string): boolean {
    return this.removeBans(jail, [ip]);
  }

  /** removeBan() for many addresses of one jail in one transaction. */
  removeBans(jail: string, ips: readonly string[]): boolean {
    if (ips.length === 0) return this.#degraded === null;
    return this.#write(() => {
      for (const ip of ips) {
        this.#stmt.deleteBip.run(jail, ip);
        this.#stmt.deleteBans.run(jail, ip);
      }
    });
  }

  /** Forgets every ban of one jail, or of all jails (`unban --all`). */
  removeAllBans(jail?: string): boolean {
    return this.#write(() => {
      if (jail === undefined) this.#db.exec('DELETE FROM bips; DELETE FROM bans;');
      else {
        this.#stmt.deleteJailBips.run(jail);
        this.#stmt.deleteJailBans.run(jail);
      }
    });
  }

  /**
   * Every ban not over by `now` (permanent included), by jail, as parallel arrays: what to restore at
   * start. SQLite builds one JSON array per jail and column, which JSON.parse reads in one step: a row
   * per ban costs ~1.3 us through better-sqlite3 and leaves 100,000s of arrays to collect (100,000
   * bans: 130-190 ms and most of start-up's GC, against 50-70 ms). `matches: false` leaves the matched
   * lines in the file (they read as none): jails whose actions never read them drop them anyway, and
   * with 100,000 bans of 10 lines each they are most of what would be read.
   */
  activeBanColumns(now: number, options: { matches?: boolean } = {}): Map<string, BanColumns> {
    const query = options.matches === false ? this.#stmt.activeNoMatches : this.#stmt.active;
    const rows = this.#read(() => query.all(now) as Array<[string, string, string, string, string, string, string | null]>, []);
    const byJail = new Map<string, BanColumns>();
    for (const [jail, ip, time, bantime, banCount, failures, matches] of rows) {
      byJail.set(jail, {
        ip: JSON.parse(ip),
        time: JSON.parse(time),
        bantime: JSON.parse(bantime),
        banCount: JSON.parse(banCount),
        failures: JSON.parse(failures),
        matches: matches === null ? null : JSON.parse(matches),
      });
    }
    return byJail;
  }

  /**
   * The addresses of activeBanColumns() alone, by jail: what start-up writes to the firewall first,
   * while it reads the rest (25 ms for 100,000 bans, against 50-120 ms for every column).
   */
  activeAddresses(now: number): Map<string, string[]> {
    const rows = this.#read(() => this.#stmt.activeAddresses.all(now) as Array<[string, string]>, []);
    return new Map(rows.map(([jail, ips]) => [jail, JSON.parse(ips) as string[]]));
  }

  /** Every ban not over by `now`, oldest first (see activeBanColumns). */
  activeBans(now: number, options: { matches?: boolean } = {}): StoredBan[] {
    return [...this.activeBanColumns(now, options)].flatMap(([jail, columns]) => storedBans(jail, columns)).sort((a, b) => a.time - b.time);
  }

  /** Earlier bans of `ip` in `jail`, or summed over all jails when jail is null (bantime.overalljails). */
  previousBans(ip: string, jail: string | null): number {
    return this.#read(() => {
      const v = jail === null ? this.#stmt.countAll.get(ip) : this.#stmt.countJail.get(ip, jail);
      return Number(v ?? 0);
    }, 0);
  }

  /**
   * The last ban of `ip` in `jail` (its bips row), or over all jails (counts summed, latest time) when
   * jail is null: for bantime.increment and the weighting of known offenders' failures.
   */
  lastBan(ip: string, jail: string | null): LastBan | null {
    const row = this.#read(
      () => (jail === null ? this.#stmt.lastBanAll.get(ip) : this.#stmt.lastBan.get(ip, jail)) as [number | null, number | null] | undefined,
      undefined,
    );
    return row === undefined || row[0] === null || row[1] === null ? null : { banCount: row[0], time: row[1] };
  }

  /**
   * Fail2Ban's purge: history older than `purgeAge` goes; a last-ban row goes once its ban is more than
   * 3 × its bantime past and older than `purgeAge`; permanent bans stay.
   */
  purge(now: number, purgeAge: number): PurgeResult {
    const cutoff = now - purgeAge;
    let result: PurgeResult = { bans: 0, bips: 0 };
    this.#write(() => {
      const bans = this.#stmt.purgeBans.run(cutoff).changes;
      const bips = this.#stmt.purgeBips.run(cutoff, OUTDATED_FACTOR, cutoff).changes;
      result = { bans, bips };
    });
    return result;
  }

  getFilePosition(jail: string, path: string): FilePosition | null {
    const buffered = this.#positions.get(key(jail, path));
    if (buffered !== undefined) return { ...buffered.position };
    const row = this.#read(() => this.#stmt.getPos.get(jail, path) as [number, number, number, string] | undefined, undefined);
    return row === undefined ? null : { dev: row[0], ino: row[1], offset: row[2], firstLineHash: row[3] };
  }

  /** Buffered: written with the next ban write, flush() or close(). */
  setFilePosition(jail: string, path: string, position: FilePosition): void {
    this.#positions.set(key(jail, path), { jail, path, position: { ...position } });
    this.#onBuffered?.();
  }

  getJournalCursor(jail: string): string | null {
    const buffered = this.#cursors.get(jail);
    if (buffered !== undefined) return buffered;
    const row = this.#read(() => this.#stmt.getCursor.get(jail) as string | undefined, undefined);
    return row ?? null;
  }

  /** Buffered like file positions. */
  setJournalCursor(jail: string, cursor: string): void {
    this.#cursors.set(jail, cursor);
    this.#onBuffered?.();
  }

  /** Writes buffered positions and retries queued writes. True when everything is on disk. */
  flush(): boolean {
    return this.#write(() => {});
  }

  /**
   * Flushes, then closes. The file is left in rollback-journal mode (WAL folded in) so that it can be
   * read where it cannot be written — a read-only mount, a backup copy; open() turns WAL back on.
   */
  close(): void {
    this.flush();
    try {
      if (!this.#db.readonly) this.#db.pragma('journal_mode = DELETE');
    } catch {
      // Still in WAL mode: harmless, the next open reads it the same.
    }
    this.#db.close();
  }

  /**
   * The database file deleted while running (an admin cleaning up, a volume re-created): our writes would
   * go to a file nobody can see, and the next start would find no bans. Everything the open connection
   * still holds is copied into a new file at the same path, and the store carries on there. Returns a
   * warning when it did so or could not yet (it is retried on the next call), else null.
   */
  recreateIfDeleted(): string | null {
    if (this.#ino === null || inodeOf(this.path) !== null) return null;
    const building = `${this.path}.recreating`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      rmSync(building, { force: true });
      this.#db.prepare('VACUUM INTO ?').run(building);
      const bans = Number(this.#db.prepare('SELECT count(*) FROM bips').pluck().get());
      renameSync(building, this.path);
      const db = makeDurable(openDatabase(this.path, { fileMustExist: true }));
      this.#db.close();
      this.#db = db;
      this.#stmt = prepare(db);
      this.#ino = inodeOf(this.path);
      return `database ${this.path} was deleted while running; recreated it with its ${bans} last-ban record(s)`;
    } catch (err) {
      rmSync(building, { force: true });
      // Not `degraded`: writes still succeed (into the deleted file), and the next call tries again.
      return `database ${this.path} was deleted while running and cannot be recreated yet (${describeStorageFailure(this.path, err)}); retrying`;
    }
  }

  /**
   * Adds another database's content as it is (history rows to `bans`, last bans to `bips`, read positions
   * to `logs`), in one transaction: a migration from Fail2Ban. Throws on failure; nothing is queued.
   */
  importDatabase(content: BanDatabase): void {
    const row = (b: StoredBan) => [b.jail, b.ip, b.time, b.bantime, b.banCount, b.failures, this.#matchesJson(b)] as const;
    const columns = '(jail, ip, timeofban, bantime, bancount, failures, matches) VALUES (?, ?, ?, ?, ?, ?, ?)';
    const history = this.#db.prepare(`INSERT INTO bans${columns}`);
    const last = this.#db.prepare(`INSERT OR REPLACE INTO bips${columns}`);
    this.#db.transaction(() => {
      for (const b of content.bans) history.run(...row(b));
      for (const b of content.bips) last.run(...row(b));
      for (const l of content.logs) this.#stmt.setPos.run(l.jail, l.path, l.hash, l.offset, 0, 0);
    }).immediate();
  }

  /** Everything stored, for an export to Fail2Ban's format (read positions only where the first line is known). */
  exportDatabase(): BanDatabase {
    const bans = (table: string) =>
      (this.#db.prepare(`SELECT ip, jail, timeofban, bantime, bancount, failures, matches FROM ${table} ORDER BY timeofban`).raw().all() as Row[]).map(
        (r) => new RestoredBan(r[0], r[1], r[2], r[3], r[4], r[5], r[6]),
      );
    const logs = (this.#db.prepare("SELECT jail, path, firstlinehash, lastfilepos FROM logs WHERE firstlinehash != ''").raw().all() as Array<[string, string, string, number]>).map(
      ([jail, path, hash, offset]) => ({ jail, path, hash, offset }),
    );
    return { bips: bans('bips'), bans: bans('bans'), logs };
  }

  #matchesJson(ban: StoredBan): string | null {
    const matches = this.#maxMatches > 0 ? ban.matches.slice(-this.#maxMatches) : [];
    return matches.length > 0 ? JSON.stringify(matches) : null;
  }

  /**
   * A database opened read-only (its file system was read-only at start) is reopened for writing as soon
   * as that works again, so the queued bans get written; false while it still cannot be.
   */
  #reopenWritable(): boolean {
    let db: Db | null = null;
    try {
      db = openDatabase(this.path, { fileMustExist: true });
      // SQLite quietly opens read-only where it cannot write; that is not the connection we want.
      if (db.readonly) throw new Error('still read-only');
      makeDurable(db);
    } catch {
      db?.close();
      return false;
    }
    this.#db.close();
    this.#db = db;
    this.#stmt = prepare(db);
    return true;
  }

  /** Runs `op` (with queued writes and buffered positions) in one transaction; queues it on failure. */
  #write(op: () => void): boolean {
    // Never dropped: an acknowledged ban stays queued until the storage takes it. The queue holds no
    // more than the bans made while degraded, which the jails hold in memory anyway.
    this.#pending.push(op);
    if (this.#db.readonly && !this.#reopenWritable()) {
      this.#setDegraded(this.#degraded ?? `database ${this.path} is read-only`);
      this.#onBuffered?.();
      return false;
    }
    const positions = [...this.#positions.values()];
    const cursors = [...this.#cursors];
    try {
      this.#db.transaction(() => {
        for (const p of positions) {
          this.#stmt.setPos.run(p.jail, p.path, p.position.firstLineHash, p.position.offset, p.position.dev, p.position.ino);
        }
        for (const [jail, cursor] of cursors) this.#stmt.setCursor.run(jail, cursor);
        for (const pending of this.#pending) pending();
      }).immediate();
    } catch (err) {
      if (!isStorageFailure(err)) {
        this.#pending.pop();
        throw err;
      }
      this.#setDegraded(describeStorageFailure(this.path, err));
      this.#onBuffered?.();
      return false;
    }
    this.#pending = [];
    for (const p of positions) {
      if (this.#positions.get(key(p.jail, p.path)) === p) this.#positions.delete(key(p.jail, p.path));
    }
    for (const [jail, cursor] of cursors) if (this.#cursors.get(jail) === cursor) this.#cursors.delete(jail);
    this.#setDegraded(null);
    return true;
  }

  #read<T>(op: () => T, fallback: T): T {
    try {
      return op();
    } catch (err) {
      if (!isStorageFailure(err)) throw err;
      this.#setDegraded(describeStorageFailure(this.path, err));
      return fallback;
    }
  }

  #setDegraded(message: string | null): void {
    if (message === this.#degraded) return;
    this.#degraded = message;
    this.#onDegraded?.(message);
  }
}

function prepare(db: Db) {
  const raw = (sql: string): Statement => db.prepare(sql).raw();
  const pluck = (sql: string): Statement => db.prepare(sql).pluck();
  return {
    insertBan: db.prepare('INSERT INTO bans(jail, ip, timeofban, bantime, bancount, failures, matches) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    upsertBip: db.prepare(
      'INSERT OR REPLACE INTO bips(jail, ip, timeofban, bantime, bancount, failures, matches) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteBip: db.prepare('DELETE FROM bips WHERE jail = ? AND ip = ?'),
    deleteBans: db.prepare('DELETE FROM bans WHERE jail = ? AND ip = ?'),
    deleteJailBips: db.prepare('DELETE FROM bips WHERE jail = ?'),
    deleteJailBans: db.prepare('DELETE FROM bans WHERE jail = ?'),
    active: raw(`${ACTIVE_COLUMNS}, json_group_array(matches) ${ACTIVE_BY_JAIL}`),
    activeNoMatches: raw(`${ACTIVE_COLUMNS}, NULL ${ACTIVE_BY_JAIL}`),
    activeAddresses: raw(`SELECT jail, json_group_array(ip) ${ACTIVE_BY_JAIL}`),
    countJail: pluck('SELECT bancount FROM bips WHERE ip = ? AND jail = ?'),
    countAll: pluck('SELECT sum(bancount) FROM bips WHERE ip = ?'),
    lastBan: raw('SELECT bancount, timeofban FROM bips WHERE ip = ? AND jail = ?'),
    lastBanAll: raw('SELECT sum(bancount), max(timeofban) FROM bips WHERE ip = ?'),
    purgeBans: db.prepare('DELETE FROM bans WHERE timeofban < ?'),
    purgeBips: db.prepare('DELETE FROM bips WHERE timeofban < ? AND bantime >= 0 AND timeofban + bantime * ? < ?'),
    getPos: raw('SELECT dev, ino, lastfilepos, firstlinehash FROM logs WHERE jail = ? AND path = ?'),
    setPos: db.prepare('INSERT OR REPLACE INTO logs(jail, path, firstlinehash, lastfilepos, dev, ino) VALUES (?, ?, ?, ?, ?, ?)'),
    getCursor: pluck('SELECT cursor FROM journal WHERE jail = ?'),
    setCursor: db.prepare('INSERT OR REPLACE INTO journal(jail, cursor) VALUES (?, ?)'),
  };
}

/** Refuses a Fail2Ban database or any foreign one, instead of adding our tables to it. */
function checkOwnership(db: Db, path: string): void {
  if (db.pragma('user_version', { simple: true }) !== 0) return;
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
  if (tables.includes('fail2banDb')) {
    throw new UserError(
      `database ${path} is a Fail2Ban database; import its bans with: portcullis import-fail2ban-db ${path} --db NEWFILE`,
      ExitCode.environment,
    );
  }
  if (tables.length > 0) {
    throw new UserError(`database ${path} is not a portcullis database (it has tables ${tables.join(', ')}); set another dbfile`, ExitCode.environment);
  }
}

function toUserError(path: string, err: unknown): UserError {
  if (err instanceof UserError) return err;
  if (err instanceof Error && /newer than this portcullis/.test(err.message)) return new UserError(`database ${path}: ${err.message}`, ExitCode.environment);
  return openError(path, err);
}

function inodeOf(path: string): number | null {
  if (path === ':memory:') return null;
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

function key(jail: string, path: string): string {
  return `${jail}\0${path}`;
}

function parseMatches(json: string): string[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((m): m is string => typeof m === 'string') : [];
  } catch {
    return [];
  }
}
