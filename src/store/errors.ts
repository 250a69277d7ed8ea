// SQLite and file-system errors turned into one line that says what failed, where, and how to fix it.
import { ExitCode, UserError } from '../errors.js';

/** The `code` of a Node or SQLite error, or ''. */
export function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * True for failures of the storage underneath (read-only file or disk, disk full, I/O error, locked by
 * another process): the store degrades and the daemon keeps banning in memory. Anything else is a bug.
 */
export function isStorageFailure(err: unknown): boolean {
  return /^SQLITE_(READONLY|FULL|IOERR|CANTOPEN|BUSY|LOCKED|CORRUPT|NOTADB|PERM|AUTH|NOLFS|PROTOCOL)/.test(errorCode(err));
}

/** A one-line description of a storage failure at run time, for logs and `status`. */
export function describeStorageFailure(path: string, err: unknown): string {
  const code = errorCode(err);
  if (code.startsWith('SQLITE_READONLY')) return `database ${path} is read-only: make the file and its directory writable`;
  if (code.startsWith('SQLITE_CANTOPEN')) return `database ${path} cannot be opened for writing: make the file, its directory and its file system writable`;
  if (code === 'SQLITE_FULL') return `database ${path}: disk full; free space on its file system`;
  if (code.startsWith('SQLITE_IOERR')) return `database ${path}: I/O error (${messageOf(err)}); check the disk and file system`;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return `database ${path} is locked by another process; stop the other portcullis or fail2ban using it`;
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return `database ${path} is corrupt; move it aside (bans start empty) or restore a backup`;
  }
  return `database ${path}: ${messageOf(err)}`;
}

/** The error to throw when the database cannot be opened at all. */
export function openError(path: string, err: unknown): UserError {
  const code = errorCode(err);
  const msg = messageOf(err);
  if (code === 'ENOENT' || /directory does not exist/i.test(msg)) {
    return new UserError(`cannot open database ${path}: its directory does not exist; create it or set dbfile in fail2ban.local`, ExitCode.environment);
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'EACCES' || code === 'SQLITE_PERM') {
    return new UserError(
      `cannot open database ${path}: ${msg}; check that the file and its directory exist and are writable, or set dbfile in fail2ban.local`,
      ExitCode.environment,
    );
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new UserError(`cannot open database ${path}: not a database or corrupt; move it aside (bans start empty) or restore a backup`, ExitCode.environment);
  }
  return new UserError(`cannot open database ${path}: ${describeStorageFailure(path, err)}`, ExitCode.environment);
}
