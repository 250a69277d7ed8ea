// `portcullis doctor`: is the database file healthy and writable? Opens it beside a running daemon (WAL
// lets a reader and a short writer in), checks its pages, and proves a write is possible in a
// transaction that is rolled back, so nothing is left behind.
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database as Db } from 'better-sqlite3';
import { openDatabase } from './database.js';

/** One line saying what is wrong with the database at `path`, or null when it is healthy and writable. */
export function databaseProblem(path: string): string | null {
  if (!existsSync(path)) {
    try {
      accessSync(dirname(path), constants.W_OK);
      return null; // Not created yet: the first start creates it.
    } catch {
      return `${path} does not exist and its directory ${dirname(path)} is not writable`;
    }
  }
  let db: Db | null = null;
  try {
    db = openDatabase(path, { fileMustExist: true, timeout: 2000 });
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') return `${path} is damaged (quick_check: ${String(check)})`;
    if (db.readonly) return `${path} is read-only`;
    db.exec('BEGIN IMMEDIATE; CREATE TABLE portcullis_doctor_probe (x); ROLLBACK');
    return null;
  } catch (err) {
    return `${path}: ${(err as Error).message}`;
  } finally {
    db?.close();
  }
}
