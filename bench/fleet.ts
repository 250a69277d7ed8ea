// bench/fleet: ban sharing over a real redis-server (unix socket, AOF fsync always as in the e2e test).
//   - one node publishes 1,000 bans/s for 10 s (10 per 10 ms tick), two others read the stream;
//   - propagation latency publish → applied at each other node, p50 and p99;
//   - Redis memory per ban (used_memory growth / stream entries).
// The nodes are the daemon's Fleet links in this process, with jails that record what they receive:
// the figure is the fleet path (sign, XADD, XREAD, verify), not log reading or nft (see the e2e test).
// Run: npm run build && node dist/bench/fleet.js
import './dms-environment.js';
import type { BanTicket } from '../src/jail/bans.js';
import { Fleet, type FleetJail } from '../src/fleet/fleet.js';
import { fleetSettings } from '../src/config/fleet-settings.js';
import { FleetMemoryStore } from '../src/store/fleet-store.js';
import { startRedis } from '../test/e2e/redis-process.js';
import { percentile } from './measure.js';
import { report } from './report.js';

const RATE = 1000;
const SECONDS = 10;
const TICK_MS = 10;
const SECRET = 'bench-fleet-secret-0123456789abcdef';

const redis = await startRedis();
const published = new Map<string, number>();
const latencies: number[] = [];

function node(name: string): Fleet {
  const jail: FleetJail = {
    name: 'dovecot',
    receive: (ticket: BanTicket) => {
      const at = published.get(ticket.ip);
      if (at !== undefined) latencies.push(performance.now() - at);
      return true;
    },
    receiveUnban: () => true,
  };
  const settings = fleetSettings({ url: redis.url, secret: SECRET, name, jail: '' })!;
  return new Fleet(settings, { state: new FleetMemoryStore(), now: () => Date.now() / 1000, log: () => {}, jail: () => jail, retention: () => 3600 });
}

const nodes = ['A', 'B', 'C'].map(node);
for (const n of nodes) n.start();
const [a] = nodes as [Fleet];
const client = redis.client();
while (!a.status().connected) await new Promise((r) => setTimeout(r, 20));
await new Promise((r) => setTimeout(r, 200));
const memoryBefore = await usedMemory();

const total = RATE * SECONDS;
const perTick = (RATE * TICK_MS) / 1000;
const started = performance.now();
let sent = 0;
while (sent < total) {
  const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE) + perTick);
  const batch: BanTicket[] = [];
  for (; sent < due; sent++) {
    const ip = `10.${(sent >> 16) & 255}.${(sent >> 8) & 255}.${sent & 255}`;
    published.set(ip, performance.now());
    batch.push({ ip, jail: 'dovecot', time: Date.now() / 1000, bantime: 3600, banCount: 1, failures: 3, matches: [] });
  }
  a.publishBans(batch);
  await new Promise((r) => setTimeout(r, TICK_MS));
}
const publishSeconds = (performance.now() - started) / 1000;
const deadline = Date.now() + 30_000;
while (latencies.length < total * 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
const entries = await client.xlen('portcullis:fleet');
const memoryAfter = await usedMemory();
for (const n of nodes) await n.stop();
await redis.stop();

latencies.sort((x, y) => x - y);
const rate = total / publishSeconds;
const p99 = percentile(latencies, 99);
// 1,000/s is the offered rate (one batch per tick); 2% under it is the timer's slack, not a shortfall.
report('fleet: bans published by one node', `${total} in ${publishSeconds.toFixed(1)} s (${Math.round(rate)}/s)`, '1,000/s sustained', rate >= 980);
report('fleet: bans applied at the 2 other nodes', `${latencies.length} of ${total * 2}`, 'all', latencies.length === total * 2);
report('fleet: propagation publish → applied at the others', `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`, 'p99 < 1 s', p99 < 1000);
report('fleet: Redis memory per ban (stream entry)', `${Math.round((memoryAfter - memoryBefore) / entries)} bytes (${entries} entries)`);
process.exit(latencies.length === total * 2 ? 0 : 1);

async function usedMemory(): Promise<number> {
  const info = await client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}
