// Fail2Ban's database file (fail2ban.sqlite3, schema version 4, Fail2Ban 0.11 to 1.1): read, to carry
// an install over to portcullis, and written, to carry it back. Its layout is an interface between the
// two programs: a version row, the jails, log read positions, the ban history (`bans`) and the last ban
// per address and jail (`bips`), each ban with a JSON `data` object holding `matches` and `failures`.
import { existsSync } from 'node:fs';
import type { Database as Db } from 'better-sqlite3';
import { openDatabase } from './database.js';
import { ExitCode, UserError } from '../errors.js';
import { openError } from './errors.js';
import type { StoredBan } from './types.js';

export const FAIL2BAN_SCHEMA_VERSION = 4;

/** A read position of one jail's log file; `hash` is the MD5 of its first line, as both programs compute it. */
export interface LogPosition {
  jail: string;
  path: string;
  hash: string;
  offset: number;
}

/** Everything one program's database holds that the other can use. */
export interface BanDatabase {
  /** The last ban of each address and jail, expired or not: restored while running, counted by bantime.increment. */
  bips: StoredBan[];
  /** Every ban recorded, oldest first (history; purged after dbpurgeage). */
  bans: StoredBan[];
  logs: LogPosition[];
}

/** True when the open database is Fail2Ban's (it has the `fail2banDb` version table and none of our schema). */
export function isFail2BanDb(db: Db): boolean {
  if (db.pragma('user_version', { simple: true }) !== 0) return false;
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fail2banDb'").pluck().get() !== undefined;
}

/** Reads a Fail2Ban v4 database; throws a UserError (one line, with the fix) for anything else. */
export function readFail2BanDb(path: string): BanDatabase {
  if (!existsSync(path)) throw new UserError(`${path}: no such file; give the path of Fail2Ban's dbfile (usually /var/lib/fail2ban/fail2ban.sqlite3)`);
  let db: Db;
  try {
    db = openDatabase(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw openError(path, err);
  }
  try {
    const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    if (!tables.has('fail2banDb')) throw new UserError(`${path} is not a Fail2Ban database (no fail2banDb table)`, ExitCode.usage);
    const version = Number(db.prepare('SELECT version FROM fail2banDb LIMIT 1').pluck().get() ?? 0);
    if (version !== FAIL2BAN_SCHEMA_VERSION || !tables.has('bips')) {
      throw new UserError(
        `${path} is a Fail2Ban database of schema version ${version}; only version 4 (Fail2Ban 0.11 to 1.1) can be imported: start that Fail2Ban on it once to upgrade it`,
        ExitCode.usage,
      );
    }
    const read = (table: string) =>
      (db.prepare(`SELECT ip, jail, timeofban, bantime, bancount, data FROM ${table} ORDER BY timeofban`).raw().all() as unknown[][]).map(toBan);
    const logs = tables.has('logs')
      ? (db.prepare('SELECT jail, path, firstlinemd5, lastfilepos FROM logs').raw().all() as unknown[][]).map(
          ([jail, path, hash, offset]): LogPosition => ({ jail: String(jail), path: String(path ?? ''), hash: String(hash ?? ''), offset: Number(offset) || 0 }),
        )
      : [];
    return { bips: read('bips'), bans: tables.has('bans') ? read('bans') : [], logs };
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw openError(path, err);
  } finally {
    db.close();
  }
}

function toBan([ip, jail, time, bantime, banCount, data]: unknown[]): StoredBan {
  const parsed = parseData(data);
  return {
    ip: String(ip),
    jail: String(jail),
    time: Number(time),
    bantime: Number(bantime),
    banCount: Number(banCount) || 1,
    failures: parsed.failures,
    matches: parsed.matches,
  };
}

/** Fail2Ban's `data` column: JSON like {"matches": [...], "failures": 5} (Python stores it as a BLOB), possibly NULL or junk. */
function parseData(data: unknown): { failures: number; matches: string[] } {
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : data;
  if (typeof text !== 'string') return { failures: 0, matches: [] };
  try {
    const v = JSON.parse(text) as { failures?: unknown; matches?: unknown };
    return {
      failures: typeof v.failures === 'number' ? v.failures : 0,
      matches: Array.isArray(v.matches) ? v.matches.filter((m): m is string => typeof m === 'string') : [],
    };
  } catch {
    return { failures: 0, matches: [] };
  }
}

// The v4 layout Fail2Ban expects to find (it checks only the version row, then queries these columns).
const FAIL2BAN_V4 = `
  CREATE TABLE fail2banDb(version INTEGER);
  CREATE TABLE jails(name TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL DEFAULT 1);
  CREATE TABLE logs(jail TEXT NOT NULL, path TEXT, firstlinemd5 TEXT, lastfilepos INTEGER DEFAULT 0,
    FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE, UNIQUE(jail, path), UNIQUE(jail, path, firstlinemd5));
  CREATE INDEX logs_path ON logs(path);
  CREATE INDEX logs_jail_path ON logs(jail, path);
  CREATE TABLE bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL,
    bancount INTEGER NOT NULL DEFAULT 1, data JSON, FOREIGN KEY(jail) REFERENCES jails(name));
  CREATE INDEX bans_jail_timeofban_ip ON bans(jail, timeofban);
  CREATE INDEX bans_jail_ip ON bans(jail, ip);
  CREATE INDEX bans_ip ON bans(ip);
  CREATE TABLE bips(ip TEXT NOT NULL, jail TEXT NOT NULL, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL,
    bancount INTEGER NOT NULL DEFAULT 1, data JSON, PRIMARY KEY(ip, jail), FOREIGN KEY(jail) REFERENCES jails(name));
  CREATE INDEX bips_timeofban ON bips(timeofban);
  CREATE INDEX bips_ip ON bips(ip);`;

/** Writes `content` as a new Fail2Ban v4 database at `path` (which must not exist), in one transaction. */
export function writeFail2BanDb(path: string, content: BanDatabase): void {
  if (existsSync(path)) throw new UserError(`${path} already exists; give a new file name`);
  const db = openDatabase(path);
  try {
    db.transaction(() => {
      db.exec(FAIL2BAN_V4);
      db.prepare('INSERT INTO fail2banDb(version) VALUES (?)').run(FAIL2BAN_SCHEMA_VERSION);
      const jails = new Set([...content.bips, ...content.bans, ...content.logs].map((r) => r.jail));
      const addJail = db.prepare('INSERT INTO jails(name, enabled) VALUES (?, 1)');
      for (const jail of jails) addJail.run(jail);
      const addLog = db.prepare('INSERT OR REPLACE INTO logs(jail, path, firstlinemd5, lastfilepos) VALUES (?, ?, ?, ?)');
      for (const l of content.logs) addLog.run(l.jail, l.path, l.hash === '' ? null : l.hash, l.offset);
      for (const [table, rows] of [['bans', content.bans], ['bips', content.bips]] as const) {
        const add = db.prepare(`INSERT OR REPLACE INTO ${table}(jail, ip, timeofban, bantime, bancount, data) VALUES (?, ?, ?, ?, ?, ?)`);
        for (const b of rows) add.run(b.jail, b.ip, Math.round(b.time), b.bantime, b.banCount, JSON.stringify({ matches: b.matches, failures: b.failures }));
      }
    })();
  } finally {
    db.close();
  }
}
