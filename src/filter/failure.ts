// What the filter hands to a jail: one failed attempt by one party at one time.

export interface Failure {
  /**
   * Who failed: a canonical IP address (IPv4-mapped IPv6 folded to IPv4; `addr/prefix` for `<SUBNET>`),
   * a host name as written (`kind: 'dns'`), or a failure id (`<F-ID>`, `kind: 'id'`).
   */
  ip: string;
  kind: 'ip' | 'dns' | 'id';
  /** Epoch seconds (fractions kept where the log has them and the template keeps them). */
  time: number;
  /** Captured named groups (`user`, `ip4`, …) that matched, by their lower-case Fail2Ban names. */
  fields: Record<string, string>;
  /** Index of the failregex that matched. */
  regex: number;
  /** Log lines that make up this failure (more than one when a multi-line id collected several). */
  lines: number;
  /** Every user seen on the same multi-line connection (`<F-MLFID>`), when more than one was tried. */
  users?: string[];
}
