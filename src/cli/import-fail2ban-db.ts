// The way in and the way back between Fail2Ban's database and portcullis's:
//   portcullis import-fail2ban-db FILE [--db OURFILE] [-c DIR]
//   portcullis export-fail2ban-db [FILE | --in-place] [--db OURFILE] [-c DIR]
// The daemon migrates a Fail2Ban database found at its dbfile by itself at start; import is for a file
// elsewhere. Export writes every ban, the ban history and the log positions in Fail2Ban's schema
// (version 4, read by Fail2Ban 0.11 to 1.1); --in-place swaps it in for ours, which is kept beside it.
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultConfigDir, loadConfig } from '../config/load.js';
import { UserError } from '../errors.js';
import { refuseLiveServer } from '../server/control-server.js';
import { exportToFail2Ban, importFail2BanDb, migrateFail2BanDb } from '../store/open-store.js';

interface DbFlags {
  db?: string;
  socket?: string;
  config?: string;
  inPlace?: boolean;
}

export function register(program: Command): void {
  program
    .command('import-fail2ban-db')
    .description("import the bans, ban history and log positions of Fail2Ban's database (schema version 4) into portcullis's")
    .argument('<file>', "Fail2Ban's dbfile, e.g. /var/lib/fail2ban/fail2ban.sqlite3")
    .option('--db <file>', "portcullis's database (default: dbfile from the configuration)")
    .option('-c, --config <dir>', 'Fail2Ban configuration tree')
    .action((file: string, flags: DbFlags) => {
      const target = flags.db ?? configured(flags.config).dbfile;
      const now = Date.now() / 1000;
      const same = existsSync(target) && existsSync(file) && realpathSync(target) === realpathSync(file);
      const r = same ? migrateFail2BanDb(file, now) : { ...importFail2BanDb(file, target, now), backup: null };
      const invalid = r.invalid > 0 ? `; skipped ${r.invalid} with an invalid address` : '';
      const kept = r.backup === null ? '' : ` (Fail2Ban's file kept as ${r.backup})`;
      process.stdout.write(`Imported ${r.running} running ban(s) and ${r.history} ban record(s) from ${file} into ${target}${invalid}${kept}\n`);
    });

  program
    .command('export-fail2ban-db')
    .description("write portcullis's bans, ban history and log positions as a Fail2Ban database (schema version 4), to go back to Fail2Ban")
    .argument('[file]', 'the Fail2Ban database to write (must not exist)')
    .option('--in-place', "replace portcullis's database with the export (the server must be stopped); ours is kept beside it")
    .option('--db <file>', "portcullis's database (default: dbfile from the configuration)")
    .option('-c, --config <dir>', 'Fail2Ban configuration tree')
    .option('-s, --socket <path>', "the server's control socket, checked for --in-place (default from the configuration)")
    .action(async (file: string | undefined, flags: DbFlags) => {
      if ((file === undefined) === !flags.inPlace) throw new UserError('give either the file to write or --in-place; see portcullis export-fail2ban-db --help');
      const settings = flags.db === undefined || (flags.inPlace && flags.socket === undefined) ? configured(flags.config) : null;
      const source = resolve(flags.db ?? settings!.dbfile);
      if (!existsSync(source)) throw new UserError(`${source}: no such file; give portcullis's database with --db`);
      if (flags.inPlace) await refuseLiveServer(flags.socket ?? settings!.socket);
      const r = exportToFail2Ban(source, flags.inPlace ? source : resolve(file!), Date.now() / 1000);
      const kept = r.kept === null ? '' : `; portcullis's database kept as ${r.kept}`;
      process.stdout.write(`Exported ${r.running} running ban(s) and ${r.history} ban record(s) to ${flags.inPlace ? source : file} (Fail2Ban schema version 4)${kept}\n`);
    });
}

function configured(dir: string | undefined): { dbfile: string; socket: string } {
  const { server } = loadConfig({ dir: dir ?? defaultConfigDir() });
  if (server.dbfile === '' || server.dbfile === ':memory:' || server.dbfile.toLowerCase() === 'none') {
    throw new UserError(`the configuration has no database file (dbfile = ${server.dbfile || 'empty'}); pass --db FILE`);
  }
  return { dbfile: server.dbfile, socket: server.socket };
}
