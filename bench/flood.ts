// bench/flood: a flood of new attacker addresses against the real daemon with real nftables, in a
// throw-away network namespace (root needed; the host's ruleset is never touched). RATE failure lines/s
// for SECONDS, each attacker failing PER times in a row (maxretry = PER), so every line comes from an
// address the daemon has never seen banned. Prints:
//   - how long after the writer stops every ban is in the kernel (goal: under 10 s): on the nft path,
//     when the daemon's last `nft -f -` ended; on the netlink path, when the last attacker's element is
//     in the set (a single-element lookup every 100 ms; bans reach the kernel in order); the count of
//     the whole set is checked afterwards either way;
//   - how long after the writer stops the daemon had read every line;
//   - the latency of a manual ban made halfway through the flood, in the `custom` jail as DMS's `setup
//     fail2ban ban` does (FLOOD_MANUAL_JAIL=dovecot: in the flooded jail), until the control call
//     returns, which it does once the kernel holds the ban; checked in the kernel afterwards; goal: 1 s;
//   - the daemon's memory at the end: RSS, and of it the JavaScript heap (in use, reserved), external
//     buffers, and the rest (code, SQLite, the allocator), read from its /metrics; and its CPU time.
// Usage: npm run build && node dist/bench/flood.js [--rate 50000] [--seconds 20] [--per 3]
import './dms-environment.js';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../src/cli/client.js';
import { type Address, parseAddress } from '../src/firewall/address.js';
import { type Exchange, loadExchange, NetlinkSets } from '../src/firewall/nftables-netlink.js';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { removeDirs, sleep, startDaemon } from '../test/e2e/daemon-process.js';
import { dovecotFailure, mailSetup } from '../test/e2e/mail-log.js';
import { createPair, inNamespace } from '../test/e2e/netns.js';
import { cpuSeconds, daemonMemoryMb } from './measure.js';
import { report } from './report.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '50000' },
    seconds: { type: 'string', default: '20' },
    per: { type: 'string', default: '3' },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const PER = Number(values.per);
const TICK_MS = 100;

if (process.getuid?.() !== 0) {
  console.error('bench/flood needs root (it works in a network namespace)');
  process.exit(2);
}

/** Attacker n: 10.x.y.z (n < 2^24), distinct for the whole flood. */
const attacker = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const MANUAL = '192.0.2.200';
/** Where the manual ban goes: docker-mailserver's `setup fail2ban ban IP` bans in its `custom` jail. */
const MANUAL_JAIL = process.env.FLOOD_MANUAL_JAIL ?? 'custom';

/** Elements of the jail's IPv4 set, counted from `nft -j` (the kernel's own view). */
function kernelCount(ns: string): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'set', 'inet', 'f2b-table', 'addr-set-dovecot'], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  if (r.status !== 0) return -1;
  const parsed = JSON.parse(r.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  return parsed.nftables.reduce((n, item) => n + (item.set?.elem?.length ?? 0), 0);
}

function kernelHas(ns: string, jail: string, ip: string): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', 'get', 'element', 'inet', 'f2b-table', `addr-set-${jail}`, `{ ${ip} }`], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * An `nft` first on the daemon's PATH that runs the real one and notes when each `nft -f -` (every
 * change the daemon makes) started and ended. Polling the kernel instead would cost as much as the
 * daemon's own writes (nft reads the whole set for a listing or a `get element`: 10 s and more at
 * 300,000 elements on a busy machine) and would slow what it measures.
 */
function timingNft(dir: string): { path: string; writes: () => Array<{ start: number; end: number | null }> } {
  const real = spawnSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).stdout.trim();
  const log = join(dir, 'nft-writes');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(log, '');
  writeFileSync(
    join(dir, 'bin', 'nft'),
    `#!/bin/sh
[ "$1" = "-f" ] || exec '${real}' "$@"
start=$(date +%s%3N)
echo "S $start" >> '${log}'
'${real}' "$@"
rc=$?
echo "E $start $(date +%s%3N) $rc" >> '${log}'
exit $rc
`,
  );
  chmodSync(join(dir, 'bin', 'nft'), 0o755);
  return {
    path: join(dir, 'bin'),
    writes: () => {
      const runs = new Map<number, number | null>();
      for (const line of readFileSync(log, 'utf8').split('\n')) {
        const [kind, start, end] = line.split(' ');
        if (kind === 'S') runs.set(Number(start), runs.get(Number(start)) ?? null);
        if (kind === 'E') runs.set(Number(start), Number(end));
      }
      return [...runs].map(([start, end]) => ({ start, end }));
    },
  };
}

const pair = createPair('fl');
const { dirs, mailLog } = mailSetup({}, `maxretry = ${PER}\nfindtime = 1d\nbantime = 1d\n`);
const nft = timingNft(dirs.root);
/** /metrics on the server namespace's own loopback: the daemon's memory as Node sees it. */
const METRICS_PORT = 9191;
const daemon = await startDaemon(dirs, {
  prefix: inNamespace(pair.server),
  args: ['--loglevel', 'WARNING', '--metrics', String(METRICS_PORT)],
  env: { PATH: `${nft.path}:${process.env.PATH}` },
});
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
try {
  const lines = RATE * SECONDS;
  const attackers = Math.floor(lines / PER);
  const perTick = Math.round((RATE * TICK_MS) / 1000);
  console.log(`flood: ${RATE} lines/s for ${SECONDS} s, ${attackers} new attackers, ${PER} failures each`);
  // `nft -f -` runs before this made the tables and sets; element writes come after.
  const setupWrites = nft.writes().length;
  const started = Date.now();
  let manual: Promise<number> | null = null;
  let written = 0;
  for (let tick = 0; written < attackers * PER; tick++) {
    const stamp = new Date().toISOString();
    let text = '';
    for (let i = 0; i < perTick && written < attackers * PER; i++, written++) text += dovecotFailure(attacker(Math.floor(written / PER)), stamp);
    appendFileSync(mailLog, text);
    if (manual === null && written >= (attackers * PER) / 2) {
      const t0 = Date.now();
      // A long timeout: the figure is how long it takes, however long that is.
      manual = new ControlClient(dirs.socket, 600_000)
        .request({ cmd: 'ban', jail: MANUAL_JAIL, ips: [MANUAL] })
        .then(() => Date.now() - t0);
    }
    const next = started + (tick + 1) * TICK_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
  const stopped = Date.now();
  console.log(`writer: ${written} lines in ${sec(stopped - started)}`);
  const manualMs = await (manual ?? Promise.resolve(Number.NaN));
  report('flood: manual ban during the flood, until the kernel holds it', `${manualMs} ms`, 'under 1 s', manualMs < 1000);
  // Element writes through nft show in the timing wrapper; none means the daemon writes through netlink.
  const viaNetlink = nft.writes().length === setupWrites;
  const sets = new NetlinkSets(loadExchange(`/run/netns/${pair.server}`) as Exchange);
  const last = parseAddress(attacker(attackers - 1)) as Address;
  const dovecotSet = { table: 'f2b-table', set: 'addr-set-dovecot', family: 4 as const, interval: true, timeouts: false };
  let lastSeen = 0;
  const watching = (async () => {
    while (viaNetlink && lastSeen === 0) {
      if (await sets.has(dovecotSet, last)) lastSeen = Date.now();
      else if (Date.now() - stopped > 900_000) throw new Error('the last ban was not in the kernel after 15 min');
      else await sleep(100);
    }
  })();
  // Status answers carry every banned address: polled once a second, not in a tight loop.
  const status = () => new ControlClient(dirs.socket, 600_000).request({ cmd: 'status', jail: 'dovecot' });
  while ((await status()).totalFailed < written) await sleep(1000);
  const readMs = Date.now() - stopped;
  // Every ban is in the kernel once the daemon's writes have stopped: none running, none for 3 s.
  const expected = MANUAL_JAIL === 'dovecot' ? attackers + 1 : attackers;
  let lastEnd = 0;
  await watching;
  for (; !viaNetlink; ) {
    const runs = nft.writes();
    const running = runs.some((r) => r.end === null);
    lastEnd = Math.max(0, ...runs.map((r) => r.end ?? 0));
    if (!running && Date.now() - lastEnd > 3000) break;
    if (Date.now() - stopped > 900_000) throw new Error('the daemon was still writing to the kernel after 15 min');
    await sleep(250);
  }
  const count = kernelCount(pair.server);
  const inKernel = viaNetlink ? lastSeen : lastEnd;
  console.log(viaNetlink ? 'elements written through netlink' : `nft writes: ${nft.writes().length}`);
  const lag = Math.max(0, inKernel - stopped);
  report(`flood: every ban in the kernel, after the writer stopped (${viaNetlink ? 'netlink' : 'nft -f -'})`, sec(lag), 'under 10 s', lag < 10_000);
  report('flood: every line read, after the writer stopped', sec(readMs));
  const memory = daemonMemoryMb(pair.server, METRICS_PORT);
  if (memory === null) throw new Error('the daemon did not answer on /metrics');
  const mb = (n: number) => `${n.toFixed(0)} MB`;
  report('flood: daemon RSS at the end', mb(memory.rss));
  report('flood: daemon JS heap at the end, in use / reserved', `${mb(memory.heapUsed)} / ${mb(memory.heapTotal)}`);
  report('flood: daemon external buffers at the end', mb(memory.external));
  report('flood: daemon RSS besides heap and buffers (code, SQLite, allocator)', mb(memory.rss - memory.heapTotal - memory.external));
  // Wall-clock figures move with the machine's other load; the daemon's own CPU time much less.
  report('flood: daemon CPU time, start to end', `${cpuSeconds(daemon.child.pid as number).toFixed(1)} s`);
  if (!kernelHas(pair.server, MANUAL_JAIL, MANUAL)) throw new Error('the manual ban is not in the kernel');
  const banned = (await status()).currentlyBanned;
  if (banned !== expected || count !== expected) throw new Error(`banned ${banned}, kernel ${count}, expected ${expected}`);
} finally {
  await daemon.kill();
  pair.destroy();
  removeDirs(dirs);
}
