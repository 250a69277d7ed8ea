// The collector over real Jail state with stand-in runtimes and firewalls; the daemon end to end is in
// test/e2e/metrics.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { JailConfig } from '../config/model.js';
import type { Firewall } from '../firewall/firewall.js';
import type { DropCount } from '../firewall/nftables-counters.js';
import { Jail } from '../jail/jail.js';
import type { JailRuntime } from './jail-runtime.js';
import type { DaemonLog } from './daemon-log.js';
import { MetricsCollector, openMetrics } from './metrics.js';
import { JailCounters, Monotonic, ServerCounters } from './metrics-counters.js';

function config(name: string): JailConfig {
  return {
    name, enabled: true, backend: 'auto', filter: null, actions: [], logpaths: [], logencoding: 'utf-8',
    bantime: 3600, findtime: 600, maxretry: 2, maxmatches: 0, ignoreip: [], ignoreself: false, ignorecommand: '',
    usedns: 'warn', options: {},
    increment: { enabled: false, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false },
  };
}

/** What the collector reads of a runtime: its name, config, Jail and counters. */
function runtime(name: string, counters: JailCounters): JailRuntime {
  const c = config(name);
  return { name, config: c, jail: new Jail(c), counters } as unknown as JailRuntime;
}

function failTwice(r: JailRuntime, ip: string, now: number): void {
  r.jail.addFailure({ ip, time: now }, now);
  const ticket = r.jail.addFailure({ ip, time: now }, now);
  assert.ok(ticket && r.jail.commitBan(ticket, now));
}

/** Sample value by its exact `name{labels}` text. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('MetricsCollector', () => {
  it("exports the exporter's names with HELP and TYPE, per jail", async () => {
    const counters = new ServerCounters();
    const dovecot = runtime('dovecot', counters.jail('dovecot'));
    failTwice(dovecot, '192.0.2.1', 1000);
    dovecot.jail.addFailure({ ip: '192.0.2.2', time: 1000 }, 1000);
    const src = dovecot.counters.source('/var/log/mail.log');
    src.read = 10;
    src.matched = 3;
    dovecot.counters.banLatency.observe(0.02);
    counters.databaseErrors = 2;
    const text = await new MetricsCollector({ runtimes: () => [dovecot], firewalls: () => [], counters, databaseDegraded: () => true }).collect();
    for (const [name, type] of [
      ['f2b_up', 'gauge'], ['f2b_jail_count', 'gauge'], ['f2b_jail_failed_current', 'gauge'], ['f2b_jail_failed_total', 'counter'],
      ['f2b_jail_banned_current', 'gauge'], ['f2b_jail_banned_total', 'counter'], ['f2b_config_jail_ban_time', 'gauge'],
      ['f2b_config_jail_find_time', 'gauge'], ['f2b_config_jail_max_retries', 'gauge'], ['portcullis_lines_read_total', 'counter'],
      ['portcullis_ban_latency_seconds', 'histogram'], ['portcullis_database_errors_total', 'counter'],
    ]) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S.*\\n# TYPE ${name} ${type}$`, 'm'), name);
    }
    assert.equal(value(text, 'f2b_up'), 1);
    assert.equal(value(text, 'f2b_jail_count'), 1);
    assert.equal(value(text, 'f2b_jail_failed_current{jail="dovecot"}'), 1);
    assert.equal(value(text, 'f2b_jail_failed_total{jail="dovecot"}'), 3);
    assert.equal(value(text, 'f2b_jail_banned_current{jail="dovecot"}'), 1);
    assert.equal(value(text, 'f2b_jail_banned_total{jail="dovecot"}'), 1);
    assert.equal(value(text, 'f2b_config_jail_ban_time{jail="dovecot"}'), 3600);
    assert.equal(value(text, 'f2b_config_jail_find_time{jail="dovecot"}'), 600);
    assert.equal(value(text, 'f2b_config_jail_max_retries{jail="dovecot"}'), 2);
    assert.equal(value(text, 'portcullis_lines_read_total{jail="dovecot",source="/var/log/mail.log"}'), 10);
    assert.equal(value(text, 'portcullis_lines_matched_total{jail="dovecot",source="/var/log/mail.log"}'), 3);
    assert.equal(value(text, 'portcullis_ban_latency_seconds_bucket{jail="dovecot",le="0.025"}'), 1);
    assert.equal(value(text, 'portcullis_ban_latency_seconds_bucket{jail="dovecot",le="0.01"}'), 0);
    assert.equal(value(text, 'portcullis_database_errors_total'), 2);
    assert.equal(value(text, 'portcullis_database_degraded'), 1);
    // Memory, under the Node client library's names: the resident set holds the heap in use.
    const rss = value(text, 'process_resident_memory_bytes') ?? 0;
    const heapUsed = value(text, 'nodejs_heap_size_used_bytes') ?? 0;
    assert.ok(heapUsed > 0 && rss > heapUsed, `rss ${rss}, heap used ${heapUsed}`);
    assert.ok((value(text, 'nodejs_heap_size_total_bytes') ?? 0) >= heapUsed);
    assert.ok((value(text, 'nodejs_external_memory_bytes') ?? -1) >= 0);
  });

  it('totals keep growing over a reload, which replaces the runtime and its Jail', async () => {
    const counters = new ServerCounters();
    let current = runtime('dovecot', counters.jail('dovecot'));
    const collector = new MetricsCollector({ runtimes: () => [current], firewalls: () => [], counters, databaseDegraded: () => false });
    failTwice(current, '192.0.2.1', 1000);
    failTwice(current, '192.0.2.2', 1000);
    const before = await collector.collect();
    assert.equal(value(before, 'f2b_jail_failed_total{jail="dovecot"}'), 4);
    assert.equal(value(before, 'f2b_jail_banned_total{jail="dovecot"}'), 2);
    // Reload: the old runtime stops, the new one restores its two bans and counts a third.
    const old = current;
    current = runtime('dovecot', counters.jail('dovecot'));
    for (const t of old.jail.bans.list()) current.jail.restore(t, 1001);
    // As Daemon.reload does: the rebuilt jail continues the totals of the one it replaces.
    current.jail.bans.resumeTotal(old.jail.bans.total);
    current.jail.failures.resumeTotal(old.jail.failures.total);
    failTwice(current, '192.0.2.3', 1002);
    const after = await collector.collect();
    assert.equal(value(after, 'f2b_jail_failed_total{jail="dovecot"}'), 6);
    assert.equal(value(after, 'f2b_jail_banned_total{jail="dovecot"}'), 3);
    assert.equal(value(after, 'f2b_jail_banned_current{jail="dovecot"}'), 3);
  });

  it('blocked packets come from counting firewalls, cached briefly, and survive a rule reset', async () => {
    const counters = new ServerCounters();
    const dovecot = runtime('dovecot', counters.jail('dovecot'));
    let kernel: DropCount = { packets: 5, bytes: 300 };
    let reads = 0;
    const dropCounters = async () => {
      reads++;
      return new Map([['dovecot', kernel]]);
    };
    const nft = { name: 'nftables', dropCounters } as unknown as Firewall;
    const other = { name: 'iptables' } as unknown as Firewall;
    let clock = 0;
    const collector = new MetricsCollector(
      { runtimes: () => [dovecot], firewalls: () => [nft, other], counters, databaseDegraded: () => false },
      () => clock,
    );
    const series = 'portcullis_dropped_packets_total{jail="dovecot"}';
    assert.equal(value(await collector.collect(), series), 5);
    kernel = { packets: 9, bytes: 500 };
    assert.equal(value(await collector.collect(), series), 5, 'cached within a second');
    clock = 1000;
    const text = await collector.collect();
    assert.equal(value(text, series), 9);
    assert.equal(value(text, 'portcullis_dropped_bytes_total{jail="dovecot"}'), 500);
    assert.equal(reads, 2);
    kernel = { packets: 2, bytes: 100 }; // the rules were recreated: the kernel counts from zero
    clock = 2000;
    assert.equal(value(await collector.collect(), series), 11);
  });

  it('a kernel that cannot be read leaves the packet series out, not the scrape', async () => {
    const counters = new ServerCounters();
    const nft = { name: 'nftables', dropCounters: () => Promise.reject(new Error('nft: not found')) } as unknown as Firewall;
    const text = await new MetricsCollector({
      runtimes: () => [runtime('dovecot', counters.jail('dovecot'))],
      firewalls: () => [nft],
      counters,
      databaseDegraded: () => false,
    }).collect();
    assert.equal(value(text, 'portcullis_dropped_packets_total{jail="dovecot"}'), undefined);
    assert.equal(value(text, 'f2b_up'), 1);
  });
});

describe('openMetrics', () => {
  it('no address: no listener; a busy port is logged and the daemon runs on without one', async () => {
    const lines: string[] = [];
    const log = { log: (_logger: string, level: string, message: string) => lines.push(`${level} ${message}`) } as unknown as DaemonLog;
    const view = { runtimes: () => [], firewalls: () => [], counters: new ServerCounters(), databaseDegraded: () => false };
    assert.equal(await openMetrics(null, log, view), null);
    const first = await openMetrics({ host: '127.0.0.1', port: 0 }, log, view);
    assert.ok(first);
    try {
      const port = first.address.port;
      assert.equal(await openMetrics({ host: '127.0.0.1', port }, log, view), null);
      assert.deepEqual(lines[0], `INFO Metrics at http://127.0.0.1:${port}/metrics`);
      assert.match(lines[1] ?? '', new RegExp(`^ERROR metrics cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      await first.close();
    }
  });
});

describe('deploy/grafana-portcullis.json', () => {
  it('queries only series that /metrics exports', async () => {
    const dashboard = readFileSync(new URL('../../../deploy/grafana-portcullis.json', import.meta.url), 'utf8');
    const used = new Set(dashboard.match(/\b(?:f2b|portcullis)_[a-z_]+/g));
    const counters = new ServerCounters();
    const nft = { name: 'nftables', dropCounters: async () => new Map([['dovecot', { packets: 1, bytes: 60 }]]) } as unknown as Firewall;
    const dovecot = runtime('dovecot', counters.jail('dovecot'));
    dovecot.counters.source('/var/log/mail.log').read++;
    const text = await new MetricsCollector({
      runtimes: () => [dovecot],
      firewalls: () => [nft],
      counters,
      databaseDegraded: () => false,
    }).collect();
    const exported = new Set([...text.matchAll(/^([a-z_0-9]+)[{ ]/gm)].map((m) => m[1]));
    assert.ok(used.size >= 15, `${used.size} series used`);
    for (const name of used) assert.ok(exported.has(name), `${name} is not exported`);
  });
});

describe('JailCounters and Monotonic', () => {
  it('counts sources separately up to a cap, then together as other', () => {
    const c = new JailCounters();
    for (let i = 0; i < 105; i++) c.source(`/var/log/app-${i}.log`).read++;
    assert.equal(c.sources.size, 101);
    assert.equal(c.sources.get('other')?.read, 5);
    assert.equal(c.source('/var/log/app-3.log'), c.sources.get('/var/log/app-3.log'));
  });

  it('clamp holds the highest value; rebase adds the last value when the source restarts', () => {
    const m = new Monotonic();
    assert.deepEqual([m.clamp('a', 3), m.clamp('a', 2), m.clamp('a', 5)], [3, 3, 5]);
    assert.deepEqual([m.rebase('b', 3), m.rebase('b', 7), m.rebase('b', 1), m.rebase('b', 4)], [3, 7, 8, 11]);
  });
});
