// Where a log file was read to: the shape sources/ resumes from and store/ persists (a leaf, so that
// neither imports the other).

/**
 * Where a file was read to. `offset` is always just past a newline (never inside a line), so a resumed
 * read starts on a line boundary.
 */
export interface FilePosition {
  dev: number;
  ino: number;
  /** Bytes of the file already delivered and acknowledged. */
  offset: number;
  /**
   * SHA-1 (hex) of the file's first line including its `\n`, as Fail2Ban stores it in `logs.firstlinemd5`;
   * `''` while the first line is incomplete. A file replaced under the same name (even with a reused
   * inode) has another first line, so its saved offset is not trusted.
   */
  firstLineHash: string;
}
