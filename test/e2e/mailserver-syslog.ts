// A tiny stand-in for rsyslog. In docker-mailserver both daemons log through syslog and rsyslog writes
// /var/log/mail/mail.log. Here Dovecot logs to stderr and Postfix (postlogd) to stdout; this collector
// turns each line into the line rsyslog would have written and appends it to one mail.log.
// Why not real rsyslog: glibc's syslog() always writes to the host-wide /dev/log, which a test must not
// take over. The message text stays exactly what the daemon produced; only the syslog header is ours.
import { closeSync, openSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** rsyslog templates: RSYSLOG_TraditionalFileFormat ("Nov  4 10:00:00") or RSYSLOG_FileFormat (RFC 3339). */
export type TimestampStyle = 'traditional' | 'rfc3339';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => String(n).padStart(2, '0');

/** The timestamp rsyslog writes for `date` in local time. */
export function syslogStamp(date: Date, style: TimestampStyle): string {
  const hms = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  if (style === 'traditional') {
    return `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ${hms}`;
  }
  const off = -date.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const us = String(date.getMilliseconds() * 1000).padStart(6, '0');
  const ymd = `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
  return `${ymd}T${hms}.${us}${sign}${pad2(Math.floor(Math.abs(off) / 60))}:${pad2(Math.abs(off) % 60)}`;
}

/**
 * A Dovecot file-log line ("auth: Info: passwd-file(...): Password mismatch", log_timestamp empty) as
 * syslog carries it: tag "dovecot:" and no "Info: " (Dovecot's syslog handler drops only that level
 * word; Warning/Error/Fatal/Panic stay in the text).
 */
export function dovecotMessage(line: string): string {
  // The level word follows the process prefix ("auth: ", "imap(user)<pid><session>: ") or starts the line.
  // (A line without ": " cannot contain "Info: ", so indexOf's -1 needs no case of its own.)
  const at = line.startsWith('Info: ') ? 0 : line.indexOf(': ') + 2;
  const text = line.startsWith('Info: ', at) ? line.slice(0, at) + line.slice(at + 6) : line;
  return `dovecot: ${text}`;
}

/**
 * A Dovecot line as Dovecot writes it itself with `log_path = <file>` and the default log_timestamp
 * "%b %d %H:%M:%S " (zero-padded day, no host, no tag, level word kept): "Nov 04 10:00:00 auth: Info: ...".
 */
export function dovecotFileLine(line: string, now: Date): string {
  const hms = `${pad2(now.getHours())}:${pad2(now.getMinutes())}:${pad2(now.getSeconds())}`;
  return `${MONTHS[now.getMonth()]} ${pad2(now.getDate())} ${hms} ${line}`;
}

// postlogd's own header: "Nov 24 23:58:12 mail " (zero-padded day, optional fraction).
const POSTLOG_HEADER = /^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ /;

/** A postlogd line without its header: "postfix/submission/smtpd[123]: warning: ...". */
export function postfixMessage(line: string): string {
  return line.replace(POSTLOG_HEADER, '');
}

interface Waiter {
  pattern: RegExp;
  resolve: (line: string) => void;
}

/** Appends syslog-style lines to `path` and lets tests wait for a line to appear. */
export class MailLogCollector {
  private readonly fd: number;
  private readonly all: string[] = [];
  private waiters: Waiter[] = [];
  private closed = false;

  constructor(
    readonly path: string,
    private readonly hostname: string,
    private readonly style: TimestampStyle,
  ) {
    this.fd = openSync(path, 'a', 0o644);
  }

  /** Reads `stream` line by line; each becomes "stamp host tag: text" with `toMessage` giving "tag: text". */
  attach(stream: Readable, toMessage: (line: string) => string): void {
    this.attachRaw(stream, (line, now) => `${syslogStamp(now, this.style)} ${this.hostname} ${toMessage(line)}`);
  }

  /** Reads `stream` line by line; `toLine` makes the whole log line (for writers that bypass syslog). */
  attachRaw(stream: Readable, toLine: (line: string, now: Date) => string): void {
    const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    rl.on('line', (line) => {
      if (line.length > 0) this.append(toLine(line, new Date()));
    });
  }

  /** Appends one line; synchronous so the file order is the arrival order. */
  append(line: string): void {
    if (this.closed) return;
    writeSync(this.fd, `${line}\n`);
    this.all.push(line);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pattern.test(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  lines(): readonly string[] {
    return this.all;
  }

  /** Resolves with the first line (already written or to come) matching `pattern`; rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.all.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no line matching ${pattern} in ${this.path} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
