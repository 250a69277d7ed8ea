// What /metrics shows: fail2ban-prometheus-exporter's names (so its dashboards and alerts work unchanged,
// but with the `_total` series as real counters), then what only the daemon itself can see, under
// `portcullis_`. Built on each scrape from the running jails; nothing here is on the hot path. The HTTP
// server and the text format are imported only when metrics are on, to keep them out of an idle daemon.
import type { FleetStatus } from '../fleet/fleet.js';
import type { Firewall } from '../firewall/firewall.js';
import type { DropCount } from '../firewall/nftables-counters.js';
import { formatListenAddress, type ListenAddress } from '../net/listen-address.js';
import type { DaemonLog } from './daemon-log.js';
import type { JailRuntime } from './jail-runtime.js';
import { Monotonic, type ServerCounters } from './metrics-counters.js';
import type { MetricsServer } from './metrics-http.js';

/** What the collector reads from the daemon. */
export interface MetricsView {
  runtimes(): Iterable<JailRuntime>;
  /** The shared firewall backends; those that count blocked packets (nftables) are asked for them. */
  firewalls(): Iterable<Firewall>;
  counters: ServerCounters;
  databaseDegraded(): boolean;
  /** Ban sharing's state; absent or null when it is off (then no fleet series are shown). */
  fleet?(): FleetStatus | null;
}

interface DropCounting {
  dropCounters(): Promise<Map<string, DropCount>>;
}

function countsDrops(fw: Firewall): fw is Firewall & DropCounting {
  return typeof (fw as Partial<DropCounting>).dropCounters === 'function';
}

/**
 * Starts the listener when `at` is set. One that cannot listen is logged and the daemon runs on without
 * it: the bans matter more than their metrics.
 */
export async function openMetrics(at: ListenAddress | null, log: DaemonLog, view: MetricsView): Promise<MetricsServer | null> {
  if (at === null) return null;
  const collector = new MetricsCollector(view);
  try {
    const { startMetricsServer } = await import('./metrics-http.js');
    const server = await startMetricsServer(at, () => collector.collect());
    log.log('server', 'INFO', `Metrics at http://${formatListenAddress(server.address)}/metrics`);
    return server;
  } catch (err) {
    log.log('server', 'ERROR', `metrics cannot listen on ${formatListenAddress(at)}: ${(err as Error).message}`);
    return null;
  }
}

/** Kernel counters are read at most this often, however many scrapers there are. */
const DROP_CACHE_MS = 1000;

export class MetricsCollector {
  private readonly monotonic = new Monotonic();
  private drops: { at: number; value: Promise<Map<string, DropCount>> } | null = null;

  constructor(
    private readonly view: MetricsView,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  async collect(): Promise<string> {
    const drops = await this.dropCounts();
    const { MetricsText } = await import('./metrics-text.js');
    const runtimes = [...this.view.runtimes()];
    const m = this.monotonic;
    const out = new MetricsText();
    const perJail = (name: string, type: 'counter' | 'gauge', help: string, value: (r: JailRuntime) => number) => {
      out.family(name, type, help);
      for (const r of runtimes) out.sample(name, value(r), { jail: r.name });
    };

    out.family('f2b_up', 'gauge', 'Whether the server answers (always 1 when this endpoint does)').sample('f2b_up', 1);
    out.family('f2b_jail_count', 'gauge', 'Number of running jails').sample('f2b_jail_count', runtimes.length);
    perJail('f2b_jail_failed_current', 'gauge', 'Addresses with failures counted in the jail now', (r) => r.jail.failures.size);
    perJail('f2b_jail_failed_total', 'counter', 'Failures counted by the jail since the server started', (r) =>
      m.clamp(`failed\0${r.name}`, r.jail.failures.total),
    );
    perJail('f2b_jail_banned_current', 'gauge', 'Addresses banned by the jail now', (r) => r.jail.bans.size);
    perJail('f2b_jail_banned_total', 'counter', 'Bans made by the jail since the server started, expired ones included', (r) =>
      m.clamp(`banned\0${r.name}`, r.jail.bans.total),
    );
    perJail('f2b_config_jail_ban_time', 'gauge', 'The jail\'s bantime in seconds (-1: permanent)', (r) => r.config.bantime);
    perJail('f2b_config_jail_find_time', 'gauge', 'The jail\'s findtime in seconds', (r) => r.config.findtime);
    perJail('f2b_config_jail_max_retries', 'gauge', 'The jail\'s maxretry: failures within findtime that ban', (r) => r.config.maxretry);

    for (const [name, help, field] of [
      ['portcullis_lines_read_total', 'Log lines read, per jail and source (file path or journal)', 'read'],
      ['portcullis_lines_matched_total', 'Log lines in which the jail\'s filter found a failure, per jail and source', 'matched'],
    ] as const) {
      out.family(name, 'counter', help);
      for (const r of runtimes) {
        for (const [source, counts] of r.counters.sources) out.sample(name, counts[field], { jail: r.name, source });
      }
    }
    out.family('portcullis_ban_latency_seconds', 'histogram', 'Seconds from reading the line that completed a ban to the ban being in the firewall');
    for (const r of runtimes) out.histogram('portcullis_ban_latency_seconds', r.counters.banLatency, { jail: r.name });
    perJail('portcullis_firewall_failures_total', 'counter', 'Firewall commands of the jail that failed', (r) => r.counters.firewallFailures);
    perJail('portcullis_firewall_checks_total', 'counter', 'Checks of the jail\'s firewall rules and bans that ran', (r) => r.counters.firewallChecks);
    perJail('portcullis_firewall_repairs_total', 'counter', 'Times the jail\'s firewall rules or bans were found wrong and put right', (r) => r.counters.firewallRepairs);

    const counted = runtimes.filter((r) => drops.has(r.name));
    for (const [name, help, field] of [
      ['portcullis_dropped_packets_total', 'Packets blocked by the jail\'s firewall rules (nftables)', 'packets'],
      ['portcullis_dropped_bytes_total', 'Bytes blocked by the jail\'s firewall rules (nftables)', 'bytes'],
    ] as const) {
      out.family(name, 'counter', help);
      for (const r of counted) out.sample(name, m.rebase(`${field}\0${r.name}`, drops.get(r.name)![field]), { jail: r.name });
    }

    out.family('portcullis_database_errors_total', 'counter', 'Times the ban database failed: became unwritable or unreadable, or failed differently');
    out.sample('portcullis_database_errors_total', this.view.counters.databaseErrors);
    out.family('portcullis_database_degraded', 'gauge', '1 while the ban database cannot be written (bans are queued in memory)');
    out.sample('portcullis_database_degraded', this.view.databaseDegraded() ? 1 : 0);
    // The Node client library's standard names, so existing dashboards show them.
    const memory = process.memoryUsage();
    for (const [name, help, value] of [
      ['process_resident_memory_bytes', 'Resident memory size in bytes', memory.rss],
      ['nodejs_heap_size_total_bytes', 'Size of the JavaScript heap in bytes', memory.heapTotal],
      ['nodejs_heap_size_used_bytes', 'JavaScript heap in use in bytes', memory.heapUsed],
      ['nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript (buffers) in bytes', memory.external],
    ] as const) {
      out.family(name, 'gauge', help);
      out.sample(name, value);
    }
    const fleet = this.view.fleet?.() ?? null;
    if (fleet !== null) {
      for (const [name, type, help, value] of [
        ['portcullis_fleet_connected', 'gauge', '1 while the node is connected to the fleet\'s Redis', fleet.connected ? 1 : 0],
        ['portcullis_fleet_sent_total', 'counter', 'Bans and unbans this node published to the fleet', fleet.sent],
        ['portcullis_fleet_received_total', 'counter', 'Valid messages of other nodes read from the fleet', fleet.received],
        ['portcullis_fleet_applied_total', 'counter', 'Received bans and unbans that changed this node\'s bans', fleet.applied],
        ['portcullis_fleet_rejected_total', 'counter', 'Fleet messages dropped: unsigned, forged or malformed', fleet.rejected],
        ['portcullis_fleet_behind', 'gauge', 'Fleet messages not read yet (lag, counted up to 1000)', fleet.behind],
        ['portcullis_fleet_queued', 'gauge', 'Messages waiting in the database for Redis to come back', fleet.queued],
      ] as const) {
        out.family(name, type, help);
        out.sample(name, value);
      }
    }
    return out.toString();
  }

  /** Blocked packets per jail from every counting backend; none when the kernel cannot be read. */
  private dropCounts(): Promise<Map<string, DropCount>> {
    const now = this.clock();
    if (this.drops === null || now - this.drops.at >= DROP_CACHE_MS) {
      const reads = [...this.view.firewalls()].filter(countsDrops).map((fw) => fw.dropCounters());
      const value = Promise.all(reads).then(
        (maps) => new Map(maps.flatMap((map) => [...map])),
        () => new Map<string, DropCount>(),
      );
      this.drops = { at: now, value };
    }
    return this.drops.value;
  }
}
