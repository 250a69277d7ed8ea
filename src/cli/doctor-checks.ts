// The checks of `portcullis doctor` that need no host access: each turns facts gathered by doctor.ts
// into findings, one line each with the fix, so they can be tested with made-up facts.
import type { JailConfig } from '../config/model.js';
import { cidrsOverlap, parseCidr } from '../net/ip.js';

export interface Finding {
  /** Short name of the check (`cap-net-admin`, `logs`, …). */
  check: string;
  ok: boolean;
  /** What was found, naming the jail or file. */
  message: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

/** A log not written for this long is suspect: the service may log elsewhere now. */
export const STALE_LOG_S = 24 * 3600;
/** A last line dated this far from when the file was written means a time zone mismatch. */
export const SKEW_LIMIT_S = 120;

const LOOPBACK = ['127.0.0.1', '::1'].map((a) => parseCidr(a)!);

/** ignoreip should hold 127.0.0.1/8 and ::1: a jail without them may ban the host's own clients. */
export function ignoreipFinding(jail: JailConfig): Finding {
  const nets = jail.ignoreip.flatMap((e) => parseCidr(e) ?? []);
  const missing = LOOPBACK.filter((lo) => !nets.some((n) => cidrsOverlap(n, lo))).map((lo) => lo.text);
  if (missing.length === 0) return { check: 'ignoreip', ok: true, message: `[${jail.name}] ignoreip holds loopback` };
  return {
    check: 'ignoreip',
    ok: false,
    message: `[${jail.name}] ignoreip misses ${missing.join(' and ')}`,
    fix: `add ${missing.map((m) => (m === '127.0.0.1' ? '127.0.0.1/8' : m)).join(' ')} to ignoreip in jail.local`,
  };
}

/** What doctor.ts found about one log file. */
export interface LogFacts {
  jail: string;
  path: string;
  /** null: the file is missing or unreadable (with the system's reason). */
  error: string | null;
  /** Epoch seconds the file was last written. */
  mtime: number;
  /** Epoch seconds of the last line's date; null when it has none that the filter's dates read. */
  lastLineTime: number | null;
}

export function logFindings(f: LogFacts, now: number): Finding[] {
  const where = `[${f.jail}] ${f.path}`;
  if (f.error !== null) {
    return [{ check: 'logs', ok: false, message: `${where}: ${f.error}`, fix: 'fix logpath, or make the service log there (and mount the log into the container)' }];
  }
  const out: Finding[] = [];
  const age = now - f.mtime;
  out.push(
    age > STALE_LOG_S
      ? { check: 'logs', ok: false, message: `${where} has not grown for ${hours(age)}`, fix: 'check that the service still logs to this file (a log rotated elsewhere, or a new path?)' }
      : { check: 'logs', ok: true, message: `${where} exists, is readable and growing` },
  );
  if (f.lastLineTime !== null) {
    const skew = f.lastLineTime - f.mtime;
    out.push(
      Math.abs(skew) > SKEW_LIMIT_S
        ? {
            check: 'clock',
            ok: false,
            message: `${where}: the last line is dated ${hours(Math.abs(skew))} ${skew > 0 ? 'ahead of' : 'behind'} the time it was written; failures will be ignored as too old or counted wrong`,
            fix: 'set logtimezone in the jail to the zone the log is written in (e.g. logtimezone = UTC), or give the container the host\'s TZ',
          }
        : { check: 'clock', ok: true, message: `${where}: log dates agree with the host's clock` },
    );
  }
  return out;
}

function hours(seconds: number): string {
  return seconds >= 3600 ? `${(seconds / 3600).toFixed(1)} h` : `${Math.round(seconds)} s`;
}

/** One line per finding: `ok`, or `FIX` with what to do. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings.map((f) => (f.ok ? `ok   ${f.check}: ${f.message}\n` : `FIX  ${f.check}: ${f.message}; ${f.fix ?? ''}\n`)).join('');
}
