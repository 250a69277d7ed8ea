// Firewall throughput: 100,000 bans in one batch, against Fail2Ban's one process per ban, and the
// latency of a single ban. Runs in a throw-away network namespace (root needed); the host's ruleset is
// never touched.
// Usage: npm run build && node dist/bench/firewall.js [--bans 100000] [--single 1000] [--samples 200]
import './dms-environment.js';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { type Address, parseAddress } from '../src/firewall/address.js';
import type { BanEntry, Firewall, FirewallJail } from '../src/firewall/firewall.js';
import { NftablesFirewall } from '../src/firewall/nftables.js';
import { commandRunner } from '../src/firewall/runner.js';
import { type BackendName, createBackend } from '../src/firewall/select.js';
import { percentile } from './measure.js';
import { report } from './report.js';

const { values } = parseArgs({
  options: {
    bans: { type: 'string', default: '100000' },
    single: { type: 'string', default: '1000' },
    samples: { type: 'string', default: '200' },
  },
});
const BANS = Number(values.bans);
const SINGLE = Number(values.single);
const SAMPLES = Number(values.samples);

if (process.getuid?.() !== 0) {
  console.error('bench/firewall needs root (it works in a network namespace)');
  process.exit(2);
}

const ns = `pcbench${process.pid}`;
const inNs = ['ip', 'netns', 'exec', ns];

function sh(argv: string[], input?: string): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

/** Addresses 10.x.y.z, distinct for i < 2^24. */
function address(i: number, base = 10): Address {
  return parseAddress(`${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`) as Address;
}

const ms = (t0: number) => performance.now() - t0;
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 1 });

async function started(backend: BackendName, jail: FirewallJail): Promise<Firewall> {
  const fw = createBackend(backend, { runner: commandRunner(inNs) });
  await fw.start(jail);
  return fw;
}

function range(from: number, count: number, base = 10): BanEntry[] {
  return Array.from({ length: count }, (_, i) => ({ address: address(from + i, base), timeout: 3600 }));
}

async function timed(task: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await task();
  return ms(t0);
}

/** Sequential single bans, each from the call to the kernel's acknowledgement of its element. */
async function singleStats(fw: Firewall, jail: FirewallJail, samples: number): Promise<{ p99: number; text: string }> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await timed(() => fw.ban(jail, range(i, 1, 11))));
  times.sort((a, b) => a - b);
  const p99 = percentile(times, 99);
  return { p99, text: `median ${fmt(percentile(times, 50))} ms, p99 ${fmt(p99)} ms (${samples} samples)` };
}

async function singleLatency(fw: Firewall, jail: FirewallJail, samples: number): Promise<string> {
  return (await singleStats(fw, jail, samples)).text;
}

/** Fail2Ban's way: one `nft add element` process per ban (what its nftables action runs). */
function perProcess(count: number, base: number): number {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const set = ['inet', 'f2b-table', 'addr-set-bench'];
    sh([...inNs, 'nft', 'add', 'element', ...set, `{ ${address(i, base).text} }`]);
  }
  return ms(t0) / count;
}

async function main(): Promise<void> {
  sh(['ip', 'netns', 'add', ns]);
  try {
    const jail: FirewallJail = { name: 'bench', ports: [25, 465, 587], protocol: 'tcp', blocktype: 'drop', interface: null };
    console.log(`portcullis firewall bench: ${fmt(BANS)} bans, namespace ${ns}, nft ${spawnSync('nft', ['--version'], { encoding: 'utf8' }).stdout.trim()}`);
    console.log(`command: node dist/bench/firewall.js --bans ${BANS} --single ${SINGLE} --samples ${SAMPLES}\n`);

    let fw = await started('nftables', jail);
    await fw.ban(jail, range(0, 1000, 12));
    report('firewall: nftables single ban, 1,000 held', await singleLatency(fw, jail, SAMPLES));
    const small = perProcess(SINGLE, 13);
    report("firewall: one nft process per ban (Fail2Ban's way), ~1,000 held", `${fmt(small)} ms each over ${fmt(SINGLE)} processes`);
    await fw.stop(jail);

    fw = await started('nftables', jail);
    const t0 = performance.now();
    const entries = range(0, BANS);
    const parse = ms(t0);
    const bulk = await timed(() => fw.ban(jail, entries));
    console.log(`\nparsing ${fmt(BANS)} addresses (done once per address, before the firewall): ${fmt(parse)} ms`);
    report(`firewall: nftables ${fmt(BANS)} bans in one batch (one nft -f -)`, `${fmt(bulk)} ms`, BANS === 100_000 ? '< 2 s' : '');
    report(`firewall: nftables single ban, ${fmt(BANS)} held (nft -f -)`, await singleLatency(fw, jail, 10));
    const burst = await timed(() => Promise.all(range(0, 1000, 14).map((e) => fw.ban(jail, [e]))));
    report(`firewall: nftables 1,000 concurrent single bans, ${fmt(BANS)} held (coalesced)`, `${fmt(burst)} ms in total`);
    const big = perProcess(5, 15);
    report(`firewall: one nft process per ban, ${fmt(BANS)} held`, `${fmt(big)} ms each (5 processes)`);
    const extrapolated = (small * BANS) / 1000;
    console.log(
      `one process per ban for ${fmt(BANS)} bans: at least ${fmt(extrapolated)} s, extrapolated from the ~1,000-held cost (not measured; ` +
        `each process gets slower as the set grows, up to ${fmt(big)} ms)`,
    );
    report(`firewall: ${fmt(BANS)} bans, batch vs one process per ban (extrapolated)`, `≥ ${fmt((extrapolated * 1000) / bulk)}× faster (≥ ${fmt(extrapolated)} s vs ${fmt(bulk)} ms)`);
    await fw.stop(jail);

    // The same through netlink (the daemon's path when the addon is built): elements straight to the kernel.
    const nl = new NftablesFirewall({ runner: commandRunner(inNs), netns: ns });
    await nl.start(jail);
    const nlBulk = await timed(() => nl.ban(jail, entries));
    if (nl.elementPath !== 'netlink') throw new Error('bench/firewall: the netlink path is not in use (is the addon built? npm rebuild)');
    const full = BANS === 100_000;
    report(`firewall: nftables ${fmt(BANS)} bans in one batch via netlink`, `${fmt(nlBulk)} ms`, full ? '< 2 s' : '', full ? nlBulk < 2000 : undefined);
    // Held, not just written: a batch that big makes the next one of the jail wait up to 250 ms (the
    // flood pacing in nftables.ts), which is not what a single ban costs with 100,000 held.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const nlSingle = await singleStats(nl, jail, SAMPLES);
    report(`firewall: nftables single ban via netlink, ${fmt(BANS)} held`, nlSingle.text, full ? 'p99 < 50 ms' : '', full ? nlSingle.p99 < 50 : undefined);
    if (nl.elementPath !== 'netlink') throw new Error('bench/firewall: netlink fell back to nft during the run');
    await nl.stop(jail);

    const ipset = await started('iptables-ipset', jail);
    const ipsetBulk = await timed(() => ipset.ban(jail, entries));
    report(`firewall: iptables-ipset ${fmt(BANS)} bans in one batch (one ipset restore)`, `${fmt(ipsetBulk)} ms`);
    report(`firewall: iptables-ipset single ban, ${fmt(BANS)} held`, await singleLatency(ipset, jail, SAMPLES));
    await ipset.stop(jail);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

await main();
