// The control path under a flood of new attacker addresses (real nftables in a network namespace):
// 50,000 failure lines/s for 10 s, every three lines a new address, into the mail log. Meanwhile an
// admin bans an address by hand every 300 ms in another jail and pings. Each ban must be answered,
// which the daemon does only once the firewall took it, within 1 s; every one of them must be in the
// kernel afterwards, and that jail's set must hold exactly them.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { control, type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon } from '../e2e/daemon-process.js';
import { dovecotFailure, mailSetup, syslogStamp } from '../e2e/mail-log.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from '../e2e/netns.js';

const skip = netnsUnavailable(['nft']);
const RATE = Number(process.env.FLOOD_RATE ?? 50_000);
const SECONDS = Number(process.env.FLOOD_SECONDS ?? 10);

describe('reliability: control commands during a flood of new addresses', { skip: skip ?? false }, () => {
  let pair: Pair | null = null;
  let daemon: RunningDaemon | null = null;
  let dirs: DaemonDirs | null = null;
  after(async () => {
    await daemon?.kill();
    pair?.destroy();
    if (dirs) removeDirs(dirs);
  });

  it(`${RATE} lines/s for ${SECONDS} s: manual bans answered at once and in the kernel within 1 s (p50; 5 s at worst)`, { timeout: SECONDS * 1000 + 60_000 }, async (t) => {
    pair = createPair('relf');
    const setup = mailSetup();
    dirs = setup.dirs;
    daemon = await startDaemon(dirs, { prefix: inNamespace(pair.server) });
    const d = dirs;
    let writing = true;
    const manual: string[] = [];
    const latencies: number[] = [];
    const pings: number[] = [];
    const admin = (async () => {
      for (let k = 1; writing; k++) {
        const ip = `198.18.${k >> 8}.${k & 255}`;
        let started = Date.now();
        assert.equal(await control(d).request({ cmd: 'ping' }), 'pong');
        pings.push(Date.now() - started);
        started = Date.now();
        assert.equal(await control(d).request({ cmd: 'ban', jail: 'custom', ips: [ip] }), 1);
        latencies.push(Date.now() - started);
        manual.push(ip);
        await sleep(300);
      }
    })();
    const stamp = syslogStamp();
    let n = 0;
    const t0 = Date.now();
    for (let tick = 0; tick < SECONDS * 10; tick++) {
      let chunk = '';
      for (let i = 0; i < RATE / 10; i++, n++) {
        const a = Math.floor(n / 3);
        chunk += dovecotFailure(`10.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}`, stamp);
      }
      appendFileSync(setup.mailLog, chunk);
      const wait = t0 + (tick + 1) * 100 - Date.now();
      if (wait > 0) await sleep(wait);
    }
    writing = false;
    await admin;
    const sorted = [...latencies].sort((a, b) => a - b);
    t.diagnostic(`${n} lines in ${(Date.now() - t0) / 1000} s; ${manual.length} manual bans, latency p50 ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms; pings ${pings.join(' ')}`);
    assert.ok(manual.length >= SECONDS, `only ${manual.length} manual bans were made`);
    // The control path itself never waits behind the flood.
    assert.ok(Math.max(...pings) < 1000, `a ping took ${Math.max(...pings)} ms`);
    // A manual ban is confirmed once nft has it. Typically within 1 s; but nft 1.0.6 reads every element
    // of the ruleset (here ~160,000 flood bans) before any change, so a ban that arrives while such a
    // transaction runs waits for it: bounded, not instant (README, Known gaps).
    assert.ok(sorted[sorted.length >> 1]! < 1000, `half the manual bans took ${sorted[sorted.length >> 1]} ms or more`);
    assert.ok(sorted.at(-1)! < 5000, `a manual ban took ${sorted.at(-1)} ms`);
    const set = spawnSync('ip', ['netns', 'exec', pair.server, 'nft', 'list', 'set', 'inet', 'f2b-table', 'addr-set-custom'], { encoding: 'utf8' }).stdout;
    const held = (set.match(/\d+\.\d+\.\d+\.\d+/g) ?? []).sort();
    assert.deepEqual(held, [...manual].sort(), 'the custom set holds exactly the manual bans');
  });
});
