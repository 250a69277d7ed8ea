// `portcullis import-fail2ban-db FILE [--db OURFILE] [-c DIR]`: carries the current bans of a Fail2Ban
// database over to portcullis's. When OURFILE is FILE itself (both configured as the same dbfile, as on
// docker-mailserver), the Fail2Ban file is kept beside it as FILE.fail2ban and ours takes its place.
import { existsSync, realpathSync, renameSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultConfigDir, loadConfig } from '../config/load.js';
import { ExitCode, UserError } from '../errors.js';
import { parseIp } from '../net/ip.js';
import { readFail2BanBans } from '../store/fail2ban-db.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { StoredBan } from '../store/types.js';

interface ImportFlags {
  db?: string;
  config?: string;
}

export interface ImportResult {
  imported: number;
  expired: number;
  invalid: number;
  /** Where the Fail2Ban file was moved to make room, or null. */
  movedTo: string | null;
}

export function register(program: Command): void {
  program
    .command('import-fail2ban-db')
    .description("import the current bans of Fail2Ban's database (schema version 4) into portcullis's")
    .argument('<file>', "Fail2Ban's dbfile, e.g. /var/lib/fail2ban/fail2ban.sqlite3")
    .option('--db <file>', "portcullis's database (default: dbfile from the configuration)")
    .option('-c, --config <dir>', 'Fail2Ban configuration tree')
    .action((file: string, flags: ImportFlags) => {
      const target = flags.db ?? configuredDbfile(flags.config);
      const r = importFail2BanDb(file, target, Date.now() / 1000);
      const moved = r.movedTo === null ? '' : ` (Fail2Ban's file kept as ${r.movedTo})`;
      process.stdout.write(
        `Imported ${r.imported} ban(s) from ${file} into ${target}; skipped ${r.expired} expired` +
          `${r.invalid > 0 ? ` and ${r.invalid} with an invalid address` : ''}${moved}\n`,
      );
    });
}

/** Imports every ban of `source` still running at `now` into the portcullis database `target`. */
export function importFail2BanDb(source: string, target: string, now: number): ImportResult {
  let from = source;
  let movedTo: string | null = null;
  if (existsSync(target) && existsSync(source) && realpathSync(target) === realpathSync(source)) {
    // Read first, so a file that is not a Fail2Ban database is reported and left where it is.
    readFail2BanBans(source);
    movedTo = `${source}.fail2ban`;
    if (existsSync(movedTo)) throw new UserError(`${movedTo} already exists; move it away or pass --db with another file`);
    renameSync(source, movedTo);
    from = movedTo;
  }
  const { bans } = readFail2BanBans(from);
  const keep: StoredBan[] = [];
  let expired = 0;
  let invalid = 0;
  for (const ban of bans) {
    const ip = parseIp(ban.ip);
    if (ip === null || ban.jail === '') invalid++;
    // bantime -2 is Fail2Ban's "unknown" (bans carried over from schema version 1): nothing to restore.
    else if (ban.bantime < -1 || (ban.bantime >= 0 && ban.time + ban.bantime <= now)) expired++;
    else keep.push(ip.text === ban.ip ? ban : { ...ban, ip: ip.text });
  }
  const store = SqliteStore.open(resolve(target));
  try {
    if (!store.addBans(keep)) throw new UserError(`${store.degraded}`, ExitCode.environment);
  } finally {
    store.close();
  }
  return { imported: keep.length, expired, invalid, movedTo };
}

function configuredDbfile(dir: string | undefined): string {
  const config = loadConfig({ dir: dir ?? defaultConfigDir() });
  const dbfile = config.server.dbfile;
  if (dbfile === '' || dbfile === ':memory:' || dbfile.toLowerCase() === 'none') {
    throw new UserError(`the configuration has no database file (dbfile = ${dbfile || 'empty'}); pass --db FILE`);
  }
  return dbfile;
}
