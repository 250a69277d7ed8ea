// Opening the daemon's database the way an existing install needs it opened: a Fail2Ban database found
// at the configured dbfile is migrated in place (its original kept beside it), and a corrupt file is
// moved aside as Fail2Ban does (`<dbfile>.YYYYMMDD-HHMMSS`) so the daemon starts with a fresh one
// instead of not at all. What happened is returned as log lines and `status` problems.
import { copyFileSync, existsSync, linkSync, realpathSync, renameSync, rmSync } from 'node:fs';
import type { Database as Db } from 'better-sqlite3';
import { openDatabase } from './database.js';
import { parseCidr } from '../net/ip.js';
import { errorCode } from './errors.js';
import { type BanDatabase, isFail2BanDb, readFail2BanDb, writeFail2BanDb } from './fail2ban-db.js';
import { SqliteStore, type StoreOptions } from './sqlite-store.js';
import type { StoredBan } from './types.js';

export interface OpenedStore {
  store: SqliteStore;
  /** Lines for the daemon log, each with its level. */
  log: Array<{ level: 'NOTICE' | 'ERROR'; message: string }>;
  /** Lasting problems for `status` (a database moved aside). */
  problems: string[];
}

/**
 * Opens `path` for the daemon. A Fail2Ban database that cannot be migrated (a read-only volume, a schema
 * older than version 4) or a corrupt file that cannot be moved aside does not stop the daemon either: it
 * runs on an in-memory database holding whatever bans could be read, and says so. Throws a UserError only
 * when `path` itself cannot be opened at all.
 */
export function openStore(path: string, options: StoreOptions = {}, now = Date.now() / 1000): OpenedStore {
  const log: OpenedStore['log'] = [];
  const problems: string[] = [];
  const fail = (message: string) => {
    log.push({ level: 'ERROR', message });
    problems.push(message);
  };
  if (path !== ':memory:' && existsSync(path)) {
    const kind = inspect(path);
    if (kind.corrupt !== null) {
      const aside = asideName(path, '', now);
      try {
        moveAside(path, aside);
      } catch (err) {
        fail(`database ${path} is corrupt (${kind.corrupt}) and cannot be moved aside (${(err as Error).message}); running on an in-memory database until it is fixed: bans are not kept over a restart`);
        return { store: SqliteStore.open(':memory:', options), log, problems };
      }
      fail(`database ${path} is corrupt (${kind.corrupt}); moved it aside to ${aside} and started a new one: the bans recorded in it cannot be restored from it`);
    } else if (kind.fail2ban) {
      try {
        const r = migrateFail2BanDb(path, now);
        log.push({
          level: 'NOTICE',
          message: `Migrated Fail2Ban database ${path}: ${r.running} running ban(s) and ${r.history} ban record(s) imported; the original is kept as ${r.backup} (to go back: portcullis export-fail2ban-db --in-place)`,
        });
      } catch (err) {
        const store = SqliteStore.open(':memory:', options);
        let restored = 0;
        try {
          const { content } = normalize(readFail2BanDb(path));
          store.importDatabase(content);
          restored = content.bips.filter((b) => running(b, now)).length;
        } catch {
          // unreadable: nothing to restore, which the message below says
        }
        fail(`cannot migrate Fail2Ban database ${path} (${(err as Error).message}); running on an in-memory database with its ${restored} running ban(s) until it can be: new bans are not kept over a restart`);
        return { store, log, problems };
      }
    }
  }
  return { store: SqliteStore.open(path, options), log, problems };
}

/** Corruption (with SQLite's reason) or a Fail2Ban database; an unreadable file is left for open() to report. */
function inspect(path: string): { corrupt: string | null; fail2ban: boolean } {
  let db: Db | undefined;
  try {
    db = openDatabase(path, { readonly: true, fileMustExist: true });
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') return { corrupt: String(check), fail2ban: false };
    return { corrupt: null, fail2ban: isFail2BanDb(db) };
  } catch (err) {
    const code = errorCode(err);
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return { corrupt: (err as Error).message, fail2ban: false };
    return { corrupt: null, fail2ban: false };
  } finally {
    db?.close();
  }
}

/** `<path><tag>.YYYYMMDD-HHMMSS` in UTC, as Fail2Ban names its backups; never an existing file. */
export function asideName(path: string, tag: string, now: number): string {
  const stamp = new Date(now * 1000).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  let name = `${path}${tag}.${stamp}`;
  for (let n = 1; existsSync(name); n++) name = `${path}${tag}.${stamp}.${n}`;
  return name;
}

/** Moves a database and its WAL companions out of the way. */
function moveAside(path: string, to: string): void {
  renameSync(path, to);
  for (const suffix of ['-wal', '-shm', '-journal']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, to + suffix);
  }
}

function removeDb(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true });
}

export interface MigrationResult {
  /** Bans still running at `now`. */
  running: number;
  /** Rows of ban history carried over (for bantime.increment). */
  history: number;
  /** Last-ban rows dropped because their address is not one (their history rows go too). */
  invalid: number;
  /** Where the Fail2Ban file is kept. */
  backup: string;
}

/**
 * Replaces the Fail2Ban database at `path` with a portcullis one holding the same bans, history and log
 * positions. Crash-safe: ours is built beside it, the original is hard-linked (or copied) to the backup
 * name, and only then does ours take its place in one rename; a crash before that rename leaves the
 * Fail2Ban file where it was, to be migrated again.
 */
export function migrateFail2BanDb(path: string, now: number): MigrationResult {
  const { content, invalid } = normalize(readFail2BanDb(path));
  const building = `${path}.migrating`;
  removeDb(building);
  try {
    const store = SqliteStore.open(building);
    try {
      store.importDatabase(content);
    } finally {
      store.close();
    }
  } catch (err) {
    removeDb(building);
    throw err;
  }
  const backup = asideName(path, '.fail2ban', now);
  try {
    linkSync(path, backup);
  } catch {
    copyFileSync(path, backup);
  }
  renameSync(building, path);
  return { running: content.bips.filter((b) => running(b, now)).length, history: content.bans.length, invalid, backup };
}

/** Imports a Fail2Ban database into the portcullis database `target` (created when missing). */
export function importFail2BanDb(source: string, target: string, now: number): Omit<MigrationResult, 'backup'> {
  const { content, invalid } = normalize(readFail2BanDb(source));
  const store = SqliteStore.open(target);
  try {
    store.importDatabase(content);
  } finally {
    store.close();
  }
  return { running: content.bips.filter((b) => running(b, now)).length, history: content.bans.length, invalid };
}

export interface ExportResult {
  running: number;
  history: number;
  /** Where our own database was kept (an in-place export), or null. */
  kept: string | null;
}

/**
 * Writes the portcullis database `source` as a Fail2Ban v4 database at `target`. When both are the same
 * file, ours is kept as `<path>.portcullis.YYYYMMDD-HHMMSS` and the Fail2Ban one takes its place (the
 * daemon must be stopped: the caller checks).
 */
export function exportToFail2Ban(source: string, target: string, now: number): ExportResult {
  const store = SqliteStore.open(source);
  let content: BanDatabase;
  try {
    content = store.exportDatabase();
  } finally {
    store.close();
  }
  const inPlace = target === source;
  const building = inPlace ? `${source}.exporting` : target;
  if (inPlace) removeDb(building);
  writeFail2BanDb(building, content);
  let kept: string | null = null;
  if (inPlace) {
    kept = asideName(source, '.portcullis', now);
    moveAside(source, kept);
    renameSync(building, target);
  }
  return { running: content.bips.filter((b) => running(b, now)).length, history: content.bans.length, kept };
}

function realPath(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

function running(b: StoredBan, now: number): boolean {
  return b.bantime === -1 || (b.bantime >= 0 && b.time + b.bantime > now);
}

/**
 * Canonical addresses and networks (Fail2Ban keeps what it was given, `2001:DB8::1` included); rows
 * whose address is not one are dropped. Fail2Ban's bantime -2 ("unknown", left by its schema upgrade
 * from 0.9) becomes an ended ban, whose ban count still counts.
 */
function normalize(db: BanDatabase): { content: BanDatabase; invalid: number } {
  let invalid = 0;
  const fix = (rows: StoredBan[]) =>
    rows.flatMap((b) => {
      const ip = parseCidr(b.ip)?.text;
      if (ip === undefined || b.jail === '') {
        invalid++;
        return [];
      }
      return [ip === b.ip && b.bantime >= -1 ? b : { ...b, ip, bantime: b.bantime < -1 ? 0 : b.bantime }];
    });
  const bips = fix(db.bips);
  const invalidBips = invalid;
  // Fail2Ban on docker-mailserver reads /var/log/mail.log, a link to /var/log/mail/mail.log, which is the
  // path portcullis's jails name: the position is kept under both, so no line is read twice.
  const logs = db.logs.flatMap((l) => {
    const real = realPath(l.path);
    return real === null || real === l.path ? [l] : [l, { ...l, path: real }];
  });
  return { content: { bips, bans: fix(db.bans), logs }, invalid: invalidBips };
}
