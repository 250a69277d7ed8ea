// Small measuring helpers every benchmark shares.
import { readFileSync } from 'node:fs';

/** The p-th percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** The daemon log's asctime (`2024-02-19 22:15:45,657`, local time) in epoch ms. */
export function asctimeMs(text: string): number {
  const [date, time] = text.split(' ');
  const [y, mo, d] = date!.split('-').map(Number);
  const [hms, ms] = time!.split(',');
  const [h, mi, s] = hms!.split(':').map(Number);
  return new Date(y!, mo! - 1, d!, h!, mi!, s!, Number(ms)).getTime();
}

/** VmRSS of a process in MB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** Distinct addresses 10.x.y.z for n < 2^24. */
export function ipv4(n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}
