// Ban sharing end to end: three real daemons (A, B, C), each in a network namespace of its own with its
// own nftables, and one real redis-server started here on a unix socket that every namespace reaches.
// Bans come from log failures on A; what B and C hold is read from their kernels' sets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sign, verify } from '../../src/fleet/message.js';
import { cliPath, control, type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor } from './daemon-process.js';
import { dovecotFailure, mailSetup } from './mail-log.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from './netns.js';
import { type RedisProcess, startRedis } from './redis-process.js';

const skip = netnsUnavailable(['nft', 'redis-server']) ?? false;
const SECRET = 'e2e-fleet-secret-0123456789abcdef';
const STREAM = 'portcullis:fleet';
const C_IGNORED = '198.51.100.99';

interface Node {
  name: string;
  ns: string;
  dirs: DaemonDirs;
  mailLog: string;
  daemon: RunningDaemon | null;
}

/** The addresses in the node's kernel set of the dovecot jail (IPv4). */
function kernelSet(node: Node): Set<string> {
  const run = spawnSync('ip', ['netns', 'exec', node.ns, 'nft', '-j', 'list', 'set', 'inet', 'f2b-table', 'addr-set-dovecot'], { encoding: 'utf8' });
  if (run.status !== 0) return new Set();
  const parsed = JSON.parse(run.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  const out = new Set<string>();
  for (const item of parsed.nftables) {
    for (const e of item.set?.elem ?? []) {
      const val = typeof e === 'string' ? e : (e as { elem?: { val?: unknown } }).elem?.val;
      if (typeof val === 'string') out.add(val);
    }
  }
  return out;
}

function fail(node: Node, ip: string): void {
  appendFileSync(node.mailLog, dovecotFailure(ip).repeat(3));
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** "Ban IP (from fleet …" lines per address in a node's log. */
function receivedBans(node: Node): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of node.daemon!.log().matchAll(/\[dovecot\] Ban (\S+) \(from fleet node/g)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  return counts;
}

describe('fleet: bans shared by three daemons over one Redis', { skip, concurrency: false, timeout: 240_000 }, () => {
  let redis: RedisProcess;
  const pairs: Pair[] = [];
  const nodes: Node[] = [];
  const A = () => nodes[0]!;
  const B = () => nodes[1]!;
  const C = () => nodes[2]!;

  const start = async (node: Node) => {
    node.daemon = await startDaemon(node.dirs, { prefix: inNamespace(node.ns) });
  };

  before(async () => {
    redis = await startRedis();
    for (const name of ['A', 'B', 'C']) {
      const pair = createPair(`fl${name.toLowerCase()}`);
      pairs.push(pair);
      const local = `[Definition]\nfleet = ${redis.url}\nfleetsecret = ${SECRET}\nfleetname = node${name}\n`;
      const extra = name === 'C' ? `ignoreip = 127.0.0.1/8 ${C_IGNORED}\n` : '';
      const { dirs, mailLog } = mailSetup({ 'fail2ban.local': local }, extra);
      nodes.push({ name, ns: pair.server, dirs, mailLog, daemon: null });
    }
    await Promise.all(nodes.map(start));
    await Promise.all(nodes.map((n) => waitFor(`${n.name} connected`, () => /fleet: connected/.test(n.daemon!.log()), 10_000)));
  });

  after(async () => {
    for (const n of nodes) await n.daemon?.kill();
    for (const n of nodes) removeDirs(n.dirs);
    for (const p of pairs) p.destroy();
    await redis?.stop();
  });

  it('a ban from log failures on A is in the kernel sets of B and C within 1 s (p99 over 60 bans)', async () => {
    const ips = Array.from({ length: 60 }, (_, i) => `203.0.113.${i + 1}`);
    const written = new Map<string, number>();
    const seen = new Map<string, number>();
    const writer = (async () => {
      for (const ip of ips) {
        written.set(ip, performance.now());
        fail(A(), ip);
        await sleep(25);
      }
    })();
    const deadline = Date.now() + 20_000;
    while (seen.size < ips.length * 2 && Date.now() < deadline) {
      for (const node of [B(), C()]) {
        const set = kernelSet(node);
        const now = performance.now();
        for (const ip of written.keys()) if (set.has(ip) && !seen.has(`${node.name} ${ip}`)) seen.set(`${node.name} ${ip}`, now - written.get(ip)!);
      }
      await sleep(5);
    }
    await writer;
    assert.equal(seen.size, ips.length * 2, 'every ban on both B and C');
    const sorted = [...seen.values()].sort((a, b) => a - b);
    const p50 = quantile(sorted, 0.5);
    const p99 = quantile(sorted, 0.99);
    console.log(`# fleet propagation A → B, C over ${ips.length} bans (${sorted.length} arrivals): p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms`);
    assert.ok(p99 < 1000, `p99 ${p99.toFixed(0)} ms`);
  });

  it('an unban on B is lifted on A and C', async () => {
    const ip = '203.0.113.1';
    assert.ok(kernelSet(A()).has(ip) && kernelSet(C()).has(ip));
    await control(B().dirs).request({ cmd: 'unban', ips: [ip], jail: 'dovecot' });
    await waitFor('unban on A and C', () => !kernelSet(A()).has(ip) && !kernelSet(C()).has(ip), 3000);
    assert.ok(!kernelSet(B()).has(ip));
  });

  it('C stopped, 20 bans on A, C restarted: C has all 20, with their remaining times', async () => {
    assert.equal(await C().daemon!.stop(), 0);
    const ips = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 1}`);
    for (const ip of ips) fail(A(), ip);
    await waitFor('20 bans on B', () => ips.every((ip) => kernelSet(B()).has(ip)), 10_000);
    await sleep(1500); // so a fresh bantime would differ from the remaining one
    await start(C());
    await waitFor('20 bans on C', () => ips.every((ip) => kernelSet(C()).has(ip)), 10_000);
    const times = async (node: Node) => new Map((await control(node.dirs).request({ cmd: 'banlist', jail: 'dovecot', withTime: true })).map((l) => [l.split(/\s/)[0], l]));
    const onA = await times(A());
    const onC = await times(C());
    for (const ip of ips) assert.equal(onC.get(ip), onA.get(ip), `${ip}: same start and end on C as on A`);
  });

  it('Redis killed and restarted while A bans: nothing lost, no duplicates', async () => {
    const ips = Array.from({ length: 30 }, (_, i) => `198.51.100.${i + 101}`);
    for (const [i, ip] of ips.entries()) {
      fail(A(), ip);
      await sleep(30);
      if (i === 10) await redis.kill();
      if (i === 20) await redis.restart();
    }
    assert.match(A().daemon!.log(), /fleet: lost Redis/, 'A saw Redis go');
    await waitFor('all 30 on B and C', () => ips.every((ip) => kernelSet(B()).has(ip) && kernelSet(C()).has(ip)), 20_000);
    for (const node of [B(), C()]) {
      const counts = receivedBans(node);
      for (const ip of ips) assert.equal(counts.get(ip), 1, `${ip} applied once on ${node.name}`);
    }
  });

  it('C killed (-9) right after bans arrive and restarted: each is applied once, none is lost', async () => {
    const ips = Array.from({ length: 10 }, (_, i) => `198.51.100.${i + 201}`);
    for (const ip of ips) fail(A(), ip);
    await waitFor('10 bans on C', () => ips.every((ip) => kernelSet(C()).has(ip)), 10_000);
    await C().daemon!.kill();
    await start(C());
    await waitFor('C reconnected', () => (C().daemon!.log().match(/fleet: connected/g)?.length ?? 0) >= 3, 10_000);
    await sleep(1000);
    assert.ok(ips.every((ip) => kernelSet(C()).has(ip)), 'restored after the crash');
    const counts = receivedBans(C());
    for (const ip of ips) assert.equal(counts.get(ip), 1, `${ip} applied once on C over the crash`);
  });

  it('a message without a valid signature is not applied; an address in C\'s ignoreip is not banned on C', async () => {
    const client = redis.client();
    const now = Math.floor(Date.now() / 1000);
    const forged = { kind: 'ban', origin: 'nodeA', jail: 'dovecot', ip: '192.0.2.200', start: now, end: now + 600, failures: 3, banCount: 1 } as const;
    await client.xadd(STREAM, '*', 'm', JSON.stringify(forged));
    await client.xadd(STREAM, '*', 'm', JSON.stringify(forged), 's', sign(forged, 'not-the-secret-of-this-fleet!!').s);
    fail(A(), C_IGNORED);
    await waitFor('ignored address banned on B', () => kernelSet(B()).has(C_IGNORED), 5000);
    await sleep(500);
    assert.ok(!kernelSet(C()).has(C_IGNORED), 'C keeps its ignoreip');
    for (const node of [B(), C()]) {
      assert.ok(!kernelSet(node).has('192.0.2.200'), `forged ban not on ${node.name}`);
      assert.match(node.daemon!.log(), /fleet: dropped a message: (missing body or signature|bad signature)/);
    }
  });

  it('no ban circulates twice: only A publishes bans, each once; B and C never re-publish', async () => {
    const client = redis.client();
    const entries = (await client.xrange(STREAM, '-', '+')) as Array<[string, string[]]>;
    const seen = new Map<string, number>();
    for (const [, flat] of entries) {
      const fields = Object.fromEntries([[flat[0]!, flat[1]!], [flat[2] ?? '', flat[3] ?? '']]);
      const v = verify(fields, SECRET);
      if (!v.ok || v.message.kind !== 'ban') continue;
      assert.equal(v.message.origin, 'nodeA', `${v.message.ip} published by ${v.message.origin}`);
      const key = `${v.message.ip} ${v.message.start} ${v.message.end}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    assert.ok(seen.size >= 120, `${seen.size} bans in the stream`);
    for (const node of [B(), C()]) for (const [ip, n] of receivedBans(node)) assert.equal(n, 1, `${ip} applied ${n} times on ${node.name}`);
  });

  it('`status` shows the fleet: connected, behind by none, what was sent, received and rejected', async () => {
    const a = await control(A().dirs).request({ cmd: 'fleet' });
    const b = await control(B().dirs).request({ cmd: 'fleet' });
    assert.ok(a && b);
    assert.equal(a.connected, true);
    assert.ok(a.sent >= 121, `A sent ${a.sent}`);
    assert.equal(a.queued, 0, 'outbox flushed after the Redis restart');
    assert.equal(b.sent, 1, 'B published only its unban');
    assert.ok(b.received >= 121 && b.rejected >= 2, JSON.stringify(b));
    await waitFor('B not behind', async () => (await control(B().dirs).request({ cmd: 'fleet' }))?.behind === 0, 5000);
    const status = () => spawnSync(process.execPath, [cliPath, 'status', '-s', A().dirs.socket], { encoding: 'utf8' }).stdout;
    await waitFor('status line', () => /Fleet: node nodeA, connected to unix:\/\/.*; behind by 0; sent \d+/.test(status()), 5000);
  });
});
