// What the rest of portcullis sees of persistence. The shapes match src/jail's BanTicket structurally,
// so a ticket can be stored and a stored ban restored without conversion.
import type { FilePosition } from '../files/position.js';

export interface StoredBan {
  readonly ip: string;
  readonly jail: string;
  /** Epoch seconds the ban counts from. */
  readonly time: number;
  /** Seconds; -1 is permanent. */
  readonly bantime: number;
  /** 1 for a first ban, earlier bans + 1 after. */
  readonly banCount: number;
  readonly failures: number;
  /** Matched lines, oldest first; the store keeps the last `dbmaxmatches`. */
  readonly matches: readonly string[];
}

/** Where a log source stopped reading (Fail2Ban's `logs` table, plus device and inode): the sources' own shape. */
export type { FilePosition };

/** Read positions of log sources; implemented by the SQLite store and usable with a Map in tests. */
export interface PositionStore {
  getFilePosition(jail: string, path: string): FilePosition | null;
  setFilePosition(jail: string, path: string, position: FilePosition): void;
  getJournalCursor(jail: string): string | null;
  setJournalCursor(jail: string, cursor: string): void;
}

/** The last ban of an IP in one jail: its ban count and when it was made (src/jail's LastBan). */
export interface LastBan {
  banCount: number;
  time: number;
}

export interface PurgeResult {
  /** Ban history rows older than dbpurgeage. */
  bans: number;
  /** Last-ban-per-IP rows more than 3 × dbpurgeage out of date. */
  bips: number;
}
