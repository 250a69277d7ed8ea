// One `journalctl -o json` record → the syslog-style line Fail2Ban's filters expect, and its time.
// Fail2Ban builds `[_HOSTNAME] SYSLOG_IDENTIFIER[SYSLOG_PID]: MESSAGE` (falling back to _COMM and _PID),
// joins a multi-valued MESSAGE with spaces and writes embedded newlines as `\n`; we do the same so that
// `__prefix_line` in the filters matches. journalctl prints a field that is not valid UTF-8 (or holds
// control bytes) as an array of byte values, and a field that occurs several times as an array of values.
import type { Decoder } from './encoding.js';
import { TRUNCATED_MARK } from './line-splitter.js';

type FieldValue = string | number[] | null | Array<string | number[] | null>;

export interface JournalRecord {
  [field: string]: FieldValue | undefined;
}

function isByteArray(v: unknown): v is number[] {
  return Array.isArray(v) && (v.length === 0 || typeof v[0] === 'number');
}

/** Every value of a field, decoded. */
function values(v: FieldValue | undefined, decode: Decoder): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (isByteArray(v)) {
    const buf = Buffer.from(v);
    return [decode(buf, 0, buf.length)];
  }
  return v.flatMap((item) => values(item, decode));
}

function first(record: JournalRecord, decode: Decoder, ...names: string[]): string {
  for (const name of names) {
    const v = values(record[name], decode)[0];
    if (v) return v;
  }
  return '';
}

export function formatEntry(record: JournalRecord, decode: Decoder, maxLineBytes: number): string {
  const parts: string[] = [];
  const host = first(record, decode, '_HOSTNAME');
  if (host) parts.push(host);
  const ident = first(record, decode, 'SYSLOG_IDENTIFIER', '_COMM');
  if (ident) {
    const pid = first(record, decode, 'SYSLOG_PID', '_PID');
    parts.push(pid ? `${ident}[${pid}]:` : `${ident}:`);
  }
  parts.push(values(record['MESSAGE'], decode).join(' '));
  const line = parts.join(' ').replace(/\n/g, '\\n');
  // Cut at the cap and marked, so the filter skips it instead of matching a part as if whole.
  return line.length > maxLineBytes ? line.slice(0, maxLineBytes) + TRUNCATED_MARK : line;
}

/** The entry's time in epoch seconds: when the source logged it, else when journald received it. */
export function entryTime(record: JournalRecord): number | null {
  for (const name of ['_SOURCE_REALTIME_TIMESTAMP', '__REALTIME_TIMESTAMP']) {
    const v = record[name];
    if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v) / 1e6;
  }
  return null;
}
