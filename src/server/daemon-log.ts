// The daemon log, in Fail2Ban's line format, because other tools read it: docker-mailserver's
// `setup fail2ban log`, Fail2Ban's own `recidive` jail, and admins' grep habits. For example:
//   2024-02-19 22:15:45,657 fail2ban.actions        [765]: NOTICE  [postfix] Ban 11.22.33.44
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';

export const logLevels = { CRITICAL: 50, ERROR: 40, WARNING: 30, NOTICE: 25, INFO: 20, DEBUG: 10 } as const;
export type LogLevel = keyof typeof logLevels;

export function parseLogLevel(text: string): LogLevel {
  const upper = text.trim().toUpperCase();
  // Fail2Ban accepts the old spelling and numeric levels too.
  if (upper === 'WARN') return 'WARNING';
  if (upper in logLevels) return upper as LogLevel;
  const numeric = Object.entries(logLevels).find(([, value]) => String(value) === upper);
  if (numeric) return numeric[0] as LogLevel;
  throw new UserError(`unknown log level '${text}': use one of ${Object.keys(logLevels).join(', ')}`);
}

/** Where lines go: a file, the process's stdout/stderr, or syslog. */
interface Sink {
  write(line: string, level: LogLevel): void;
  close(): void;
  /** Reopens the file (after logrotate); absent for streams and syslog. */
  reopen?(): void;
}

const syslogSeverity: Record<LogLevel, number> = { CRITICAL: 2, ERROR: 3, WARNING: 4, NOTICE: 5, INFO: 6, DEBUG: 7 };
const syslogFacilityDaemon = 3;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Local time as `YYYY-MM-DD HH:MM:SS`, the form Fail2Ban uses in "Found <ip> - <time>". */
export function formatLocalTime(epochMs: number): string {
  const d = new Date(epochMs);
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  );
}

/** Python logging's `asctime`: local time with a comma before the milliseconds. */
export function formatAsctime(epochMs: number): string {
  return `${formatLocalTime(epochMs)},${String(new Date(epochMs).getMilliseconds()).padStart(3, '0')}`;
}

class StreamSink implements Sink {
  constructor(private readonly fd: 1 | 2) {}
  write(line: string): void {
    writeSync(this.fd, `${line}\n`);
  }
  close(): void {}
}

/**
 * Appends to a file and reopens it when logrotate moved it away, so no `flushlogs` call is needed.
 * The check is a stat at most once a second: under a flood the log gets a line per failure, and a stat
 * per line cost more than the matching. Lines written in the second after a rotation go to the old file.
 */
const ROTATION_CHECK_MS = 1000;

class FileSink implements Sink {
  private fd: number;
  private ino: number;
  private checkedAt: number;
  constructor(
    private readonly path: string,
    private readonly nowMs: () => number,
  ) {
    [this.fd, this.ino] = this.open();
    this.checkedAt = nowMs();
  }
  private open(): [number, number] {
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      const fd = openSync(this.path, 'a', 0o640);
      return [fd, statSync(this.path).ino];
    } catch (err) {
      throw new UserError(
        `cannot write the daemon log ${this.path}: ${(err as Error).message}; fix the path or set logtarget = STDOUT in fail2ban.local`,
        1,
      );
    }
  }
  write(line: string): void {
    const now = this.nowMs();
    if (now - this.checkedAt >= ROTATION_CHECK_MS) {
      this.checkedAt = now;
      let current: number | null = null;
      try {
        current = statSync(this.path).ino;
      } catch {
        current = null;
      }
      if (current !== this.ino) {
        closeSync(this.fd);
        [this.fd, this.ino] = this.open();
      }
    }
    writeSync(this.fd, `${line}\n`);
  }
  reopen(): void {
    closeSync(this.fd);
    [this.fd, this.ino] = this.open();
  }
  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Node cannot send to /dev/log (a Unix datagram socket), so one long-lived `logger` process relays the
 * lines, each with its own priority prefix.
 */
class SyslogSink implements Sink {
  private readonly child: ChildProcess;
  constructor() {
    this.child = spawn('logger', ['--prio-prefix', '-t', 'fail2ban'], { stdio: ['pipe', 'ignore', 'ignore'] });
    this.child.on('error', () => {});
    this.child.stdin?.on('error', () => {});
  }
  write(line: string, level: LogLevel): void {
    this.child.stdin?.write(`<${syslogFacilityDaemon * 8 + syslogSeverity[level]}>${line}\n`);
  }
  close(): void {
    this.child.stdin?.end();
  }
}

function openSink(target: string, nowMs: () => number): Sink {
  switch (target.toUpperCase()) {
    case 'STDOUT':
    case 'SYSOUT':
      return new StreamSink(1);
    case 'STDERR':
      return new StreamSink(2);
    case 'SYSLOG':
    case 'SYSTEMD-JOURNAL':
      return new SyslogSink();
    default:
      return new FileSink(target, nowMs);
  }
}

export class DaemonLog {
  private sink: Sink;
  private threshold: number;
  private withTime: boolean;
  private closed = false;

  constructor(
    private target: string,
    private level: LogLevel,
    private readonly pid: number = process.pid,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.sink = openSink(target, this.nowMs);
    this.threshold = logLevels[level];
    this.withTime = !isSyslog(target);
  }

  get currentLevel(): LogLevel {
    return this.level;
  }

  get currentTarget(): string {
    return this.target;
  }

  setLevel(level: LogLevel): void {
    this.level = level;
    this.threshold = logLevels[level];
  }

  setTarget(target: string): void {
    if (target === this.target) return;
    const next = openSink(target, this.nowMs);
    this.sink.close();
    this.sink = next;
    this.target = target;
    this.withTime = !isSyslog(target);
  }

  /**
   * Fail2Ban's `flushlogs`: a log file is reopened (logrotate's postrotate calls it after moving the file
   * away; 'rolled over'), streams and syslog have nothing to reopen ('flushed').
   */
  flush(): 'rolled over' | 'flushed' {
    if (this.sink.reopen === undefined) {
      this.log('server', 'INFO', `flush performed on ${this.target}`);
      return 'flushed';
    }
    this.sink.reopen();
    this.log('server', 'INFO', `rollover performed on ${this.target}`);
    return 'rolled over';
  }

  /** Whether a line at `level` would be written: lets a caller skip formatting one per failure. */
  enabled(level: LogLevel): boolean {
    return !this.closed && logLevels[level] >= this.threshold;
  }

  /** `name` is Fail2Ban's logger name without the prefix: `actions`, `filter`, `server`, `jail`… */
  log(name: string, level: LogLevel, message: string): void {
    // Work still finishing during shutdown (a firewall check, a last batch) may log after close().
    if (this.closed || logLevels[level] < this.threshold) return;
    const head = `fail2ban.${name}`.padEnd(24);
    const body = `${head}[${this.pid}]: ${level.padEnd(7)} ${message}`;
    this.sink.write(this.withTime ? `${formatAsctime(this.nowMs())} ${body}` : body, level);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.close();
  }
}

function isSyslog(target: string): boolean {
  const upper = target.toUpperCase();
  return upper === 'SYSLOG' || upper === 'SYSTEMD-JOURNAL';
}
