// /metrics end to end: the real daemon in a server namespace with real nftables, failures appended to
// its mail log until a ban, and an attacker namespace whose packets the ban then blocks. The scrapes
// before and after must differ by exactly what happened. Off by default: no listener without the option.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ServerReplyError } from '../../src/cli/client.js';
import { cliPath, control, sleep, startDaemon, waitFor } from './daemon-process.js';
import { dovecotFailure, jailStatus, mailSetup, noiseLine } from './mail-log.js';
import { IMAP, namespaceSuite } from './namespace-suite.js';
import { inNamespace, netnsUnavailable, tryConnect } from './netns.js';

const skip = netnsUnavailable(['nft', 'ss']) ?? false;
/** The collector reads kernel counters at most once a second; a scrape after this sees fresh ones. */
const DROP_CACHE_MS = 1100;

const SCRAPE = `fetch(process.argv[1]).then(async (r) => { process.stdout.write(r.status + '\\n' + r.headers.get('content-type') + '\\n' + (await r.text())); }, (e) => { process.stdout.write('error ' + e.cause?.code); });`;

interface Scrape {
  status: number;
  contentType: string;
  text: string;
  /** The value of one series, by its exact `name{labels}` text; undefined when absent. */
  get(series: string): number | undefined;
}

/** GET http://ADDR/metrics from inside the namespace (the listener is on the namespace's loopback). */
function scrape(ns: string, addr: string): Scrape {
  const run = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', SCRAPE, `http://${addr}/metrics`], { encoding: 'utf8', timeout: 10_000 });
  const [status, contentType, ...rest] = run.stdout.split('\n');
  if (!/^\d+$/.test(status ?? '')) throw new Error(`scrape of ${addr} in ${ns} failed: ${run.stdout}${run.stderr}`);
  const text = rest.join('\n');
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return { status: Number(status), contentType: contentType ?? '', text, get: (series) => values.get(series) };
}

/** TCP listeners in the namespace, as `ss` prints their local addresses. */
function tcpListeners(ns: string): string[] {
  const run = spawnSync('ip', ['netns', 'exec', ns, 'ss', '-Hltn'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s+/)[3]!);
}

describe('Prometheus /metrics of a daemon banning in a network namespace', { skip, concurrency: false, timeout: 120_000 }, () => {
  const suite = namespaceSuite('mt');
  const { running, trees } = suite;

  it('counters and gauges move by what happened; blocked packets are counted', async () => {
    const { dirs, mailLog } = mailSetup({ 'fail2ban.local': '[Definition]\nmetrics = 127.0.0.1:9191\n' });
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { prefix: inNamespace(suite.pair.server), args: ['--check-interval', '1'] });
    running.push(daemon);
    assert.deepEqual(tcpListeners(suite.pair.server).filter((a) => a.endsWith(':9191')), ['127.0.0.1:9191'], 'loopback only');

    const before = scrape(suite.pair.server, '127.0.0.1:9191');
    assert.equal(before.status, 200);
    assert.equal(before.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(before.text, /^# HELP f2b_jail_banned_total .+\n# TYPE f2b_jail_banned_total counter\n/m);
    const jails = (await control(dirs).request({ cmd: 'jails' })) as string[];
    assert.equal(before.get('f2b_up'), 1);
    assert.equal(before.get('f2b_jail_count'), jails.length);
    for (const [series, key] of [['max_retries', 'maxretry'], ['find_time', 'findtime'], ['ban_time', 'bantime']] as const) {
      const configured = await control(dirs).request({ cmd: 'get', jail: 'dovecot', key });
      assert.equal(before.get(`f2b_config_jail_${series}{jail="dovecot"}`), configured, key);
    }
    assert.equal(before.get('f2b_config_jail_max_retries{jail="dovecot"}'), 3);
    assert.equal(before.get('portcullis_dropped_packets_total{jail="dovecot"}'), 0);
    assert.equal(await tryConnect(suite.pair.attacker, suite.pair.serverV4, IMAP), 'connected', 'before the ban');

    // Two ordinary lines, three failures of the attacker: one ban.
    appendFileSync(mailLog, noiseLine('198.51.100.7', 0) + noiseLine('198.51.100.7', 8));
    for (let i = 0; i < 3; i++) appendFileSync(mailLog, dovecotFailure(suite.pair.attackerV4));
    await waitFor('the ban', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes(suite.pair.attackerV4));
    const read = `{jail="dovecot",source="${mailLog}"}`;
    const postfixRead = `{jail="postfix",source="${mailLog}"}`;
    const banned = await waitFor('the ban in the latency histogram', () => {
      const s = scrape(suite.pair.server, '127.0.0.1:9191');
      const readBoth = (s.get(`portcullis_lines_read_total${read}`) ?? 0) >= 5 && (s.get(`portcullis_lines_read_total${postfixRead}`) ?? 0) >= 5;
      return s.get('portcullis_ban_latency_seconds_count{jail="dovecot"}') === 1 && readBoth && s;
    });
    const delta = (series: string) => (banned.get(series) ?? Number.NaN) - (before.get(series) ?? 0);
    assert.equal(delta('f2b_jail_failed_total{jail="dovecot"}'), 3);
    assert.equal(delta('f2b_jail_banned_total{jail="dovecot"}'), 1);
    assert.equal(delta('f2b_jail_banned_current{jail="dovecot"}'), 1);
    assert.equal(banned.get('f2b_jail_failed_current{jail="dovecot"}'), 0, 'the banned address no longer counts as failing');
    assert.equal(delta('f2b_jail_banned_total{jail="postfix"}'), 0);
    assert.equal(delta(`portcullis_lines_read_total${read}`), 5);
    assert.equal(delta(`portcullis_lines_matched_total${read}`), 3);
    assert.equal(delta(`portcullis_lines_read_total${postfixRead}`), 5);
    assert.equal(delta(`portcullis_lines_matched_total${postfixRead}`), 0);
    const latency = banned.get('portcullis_ban_latency_seconds_sum{jail="dovecot"}')!;
    assert.ok(latency > 0 && latency < 2, `ban latency ${latency} s`);
    assert.equal(banned.get('portcullis_ban_latency_seconds_bucket{jail="dovecot",le="+Inf"}'), 1);
    assert.equal(banned.get('portcullis_firewall_failures_total{jail="dovecot"}'), 0);
    assert.equal(banned.get('portcullis_database_errors_total'), 0);
    assert.equal(banned.get('portcullis_dropped_packets_total{jail="dovecot"}'), 0, 'nothing sent yet');

    // The attacker tries again: its SYNs are dropped (a timeout) or rejected (refused), by the jail's
    // blocktype, and counted either way.
    assert.notEqual(await tryConnect(suite.pair.attacker, suite.pair.serverV4, IMAP, 1500), 'connected', 'banned');
    const dropped = await waitFor('blocked packets counted', () => {
      const s = scrape(suite.pair.server, '127.0.0.1:9191');
      return (s.get('portcullis_dropped_packets_total{jail="dovecot"}') ?? 0) > 0 && s;
    });
    const packets = dropped.get('portcullis_dropped_packets_total{jail="dovecot"}')!;
    assert.ok(packets >= 1 && packets <= 10, `${packets} packets`);
    assert.ok(dropped.get('portcullis_dropped_bytes_total{jail="dovecot"}')! >= packets * 40, 'at least an IPv4+TCP header each');
    assert.equal(dropped.get('portcullis_dropped_packets_total{jail="postfix"}'), 0);

    // Someone flushes the ruleset: the next ban fails, the periodic check repairs the jail.
    const nft = (args: string[]) => spawnSync('ip', ['netns', 'exec', suite.pair.server, 'nft', ...args], { encoding: 'utf8' });
    // The check runs every second: should it repair between the flush and the ban, the ban succeeds, so try again.
    let manual = 0;
    const failures = () => scrape(suite.pair.server, '127.0.0.1:9191').get('portcullis_firewall_failures_total{jail="dovecot"}');
    while (manual < 3 && failures() === 0) {
      assert.equal(nft(['flush', 'ruleset']).status, 0);
      // A ban into the flushed table is recorded, and reported as a firewall failure (the check retries it).
      await control(dirs)
        .request({ cmd: 'ban', jail: 'dovecot', ips: [`198.51.100.${8 + manual++}`] })
        .catch((err: ServerReplyError) => assert.equal(err.code, 'failed', err.message));
    }
    const repaired = await waitFor(
      'the repair',
      () => {
        const s = scrape(suite.pair.server, '127.0.0.1:9191');
        return (s.get('portcullis_firewall_repairs_total{jail="dovecot"}') ?? 0) >= 1 && nft(['list', 'set', 'inet', 'f2b-table', 'addr-set-dovecot']).stdout.includes(`198.51.100.${7 + manual}`) && s;
      },
      10_000,
    );
    assert.ok(repaired.get('portcullis_firewall_failures_total{jail="dovecot"}')! >= 1, 'the ban into the flushed table failed');
    assert.equal(repaired.get('portcullis_firewall_failures_total{jail="postfix"}'), 0);

    // A reload replaces the jails: the totals go on from where they were.
    await control(dirs).request({ cmd: 'reload' });
    await sleep(DROP_CACHE_MS);
    const rules = spawnSync('ip', ['netns', 'exec', suite.pair.server, 'nft', 'list', 'chain', 'inet', 'f2b-table', 'f2b-chain'], { encoding: 'utf8' });
    assert.match(rules.stdout, /ip saddr @addr-set-dovecot counter packets 0 bytes 0\n/, 'the reload recreated the rules');
    // docker-mailserver's rule text, with the blocktype of this tree (Fail2Ban's default, reject).
    assert.match(rules.stdout, /tcp dport \{ [\d, ]+ \} ip saddr @addr-set-dovecot reject with tcp reset\n/);
    const reloaded = scrape(suite.pair.server, '127.0.0.1:9191');
    assert.equal(reloaded.get('f2b_jail_failed_total{jail="dovecot"}'), banned.get('f2b_jail_failed_total{jail="dovecot"}'));
    assert.equal(reloaded.get('f2b_jail_banned_total{jail="dovecot"}'), banned.get('f2b_jail_banned_total{jail="dovecot"}')! + manual);
    assert.equal(reloaded.get('f2b_jail_banned_current{jail="dovecot"}'), 1 + manual);
    assert.equal(reloaded.get(`portcullis_lines_read_total${read}`), banned.get(`portcullis_lines_read_total${read}`));
    assert.equal(reloaded.get('portcullis_dropped_packets_total{jail="dovecot"}'), packets, 'kernel counters reset by the reload are carried');
    appendFileSync(mailLog, dovecotFailure('198.51.100.9'));
    const grown = await waitFor('a failure after the reload', () => {
      const s = scrape(suite.pair.server, '127.0.0.1:9191');
      return s.get('f2b_jail_failed_current{jail="dovecot"}') === 1 && s;
    });
    assert.equal(grown.get('f2b_jail_failed_total{jail="dovecot"}'), banned.get('f2b_jail_failed_total{jail="dovecot"}')! + 1);
    assert.equal(await daemon.stop(), 0);
  });

  it('is off by default; --metrics turns it on, on loopback', async () => {
    const { dirs } = mailSetup();
    trees.push(dirs);
    let daemon = await startDaemon(dirs, { prefix: inNamespace(suite.pair.server) });
    running.push(daemon);
    assert.deepEqual(tcpListeners(suite.pair.server).filter((a) => !a.endsWith(`:${IMAP}`)), [], 'no listener without the option');
    assert.equal(await daemon.stop(), 0);

    daemon = await startDaemon(dirs, { prefix: inNamespace(suite.pair.server), args: ['--metrics', '9393'] });
    running.push(daemon);
    assert.deepEqual(tcpListeners(suite.pair.server).filter((a) => !a.endsWith(`:${IMAP}`)), ['127.0.0.1:9393']);
    const s = scrape(suite.pair.server, '127.0.0.1:9393');
    assert.equal(s.status, 200);
    assert.equal(s.get('f2b_up'), 1);
    assert.equal(await daemon.stop(), 0);
  });

  it('a --metrics address that would have to be guessed is a usage error', () => {
    const run = spawnSync(process.execPath, [cliPath, 'server', '--metrics', ':9191', '--dry-run'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(run.status, 2);
    assert.equal(run.stderr, "portcullis: --metrics: ':9191' has no address; write 127.0.0.1:9191 for this host only, or 0.0.0.0:9191 for every address\n");
  });
});
