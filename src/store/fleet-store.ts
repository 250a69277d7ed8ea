// The fleet's durable state (src/fleet), in the ban database but on a connection of its own and in
// tables of its own (created if missing), so the ban schema and its migrations stay as they are:
// the stream read position, the messages waiting for Redis to come back, and the origin of bans
// received from other nodes.
import type { Database as Db } from 'better-sqlite3';
import { makeDurable, openDatabase } from './database.js';

/** What src/fleet needs kept; FleetSqliteStore here, a Map-backed one when there is no database. */
export interface FleetState {
  /** The last stream ID applied, '0' before the first. */
  position(): string;
  setPosition(id: string): void;
  /** Messages (stream fields) waiting for Redis, oldest first. */
  queued(limit: number): Array<{ seq: number; fields: Record<string, string> }>;
  queue(messages: ReadonlyArray<Record<string, string>>): void;
  dequeue(seqs: readonly number[]): void;
  queuedCount(): number;
  /** Records that the ban of `ip` in `jail` came from node `origin`. */
  markOrigin(jail: string, ip: string, origin: string, start: number): void;
  origin(jail: string, ip: string): string | null;
  close(): void;
}

export class FleetSqliteStore implements FleetState {
  readonly #db: Db;
  readonly #stmt;

  constructor(path: string) {
    this.#db = makeDurable(openDatabase(path));
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS fleet_state(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS fleet_outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, fields TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS fleet_origin(jail TEXT NOT NULL, ip TEXT NOT NULL, origin TEXT NOT NULL,
        timeofban INTEGER NOT NULL, PRIMARY KEY(jail, ip)) WITHOUT ROWID;`);
    const db = this.#db;
    this.#stmt = {
      get: db.prepare<[string], { value: string }>('SELECT value FROM fleet_state WHERE key = ?'),
      set: db.prepare('INSERT INTO fleet_state(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      queued: db.prepare<[number], { seq: number; fields: string }>('SELECT seq, fields FROM fleet_outbox ORDER BY seq LIMIT ?'),
      queue: db.prepare('INSERT INTO fleet_outbox(fields) VALUES(?)'),
      dequeue: db.prepare('DELETE FROM fleet_outbox WHERE seq = ?'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM fleet_outbox'),
      mark: db.prepare(
        'INSERT INTO fleet_origin(jail, ip, origin, timeofban) VALUES(?, ?, ?, ?) ON CONFLICT(jail, ip) DO UPDATE SET origin = excluded.origin, timeofban = excluded.timeofban',
      ),
      origin: db.prepare<[string, string], { origin: string }>('SELECT origin FROM fleet_origin WHERE jail = ? AND ip = ?'),
    };
  }

  position(): string {
    return this.#stmt.get.get('position')?.value ?? '0';
  }

  setPosition(id: string): void {
    this.#stmt.set.run('position', id);
  }

  queued(limit: number): Array<{ seq: number; fields: Record<string, string> }> {
    return this.#stmt.queued.all(limit).map((r) => ({ seq: r.seq, fields: JSON.parse(r.fields) as Record<string, string> }));
  }

  queue(messages: ReadonlyArray<Record<string, string>>): void {
    this.#db.transaction(() => {
      for (const m of messages) this.#stmt.queue.run(JSON.stringify(m));
    })();
  }

  dequeue(seqs: readonly number[]): void {
    this.#db.transaction(() => {
      for (const s of seqs) this.#stmt.dequeue.run(s);
    })();
  }

  queuedCount(): number {
    return this.#stmt.count.get()?.n ?? 0;
  }

  markOrigin(jail: string, ip: string, origin: string, start: number): void {
    this.#stmt.mark.run(jail, ip, origin, start);
  }

  origin(jail: string, ip: string): string | null {
    return this.#stmt.origin.get(jail, ip)?.origin ?? null;
  }

  close(): void {
    this.#db.close();
  }
}

/** The same in memory (`dbfile = None` or `:memory:`): nothing survives a restart. */
export class FleetMemoryStore implements FleetState {
  #position = '0';
  #seq = 0;
  readonly #outbox: Array<{ seq: number; fields: Record<string, string> }> = [];
  readonly #origins = new Map<string, string>();

  position(): string {
    return this.#position;
  }
  setPosition(id: string): void {
    this.#position = id;
  }
  queued(limit: number): Array<{ seq: number; fields: Record<string, string> }> {
    return this.#outbox.slice(0, limit);
  }
  queue(messages: ReadonlyArray<Record<string, string>>): void {
    for (const fields of messages) this.#outbox.push({ seq: ++this.#seq, fields: { ...fields } });
  }
  dequeue(seqs: readonly number[]): void {
    const gone = new Set(seqs);
    for (let i = this.#outbox.length - 1; i >= 0; i--) if (gone.has(this.#outbox[i]!.seq)) this.#outbox.splice(i, 1);
  }
  queuedCount(): number {
    return this.#outbox.length;
  }
  markOrigin(jail: string, ip: string, origin: string): void {
    this.#origins.set(`${jail}\0${ip}`, origin);
  }
  origin(jail: string, ip: string): string | null {
    return this.#origins.get(`${jail}\0${ip}`) ?? null;
  }
  close(): void {}
}
