// The numbers behind /metrics that no other part keeps. Plain fields, incremented in place on the hot path
// (one Map lookup per batch of lines, then additions); read only when Prometheus scrapes. One JailCounters
// per jail name lives for the whole process and is handed to each runtime of that jail, so the counters
// keep growing over reloads, as counters must.
import { Histogram } from './metrics-text.js';

export interface SourceCounts {
  read: number;
  matched: number;
}

/** Seconds from a line read to its ban in the kernel: a few ms for nft, seconds when it is busy. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Log files a jail counts separately; more (a glob of dated files) are counted together as `other`. */
const MAX_SOURCES = 100;

export class JailCounters {
  readonly sources = new Map<string, SourceCounts>();
  firewallFailures = 0;
  firewallRepairs = 0;
  /** Firewall checks run (periodic, or on the kernel's change notifications). */
  firewallChecks = 0;
  readonly banLatency = new Histogram(LATENCY_BUCKETS);

  /** The counts of one source (a file path, or `journal`). */
  source(path: string): SourceCounts {
    let counts = this.sources.get(path);
    if (counts === undefined) {
      const key = this.sources.size < MAX_SOURCES ? path : 'other';
      counts = this.sources.get(key) ?? { read: 0, matched: 0 };
      this.sources.set(key, counts);
    }
    return counts;
  }

}

/** Counters of the whole daemon, and the per-jail ones by name. */
export class ServerCounters {
  databaseErrors = 0;
  private readonly jails = new Map<string, JailCounters>();

  jail(name: string): JailCounters {
    let counters = this.jails.get(name);
    if (counters === undefined) this.jails.set(name, (counters = new JailCounters()));
    return counters;
  }
}

/**
 * Keeps exported counters from going back. `clamp` holds the highest value seen (a total that dips for a
 * moment, e.g. while a reload restores bans); `rebase` adds the last value to a base when the source
 * restarted from zero (kernel rule counters recreated by a reload or a repair).
 */
export class Monotonic {
  private readonly last = new Map<string, number>();
  private readonly base = new Map<string, number>();

  clamp(key: string, value: number): number {
    const out = Math.max(this.last.get(key) ?? 0, value);
    this.last.set(key, out);
    return out;
  }

  rebase(key: string, value: number): number {
    const last = this.last.get(key) ?? 0;
    let base = this.base.get(key) ?? 0;
    if (value < last) this.base.set(key, (base += last));
    this.last.set(key, value);
    return base + value;
  }
}
