// Small measuring helpers every benchmark shares.
import { spawnSync } from 'node:child_process';
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

/**
 * CPU a process has used so far, in ms of user and system time (/proc/PID/stat, 10 ms ticks). System
 * time includes the kernel's work for it (nftables commits and dumps, page faults), which on this
 * machine varies several-fold from run to run with the same code: shown beside start-up figures.
 */
export function cpuMs(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
}

/** Distinct addresses 10.x.y.z for n < 2^24. */
export function ipv4(n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat (clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface DaemonMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

/**
 * The daemon's memory from its /metrics (started with `--metrics PORT`) on the loopback of network
 * namespace `ns`, in MB; null when it does not answer.
 */
export function daemonMemoryMb(ns: string, port: number): DaemonMemory | null {
  const fetchMetrics = `fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', fetchMetrics], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return null;
  const mb = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(r.stdout)?.[1] ?? Number.NaN) / 1048576;
  return {
    rss: mb('process_resident_memory_bytes'),
    heapTotal: mb('nodejs_heap_size_total_bytes'),
    heapUsed: mb('nodejs_heap_size_used_bytes'),
    external: mb('nodejs_external_memory_bytes'),
  };
}
