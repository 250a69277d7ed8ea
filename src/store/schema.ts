// The database schema as an ordered list of migrations; `PRAGMA user_version` records how many ran.
// A migration is never edited once released: a change is a new entry at the end.
import type { Database } from 'better-sqlite3';

/** Each entry upgrades from version (index) to version (index + 1). */
export const MIGRATIONS: readonly string[] = [
  // 1: bans (history, for purge), bips (the last ban per ip and jail: what is restored at start, and
  // the ban count for bantime.increment), logs (read positions). `matches` is a JSON array or NULL.
  `CREATE TABLE bans(
     jail TEXT NOT NULL, ip TEXT NOT NULL, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL,
     bancount INTEGER NOT NULL DEFAULT 1, failures INTEGER NOT NULL DEFAULT 0, matches TEXT);
   CREATE INDEX bans_timeofban ON bans(timeofban);
   CREATE INDEX bans_ip_jail ON bans(ip, jail);
   CREATE TABLE bips(
     ip TEXT NOT NULL, jail TEXT NOT NULL, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL,
     bancount INTEGER NOT NULL DEFAULT 1, failures INTEGER NOT NULL DEFAULT 0, matches TEXT,
     UNIQUE(ip, jail));
   CREATE INDEX bips_timeofban ON bips(timeofban);
   CREATE TABLE logs(
     jail TEXT NOT NULL, path TEXT NOT NULL, firstlinehash TEXT NOT NULL, lastfilepos INTEGER NOT NULL,
     PRIMARY KEY(jail, path)) WITHOUT ROWID;`,
  // 2: device and inode next to a file position (detect rotation without reading the file), and
  // journal cursors for backend = systemd.
  `ALTER TABLE logs ADD COLUMN dev INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE logs ADD COLUMN ino INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE journal(jail TEXT PRIMARY KEY NOT NULL, cursor TEXT NOT NULL) WITHOUT ROWID;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema up to `target` (default: the newest), each step in its own transaction so a crash
 * mid-way leaves a consistent older version. Returns the version found before migrating.
 * Throws a plain Error for a database newer than this program; the caller words it for the user.
 */
export function migrate(db: Database, target = SCHEMA_VERSION): number {
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found > SCHEMA_VERSION) {
    throw new Error(`schema version ${found} is newer than this portcullis understands (${SCHEMA_VERSION}); upgrade portcullis`);
  }
  for (let v = found; v < target; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] ?? '');
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return found;
}
