// What the rest of portcullis sees of persistence. The shapes match src/jail's BanTicket structurally,
// so a ticket can be stored and a stored ban restored without conversion.

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

/** Where a log source stopped reading (Fail2Ban's `logs` table, plus device and inode). Same shape as src/sources' FilePosition. */
export interface FilePosition {
  /** The file's device and inode when the offset was taken (0 when unknown). */
  dev: number;
  ino: number;
  /** Byte offset of the next unread byte. */
  offset: number;
  /**
   * A hash of the file's first line (hex). The source trusts `offset` only while the first line still
   * hashes the same; otherwise the file was replaced or rotated and is read from its start.
   */
  firstLineHash: string;
}

/** Read positions of log sources; implemented by the SQLite store and usable with a Map in tests. */
export interface PositionStore {
  getFilePosition(jail: string, path: string): FilePosition | null;
  setFilePosition(jail: string, path: string, position: FilePosition): void;
  getJournalCursor(jail: string): string | null;
  setJournalCursor(jail: string, cursor: string): void;
}

export interface PurgeResult {
  /** Ban history rows older than dbpurgeage. */
  bans: number;
  /** Last-ban-per-IP rows more than 3 × dbpurgeage out of date. */
  bips: number;
}
