// Case 1: a log flood. docker-mailserver noise at FLOOD_RATE lines/s (default 50,000) for FLOOD_SECONDS
// (default 30) with attackers (3 failures each) and near-misses (2 failures each) mixed in. Proves that
// no failure is lost, that exactly the attackers are banned, and that the daemon keeps up; prints the
// measured throughput and the ban delay under flood.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor } from '../e2e/daemon-process.js';
import {
  addresses,
  allBans,
  dovecotFailure,
  dovecotLoginFailure,
  jailStatus,
  mailSetup,
  noiseLine,
  postfixSaslFailure,
  rng,
  runSeed,
  syslogStamp,
} from '../e2e/mail-log.js';

const RATE = Number(process.env.FLOOD_RATE ?? 50_000);
const SECONDS = Number(process.env.FLOOD_SECONDS ?? 30);
const ATTACKERS = 1000;
const NEAR_MISSES = 20_000;
const NOISE_IPS = 5000;

type Jail = 'dovecot' | 'postfix';
interface Event {
  ip: string;
  jail: Jail;
  /** The attacker's third failure: its write time is the start of the ban delay. */
  last: boolean;
}

function failureLine(e: Event, stamp: string, k: number): string {
  if (e.jail === 'postfix') return postfixSaslFailure(e.ip, stamp);
  return k % 2 === 0 ? dovecotFailure(e.ip, stamp) : dovecotLoginFailure(e.ip, stamp);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

describe('reliability: log flood', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it(`${RATE} lines/s for ${SECONDS} s: no failure lost, exactly the attackers banned, the daemon keeps up`, { timeout: SECONDS * 1000 + 120_000 }, async (t) => {
    const seed = runSeed();
    t.diagnostic(`seed ${seed} (RELIABILITY_SEED=${seed} replays it)`);
    const random = rng(seed);
    const total = RATE * SECONDS;
    const attackers = addresses('172.20', ATTACKERS);
    const nearMisses = addresses('192.168', NEAR_MISSES);
    const noiseIps = addresses('10.9', NOISE_IPS);

    // Plan the failures at random line positions in the first 90% of the flood.
    const events = new Map<number, Event>();
    const expected = { dovecot: 0, postfix: 0 };
    const place = (e: Event) => {
      let at: number;
      do at = Math.floor(random() * total * 0.9);
      while (events.has(at));
      events.set(at, e);
      expected[e.jail]++;
    };
    const jailOf = (): Jail => (random() < 0.5 ? 'dovecot' : 'postfix');
    for (const ip of attackers) {
      const jail = jailOf();
      // Positions are random, so which of the three is last is decided when it is written.
      for (let k = 0; k < 3; k++) place({ ip, jail, last: false });
    }
    for (const ip of nearMisses) {
      const jail = jailOf();
      for (let k = 0; k < 2; k++) place({ ip, jail, last: false });
    }

    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run', '--loglevel', 'NOTICE'] });
    running.push(daemon);

    const seen = new Map<string, number>(); // failures written per attacker
    const thirdWritten = new Map<string, number>();
    const bannedAt = new Map<string, number>();
    let written = 0;
    let failuresWritten = 0;
    let maxLag = 0;
    const start = Date.now();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const now = Date.now();
        const [d, p] = await Promise.all([jailStatus(dirs, 'dovecot'), jailStatus(dirs, 'postfix')]);
        for (const ip of [...d.bannedIps, ...p.bannedIps]) if (!bannedAt.has(ip)) bannedAt.set(ip, now);
        maxLag = Math.max(maxLag, failuresWritten - (d.totalFailed + p.totalFailed));
        await sleep(200);
      }
    })();

    const attackerSet = new Set(attackers);
    while (written < total) {
      const target = Math.min(total, Math.floor(((Date.now() - start) / 1000) * RATE) + Math.floor(RATE / 20));
      const stamp = syslogStamp();
      const chunk: string[] = [];
      const thirds: string[] = [];
      for (; written < target; written++) {
        const e = events.get(written);
        if (e === undefined) {
          chunk.push(noiseLine(noiseIps[written % NOISE_IPS]!, written, stamp));
          continue;
        }
        chunk.push(failureLine(e, stamp, written));
        failuresWritten++;
        if (attackerSet.has(e.ip)) {
          const n = (seen.get(e.ip) ?? 0) + 1;
          seen.set(e.ip, n);
          if (n === 3) thirds.push(e.ip);
        }
      }
      appendFileSync(mailLog, chunk.join(''));
      const at = Date.now();
      for (const ip of thirds) thirdWritten.set(ip, at);
      await sleep(50);
    }
    const writeSeconds = (Date.now() - start) / 1000;

    const want = expected.dovecot + expected.postfix;
    await waitFor(
      `all ${want} failures counted`,
      async () => {
        const [d, p] = await Promise.all([jailStatus(dirs, 'dovecot'), jailStatus(dirs, 'postfix')]);
        return d.totalFailed + p.totalFailed >= want || null;
      },
      60_000,
    );
    const caughtUp = (Date.now() - start) / 1000;
    polling = false;
    await poller;
    const [d, p] = await Promise.all([jailStatus(dirs, 'dovecot'), jailStatus(dirs, 'postfix')]);
    for (const ip of [...d.bannedIps, ...p.bannedIps]) if (!bannedAt.has(ip)) bannedAt.set(ip, Date.now());

    const delays = attackers.map((ip) => (bannedAt.get(ip) ?? Number.NaN) - (thirdWritten.get(ip) ?? Number.NaN)).sort((a, b) => a - b);
    t.diagnostic(
      `wrote ${total} lines (${want} failures) in ${writeSeconds.toFixed(1)} s = ${Math.round(total / writeSeconds)} lines/s; ` +
        `all counted after ${caughtUp.toFixed(1)} s = ${Math.round(total / caughtUp)} lines/s; max lag ${maxLag} failures`,
    );
    t.diagnostic(
      `ban delay under flood (third failure written → listed by status, 200 ms polling): ` +
        `median ${percentile(delays, 0.5)} ms, p95 ${percentile(delays, 0.95)} ms, max ${delays[delays.length - 1]} ms`,
    );

    assert.equal(d.totalFailed, expected.dovecot, 'every dovecot failure counted once');
    assert.equal(p.totalFailed, expected.postfix, 'every postfix failure counted once');
    const bans = await allBans(dirs);
    assert.deepEqual(bans.map((b) => b.split(' ')[1]).sort(), [...attackers].sort(), 'exactly the attackers banned');
    assert.ok(caughtUp - writeSeconds < 10, `the daemon was ${(caughtUp - writeSeconds).toFixed(1)} s behind at the end`);
    assert.ok(percentile(delays, 0.95) < 3000, `p95 ban delay ${percentile(delays, 0.95)} ms`);
    assert.equal(await daemon.stop(), 0);
  });
});
