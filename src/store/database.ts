// Every SQLite connection is opened here, naming better-sqlite3's compiled module (nativeBinding).
// Without it, better-sqlite3 asks the `bindings` package, which finds the module by walking its caller's
// stack to a package root and trying a dozen paths there: at the daemon's start that search was most of
// its path arithmetic (enough to make node's path functions hot, and a single optimised function makes
// ~3 MB of node's compiler resident), and from a bundle (scripts/bundle.mjs) it would search beside the
// bundle instead of in better-sqlite3's package.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';

let binding: string | undefined;

/** better-sqlite3's compiled module, where its install puts it (prebuilt or node-gyp --release). */
export function nativeBinding(): string {
  binding ??= join(dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
  return binding;
}

export function openDatabase(path: string, options: Database.Options = {}): Database.Database {
  return new Database(path, { ...options, nativeBinding: nativeBinding() });
}

/**
 * A connection that writes durably: WAL with synchronous=FULL, so every committed transaction is fsynced
 * and survives kill -9 and power loss (see sqlite-store.ts). Returns `db`.
 */
export function makeDurable(db: Database.Database): Database.Database {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  return db;
}
