// Reads the bans of an existing Fail2Ban database (fail2ban.sqlite3, schema version 4) so that moving
// from Fail2Ban to portcullis keeps every current ban. Read-only: the Fail2Ban file is never modified.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ExitCode, UserError } from '../errors.js';
import { openError } from './errors.js';
import type { StoredBan } from './types.js';

export interface Fail2BanBans {
  /** Fail2Ban's schema version (fail2banDb.version). */
  version: number;
  /** The last ban of each ip and jail (Fail2Ban's `bips`), expired or not; the caller decides. */
  bans: StoredBan[];
}

/** Throws a UserError (one line, with the fix) when `path` is not a readable Fail2Ban v4 database. */
export function readFail2BanBans(path: string): Fail2BanBans {
  if (!existsSync(path)) throw new UserError(`${path}: no such file; give the path of Fail2Ban's dbfile (usually /var/lib/fail2ban/fail2ban.sqlite3)`);
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw openError(path, err);
  }
  try {
    const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    if (!tables.has('fail2banDb')) throw new UserError(`${path} is not a Fail2Ban database (no fail2banDb table)`, ExitCode.usage);
    const version = Number(db.prepare('SELECT version FROM fail2banDb LIMIT 1').pluck().get() ?? 0);
    if (version < 4 || !tables.has('bips')) {
      throw new UserError(
        `${path} is a Fail2Ban database of schema version ${version}; only version 4 (Fail2Ban 0.11 and later) can be imported: start fail2ban 0.11+ on it once to upgrade it`,
        ExitCode.usage,
      );
    }
    const rows = db.prepare('SELECT ip, jail, timeofban, bantime, bancount, data FROM bips ORDER BY timeofban').raw().all() as Array<
      [unknown, unknown, unknown, unknown, unknown, unknown]
    >;
    const bans: StoredBan[] = rows.map(([ip, jail, time, bantime, banCount, data]) => {
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
    });
    return { version, bans };
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw openError(path, err);
  } finally {
    db.close();
  }
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
