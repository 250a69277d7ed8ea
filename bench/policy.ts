// Benchmark (not a test): how fast the policy servers answer with 100,000 bans in memory. The lookup alone
// (IPv4 address, IPv6 address inside a banned /64), then one Postfix request on a unix socket, round trip,
// as Postfix's reused connection sends them. Usage: node dist/bench/policy.js
import './dms-environment.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BanList } from '../src/jail/bans.js';
import { BanLookup } from '../src/policy/ban-lookup.js';
import { startPostfixPolicyServer } from '../src/policy/postfix-policy.js';
import { report } from './report.js';

const BANS = 100_000;
const bans = new BanList();
for (let i = 0; i < BANS; i++) {
  bans.add({ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, jail: 'bench', time: 0, bantime: -1, banCount: 1, failures: 3, matches: [] });
}
bans.add({ ip: '2001:db8:9::/64', jail: 'bench', time: 0, bantime: -1, banCount: 1, failures: 3, matches: [] });
const sources = [{ name: 'bench', jail: { bans } }];
const lookup = new BanLookup(() => sources);
lookup.bannedBy('192.0.2.1');

function perLookup(address: string, n: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) lookup.bannedBy(address);
  return Number(process.hrtime.bigint() - start) / n / 1000;
}
const v4 = perLookup('10.0.3.4', 100_000);
const v6 = perLookup('2001:db8:9::1', 100_000);
report(`policy: ban lookup, ${BANS.toLocaleString('en')} bans in memory`, `IPv4 ${v4.toFixed(2)} µs, IPv6 in a banned /64 ${v6.toFixed(2)} µs`, 'well under 1 ms', Math.max(v4, v6) < 100);

const dir = mkdtempSync(join(tmpdir(), 'pc-policy-bench-'));
const path = join(dir, 'policy.sock');
const server = await startPostfixPolicyServer({ path }, { bannedBy: (a) => lookup.bannedBy(a), action: 'REJECT banned' });
const socket = connect(path);
socket.setEncoding('latin1');
await new Promise((resolve) => socket.once('connect', resolve));
const N = 10_000;
const times: number[] = [];
const request = (n: number) => `request=smtpd_access_policy\nprotocol_state=CONNECT\nclient_address=10.0.${(n >> 8) & 255}.${n & 255}\nclient_name=unknown\n\n`;
await new Promise<void>((resolve) => {
  let buffer = '';
  let t0 = process.hrtime.bigint();
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    if (!buffer.endsWith('\n\n')) return;
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
    buffer = '';
    if (times.length === N) return resolve();
    t0 = process.hrtime.bigint();
    socket.write(request(times.length));
  });
  socket.write(request(0));
});
times.sort((a, b) => a - b);
const p99 = times[Math.floor(N * 0.99)]!;
report(
  `policy: Postfix request round trip on a unix socket (${N.toLocaleString('en')} requests, one connection)`,
  `median ${times[N >> 1]!.toFixed(1)} µs, p99 ${p99.toFixed(1)} µs`,
  'well under 1 ms',
  p99 < 1000,
);
socket.destroy();
server.close();
rmSync(dir, { recursive: true, force: true });
