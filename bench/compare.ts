// bench/compare: portcullis against Debian's fail2ban-server 1.0, same run, same jail, same input.
// Both read one tree (Debian's /etc/fail2ban unchanged, dovecot enabled with maxretry 3 in 10m, bantime
// 3h, banaction nftables-allports, backend auto) and each runs inside its own pair of network
// namespaces, so their real nftables rules never touch the host. Figures:
//   1. ban latency: third failure appended to the mail log → the address in the kernel's nftables set
//      (the commit time `nft monitor` reports inside the namespace), N attackers one after another, and a
//      real TCP connect from the attacker namespace that must stop getting through;
//   2. restoring 1k / 10k / 100k stored bans at start: server spawned → every address in the kernel set;
//   3. RSS (VmRSS of the server): idle, with 1k / 10k / 100k tracked failing IPs, with 1k / 10k / 100k bans.
// Fail2Ban is given a time limit per step; a restore it does not finish is reported as "> limit (N
// restored so far)", and the tracked-IPs curve stops at the first step it cannot take in within its limit.
// Run: npm run build && node dist/bench/compare.js [--attackers 30] [--limit 120] [--feed-limit 60]
import './dms-environment.js';
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { fail2banUnavailable } from '../test/compat/fail2ban-server.js';
import { sleep } from '../test/e2e/daemon-process.js';
import { createPair, listen, netnsUnavailable, type Pair, tryConnect } from '../test/e2e/netns.js';
import { type Contender, type Kind, startContender } from './compare-daemons.js';
import { holds, listedCount, SetWatcher } from './compare-kernel.js';
import { benchTree, failureLine, JAIL, removeTree, seedFail2ban, seedPortcullis, type Tree } from './compare-tree.js';
import { asctimeMs, ipv4, percentile, rssMb } from './measure.js';
import { report } from './report.js';

const { values } = parseArgs({
  options: {
    attackers: { type: 'string', default: '30' },
    limit: { type: 'string', default: '120' },
    'feed-limit': { type: 'string', default: '60' },
    sizes: { type: 'string', default: '1000,10000,100000' },
  },
});
const ATTACKERS = Number(values.attackers);
const LIMIT_MS = Number(values.limit) * 1000;
const FEED_LIMIT_MS = Number(values['feed-limit']) * 1000;
const SIZES = values.sizes.split(',').map(Number);
const command = `node dist/bench/compare.js${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const SET = `addr-set-${JAIL}`;
/** An attacker not in the kernel this long after its third failure counts as a miss. */
const MISS_MS = 20_000;
const KINDS: Kind[] = ['portcullis', 'fail2ban'];

const skip = netnsUnavailable(['nft']) ?? fail2banUnavailable();
if (skip) {
  console.error(`bench/compare cannot run: ${skip}`);
  process.exit(2);
}

const clock = () => performance.timeOrigin + performance.now();
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 1 : 0 });
const ratio = (theirs: number, ours: number) => `×${(theirs / ours).toFixed(theirs / ours < 10 ? 1 : 0)}`;

// Everything a run holds, so that a failure or a signal still stops the daemons and deletes the
// namespaces (createPair also deletes its namespaces when the process exits).
const live = new Set<Contender>();
const liveTrees = new Set<Tree>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const c of live) c.kill();
    for (const t of liveTrees) removeTree(t);
    process.exit(130);
  });
}

interface Run {
  tree: Tree;
  pair: Pair;
  watcher: SetWatcher;
}

/** A fresh tree, namespace pair and kernel watcher for one measurement; all removed afterwards. */
async function withRun<T>(body: (run: Run) => Promise<T>): Promise<T> {
  const tree = benchTree();
  liveTrees.add(tree);
  let pair: Pair | undefined;
  let watcher: SetWatcher | undefined;
  try {
    pair = createPair('cmp');
    watcher = await SetWatcher.start(pair.server);
    return await body({ tree, pair, watcher });
  } finally {
    await watcher?.close();
    pair?.destroy();
    removeTree(tree);
    liveTrees.delete(tree);
  }
}

async function withContender<T>(kind: Kind, run: Run, readyTimeoutMs: number, body: (c: Contender) => Promise<T>): Promise<T> {
  const contender = await startContender(kind, run.tree, run.pair.server, readyTimeoutMs);
  live.add(contender);
  try {
    return await body(contender);
  } finally {
    watching[kind] ??= fileBackend(contender);
    await contender.stop();
    live.delete(contender);
  }
}

/** How each daemon followed the mail log, as its own log (INFO) says; recorded with the results. */
const watching: Partial<Record<Kind, string>> = {};
function fileBackend(c: Contender): string {
  const log = c.log();
  if (c.kind === 'fail2ban') {
    // Fail2Ban 1.0: "Initiated 'pyinotify' backend" / "Jail 'x' uses poller {}" (auto falls back to polling without pyinotify).
    const initiated = /Initiated '(\w+)' backend/.exec(log)?.[1];
    const uses = /Jail '[^']+' uses (\w+)/.exec(log)?.[1];
    const backend = initiated ?? (uses === 'poller' ? 'polling' : uses) ?? 'unknown (not in its log)';
    return backend === 'polling'
      ? 'polling (python3-pyinotify missing, unlike docker-mailserver; stat every 0.2 s rising to 2 s while idle)'
      : `${backend}, as in docker-mailserver`;
  }
  return 'inotify (fs.watch) with a 1 s stat poll as safety net';
}

function fail(tree: Tree, ip: string, times: number): void {
  appendFileSync(tree.mailLog, failureLine(ip).repeat(times));
}

/** Polls a daemon's counters; Fail2Ban's are read by a Python client, so it is polled less often. */
async function until(kind: Kind, check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(kind === 'fail2ban' ? 1000 : 100);
  }
}

/** When each address's `Ban` line was logged (epoch ms, millisecond resolution). */
function banLogged(log: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of log.matchAll(/^(\S+ \S+) fail2ban\.actions\s*\[\d+\]: NOTICE\s+\[\S+\] Ban (\S+)$/gm)) {
    if (!out.has(m[2]!)) out.set(m[2]!, asctimeMs(m[1]!));
  }
  return out;
}

interface Latency {
  median: number;
  p99: number;
  /** Appended → the daemon's `Ban` log line (the decision, before the firewall call): median. */
  decided: number;
  /** TCP connect from the attacker namespace before → after its ban, e.g. `connected → timeout`. */
  packets: string;
  /** Attackers whose ban did not reach the kernel within MISS_MS, with where it stopped. */
  misses: string[];
}

/** Third failure appended → address committed to the nftables set; then a real drop from the attacker. */
function latency(kind: Kind): Promise<Latency> {
  return withRun((run) =>
    withContender(kind, run, 15_000, async (daemon) => {
      const listener = await listen(run.pair.server, [143]);
      try {
        // Warm-up: the first ban creates Fail2Ban's table, chain and set (actionstart on demand).
        fail(run.tree, '198.51.100.1', 3);
        if ((await run.watcher.bannedAt('198.51.100.1', 30_000)) === null) throw new Error(`${kind}: warm-up ban never reached the kernel`);
        const attackers = Array.from({ length: ATTACKERS }, (_, i) => `203.0.113.${i + 1}`);
        for (const ip of attackers) fail(run.tree, ip, 2);
        const counted = await until(kind, async () => (await daemon.failures()).total >= 3 + 2 * ATTACKERS, 60_000);
        if (!counted) throw new Error(`${kind}: the first ${2 * ATTACKERS} failures were not counted within 60 s`);
        const times: number[] = [];
        const missed: string[] = [];
        const appendedAt = new Map<string, number>();
        for (const ip of attackers) {
          const appended = clock();
          appendedAt.set(ip, appended);
          fail(run.tree, ip, 1);
          const at = await run.watcher.bannedAt(ip, MISS_MS);
          if (at === null) missed.push(ip);
          else times.push(at - appended);
        }
        if (times.length === 0) throw new Error(`${kind}: no attacker reached the kernel within ${MISS_MS / 1000} s`);
        times.sort((a, b) => a - b);
        const logged = banLogged(daemon.log());
        const decided = attackers
          .filter((ip) => logged.has(ip))
          // The log's timestamps are whole milliseconds, the append time is not: clamp at 0, not "-0 ms".
          .map((ip) => Math.max(0, logged.get(ip)! - appendedAt.get(ip)!))
          .sort((a, b) => a - b);
        // A miss is a finding, not a reason to drop the run: say where the ban stopped.
        const misses: string[] = [];
        for (const ip of missed) {
          const where = logged.has(ip) ? 'Ban logged' : 'no Ban logged';
          misses.push(`${ip} (${where}, ${(await holds(run.pair.server, SET, ip)) ? 'in the set later' : 'not in the set'})`);
        }
        // End to end with packets: the attacker namespace connects, gets banned, and is dropped.
        const before = await tryConnect(run.pair.attacker, run.pair.serverV4, 143, 1000);
        fail(run.tree, run.pair.attackerV4, 3);
        const banned = await run.watcher.bannedAt(run.pair.attackerV4, 20_000);
        const after = banned === null ? 'not banned' : await tryConnect(run.pair.attacker, run.pair.serverV4, 143, 300);
        return {
          median: percentile(times, 50),
          p99: percentile(times, 99),
          decided: decided.length > 0 ? percentile(decided, 50) : Number.NaN,
          packets: `${before} → ${after}`,
          misses,
        };
      } finally {
        await listener.close();
      }
    }),
  );
}

interface Restore {
  /** ms from spawn until the kernel set held every ban, or null when the limit came first. */
  ms: number | null;
  /** How precise `ms` is: 0 when event-stamped by the monitor, else the gap between two listings. */
  resolution: number;
  inKernel: number;
  rss: number;
  /** ms from spawn to the daemon's "Restored N ban(s)" log line, when it writes one. */
  logged: number | null;
}

/**
 * When the set first held `count` elements: the monitor's stamp if it saw them all (it keeps up with
 * one-by-one adds), else the start of the first listing that counted them all (the listing's netlink
 * dump happens at its start), whichever is earlier. Listings run every 250 ms from spawn.
 */
async function kernelHolds(run: Run, count: number, spawned: number, deadline: number, stopped: () => boolean) {
  let previous = spawned;
  let listed = 0;
  for (;;) {
    const started = clock();
    listed = await listedCount(run.pair.server, SET);
    if (run.watcher.count >= count) {
      const at = Math.min(Math.max(...run.watcher.added.values()), listed >= count ? started : Number.POSITIVE_INFINITY);
      return { at, resolution: 0, inKernel: count };
    }
    if (listed >= count) return { at: started, resolution: started - previous, inKernel: listed };
    if (clock() > deadline || stopped()) return { at: null, resolution: 0, inKernel: Math.max(listed, run.watcher.count) };
    previous = started;
    await sleep(250);
  }
}

/** Server spawned with `count` stored bans → all of them in the kernel set (or the limit). */
function restore(kind: Kind, count: number): Promise<Restore> {
  return withRun(async (run) => {
    const now = Date.now() / 1000;
    if (kind === 'portcullis') seedPortcullis(run.tree, count, now);
    else seedFail2ban(run.tree, count, now);
    const spawned = clock();
    // The restore may finish before the server answers its socket, so the kernel is watched from spawn.
    let failed = false;
    const starting = startContender(kind, run.tree, run.pair.server, LIMIT_MS).then(
      (daemon) => {
        live.add(daemon);
        return daemon;
      },
      (err: unknown) => {
        failed = true;
        throw err;
      },
    );
    const held = await kernelHolds(run, count, spawned, spawned + LIMIT_MS, () => failed);
    const daemon = await starting;
    try {
      const rss = rssMb(daemon.pid);
      // portcullis logs `[jail] Restored N ban(s)` once its nft transaction has returned: a tighter
      // upper bound than a listing of a large set can give (Fail2Ban logs no such line).
      const line = /^(\S+ \S+) fail2ban\.actions\s*\[\d+\]: NOTICE\s+\[\S+\] Restored \d+ ban/m.exec(daemon.log());
      const logged = line ? asctimeMs(line[1]!) - spawned : null;
      if (held.at === null) return { ms: null, resolution: 0, inKernel: held.inKernel, rss, logged };
      return { ms: held.at - spawned, resolution: held.resolution, inKernel: held.inKernel, rss, logged };
    } finally {
      await daemon.stop();
      live.delete(daemon);
    }
  });
}

interface Tracked {
  idle: number;
  steps: Array<{ target: number; reached: number; rss: number; ms: number; done: boolean }>;
}

/** RSS at idle, then with SIZES tracked failing IPs (one failure each), fed in growing steps. */
function tracked(kind: Kind): Promise<Tracked> {
  return withRun((run) =>
    withContender(kind, run, 15_000, async (daemon) => {
      await sleep(1000);
      const result: Tracked = { idle: rssMb(daemon.pid), steps: [] };
      let fed = 0;
      for (const target of SIZES) {
        const started = clock();
        const chunk = 10_000;
        for (let from = fed; from < target; from += chunk) {
          let text = '';
          for (let i = from; i < Math.min(target, from + chunk); i++) text += failureLine(ipv4(i));
          appendFileSync(run.tree.mailLog, text);
        }
        fed = target;
        let reached = 0;
        const done = await until(
          kind,
          async () => {
            reached = (await daemon.failures()).current;
            return reached >= target;
          },
          FEED_LIMIT_MS,
        );
        result.steps.push({ target, reached, rss: rssMb(daemon.pid), ms: clock() - started, done });
        if (!done) break;
      }
      return result;
    }),
  );
}

const loadStart = loadavg();
console.log(`load average at start: ${loadStart.map((l) => l.toFixed(2)).join(' ')} (2 cores; other work on the machine skews both daemons alike)`);

// 1. Ban latency
const lat: Partial<Record<Kind, Latency>> = {};
for (const kind of KINDS) lat[kind] = await latency(kind);
const missText = (l: Latency, who: string) =>
  l.misses.length === 0 ? '' : `. ${who} missed ${l.misses.length} of ${ATTACKERS} (not in the set within ${MISS_MS / 1000} s): ${l.misses.join(', ')}`;
const ours = lat.portcullis!;
const theirs = lat.fail2ban!;
report(
  `compare: ban latency, 3rd failure appended → address in the nftables set (${ATTACKERS} attackers, sequential)`,
  `portcullis median ${fmt(ours.median)} ms, p99 ${fmt(ours.p99)} ms; fail2ban median ${fmt(theirs.median)} ms, p99 ${fmt(theirs.p99)} ms; fail2ban ÷ portcullis ${ratio(theirs.median, ours.median)} (median). Of which append → "Ban" logged, median: portcullis ${fmt(ours.decided)} ms, fail2ban ${fmt(theirs.decided)} ms${missText(ours, 'portcullis')}${missText(theirs, 'fail2ban')}`,
  'portcullis p99 < 50 ms',
  ours.p99 < 50,
);
report(
  'compare: how each daemon follows the log (both at loglevel INFO, from the same fail2ban.local)',
  `portcullis: ${watching.portcullis ?? '?'}; fail2ban: ${watching.fail2ban ?? '?'}`,
);
report(
  'compare: TCP connect from the attacker namespace, before → after its ban (blocktype drop)',
  `portcullis ${ours.packets}; fail2ban ${theirs.packets}`,
  'connected → timeout',
);

// 2 + 3 + 4. Restoring bans at start (and RSS holding them), growing; Fail2Ban stops at the limit.
const limitText = `${LIMIT_MS / 1000} s`;
for (const count of SIZES) {
  const p = await restore('portcullis', count);
  const f = await restore('fail2ban', count);
  const n = count.toLocaleString('en-US');
  let theirsTime: string;
  let theirsRss: string;
  let speed = '';
  if (f.ms === null) {
    theirsTime = `> ${limitText} (${f.inKernel.toLocaleString('en-US')} restored so far, ${fmt(f.inKernel / (LIMIT_MS / 1000))}/s)`;
    theirsRss = `${fmt(f.rss)} MB (${f.inKernel.toLocaleString('en-US')} in the kernel)`;
    if (p.ms !== null) speed = `; fail2ban ÷ portcullis > ${ratio(LIMIT_MS, p.ms)}`;
  } else {
    theirsTime = `${fmt(f.ms)} ms`;
    theirsRss = `${fmt(f.rss)} MB`;
    if (p.ms !== null) speed = `; fail2ban ÷ portcullis ${ratio(f.ms, p.ms)}`;
  }
  const within = (r: Restore) => (r.resolution > 0 ? ` (listing resolution ${fmt(r.resolution)} ms)` : '');
  const oursLog = p.logged === null ? '' : `, its "Restored" log line at ${fmt(p.logged)} ms`;
  const oursTime = `${p.ms === null ? `> ${limitText} (${p.inKernel.toLocaleString('en-US')} restored so far)` : `${fmt(p.ms)} ms${within(p)}`}${oursLog}`;
  if (f.ms !== null) theirsTime += within(f);
  report(`compare: restore ${n} stored bans at start, spawn → all in the nftables set`, `portcullis ${oursTime}; fail2ban ${theirsTime}${speed}`);
  report(
    `compare: RSS with ${n} bans (right after the restore)`,
    `portcullis ${fmt(p.rss)} MB; fail2ban ${theirsRss}${f.ms !== null ? `; fail2ban ÷ portcullis ${ratio(f.rss, p.rss)}` : ''}`,
  );
}

const tr: Partial<Record<Kind, Tracked>> = {};
for (const kind of KINDS) tr[kind] = await tracked(kind);
report('compare: RSS at idle (dovecot jail, nftables)', `portcullis ${fmt(tr.portcullis!.idle)} MB; fail2ban ${fmt(tr.fail2ban!.idle)} MB; fail2ban ÷ portcullis ${ratio(tr.fail2ban!.idle, tr.portcullis!.idle)}`);
for (const [i, target] of SIZES.entries()) {
  const p = tr.portcullis!.steps[i];
  const f = tr.fail2ban!.steps[i];
  const n = target.toLocaleString('en-US');
  const ourText = p ? `${fmt(p.rss)} MB (fed in ${fmt(p.ms)} ms)` : 'not reached';
  let theirText = `not run (a smaller step already exceeded ${FEED_LIMIT_MS / 1000} s)`;
  if (f?.done) theirText = `${fmt(f.rss)} MB (fed in ${fmt(f.ms)} ms); fail2ban ÷ portcullis ${p ? ratio(f.rss, p.rss) : '?'}`;
  else if (f) theirText = `${fmt(f.rss)} MB with ${f.reached.toLocaleString('en-US')} tracked (> ${FEED_LIMIT_MS / 1000} s to take them in)`;
  report(`compare: RSS with ${n} tracked failing IPs (1 failure each)`, `portcullis ${ourText}; fail2ban ${theirText}`);
}

const loadEnd = loadavg();
report('compare: load average (1, 5, 15 min) at start → end', `${loadStart.map((l) => l.toFixed(2)).join(' ')} → ${loadEnd.map((l) => l.toFixed(2)).join(' ')}`);
console.log(`command: ${command}`);
