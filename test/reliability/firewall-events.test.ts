// The firewall check driven by the kernel's nftables change notifications (native/nfnetlink.c's watch,
// src/server/firewall-checks.ts), against the real daemon and real nftables in a network namespace. The
// periodic check is a day apart (`--check-interval 86400`), so whatever repairs within a second below
// was started by a notification:
// - `nft flush ruleset`: table, chain, sets, rules and every ban back;
// - a ban's element deleted by hand: back;
// - a rule inserted before ours that accepts: the bypass warning logged;
// - the daemon's own 1,000 bans and unbans in a batch: no check at all (the C side drops our own
//   transactions; counted by the log line each notified check writes);
// - notifications the kernel dropped (ENOBUFS) are reported as an overflow, for a full check;
// - without the netlink path (PORTCULLIS_NETLINK=off) or the notifications (PORTCULLIS_NFT_EVENTS=off)
//   the periodic check still repairs.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { type TableChange, watchTable } from '../../src/firewall/nftables-events.js';
import { control, type DaemonDirs, removeDirs, type RunningDaemon, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { mailSetup } from '../e2e/mail-log.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from '../e2e/netns.js';

const skip = netnsUnavailable(['nft']);
const NOTIFIED = /our nftables table was changed by another program; checking the firewall/g;

function nft(ns: string, args: string): { status: number | null; stdout: string } {
  return spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', `nft ${args}`], { encoding: 'utf8' });
}

function elements(ns: string, set: string): string {
  return nft(ns, `list set inet f2b-table ${set}`).stdout;
}

/** 1,000 documentation-range addresses. */
const thousand = Array.from({ length: 1000 }, (_, i) => `198.18.${i >> 8}.${i & 255}`);

describe('reliability: the firewall check runs on the kernel\'s change notifications', { skip: skip ?? false }, () => {
  let pair: Pair;
  let daemon: RunningDaemon | null = null;
  let dirs: DaemonDirs;
  const notified = () => daemon!.log().match(NOTIFIED)?.length ?? 0;

  before(async () => {
    pair = createPair('fwev');
    ({ dirs } = mailSetup());
    daemon = await startDaemon(dirs, { prefix: inNamespace(pair.server), args: ['--check-interval', '86400'] });
    await control(dirs).request({ cmd: 'ban', jail: 'dovecot', ips: ['203.0.113.20', '203.0.113.21'] });
    await control(dirs).request({ cmd: 'ban', jail: 'postfix', ips: ['198.51.100.7', '2001:db8::66'] });
    await waitFor('bans in the kernel', () => (elements(pair.server, 'addr-set-dovecot').includes('203.0.113.21') && elements(pair.server, 'addr6-set-postfix').includes('2001:db8::66')) || null, 5000);
  });
  after(async () => {
    if (process.env.SHOWLOG) console.log(daemon?.log());
    await daemon?.stop();
    pair?.destroy();
    if (dirs) removeDirs(dirs);
  });

  it('the daemon\'s own 1,000 bans and unbans in a batch start no check', { timeout: 30_000 }, async () => {
    const before = notified();
    await control(dirs).request({ cmd: 'ban', jail: 'dovecot', ips: thousand });
    await waitFor('1,000 bans in the kernel', () => elements(pair.server, 'addr-set-dovecot').includes('198.18.3.231') || null, 10_000);
    await control(dirs).request({ cmd: 'unban', jail: 'dovecot', ips: thousand });
    await waitFor('1,000 unbans in the kernel', () => (!elements(pair.server, 'addr-set-dovecot').includes('198.18.3.231') && !elements(pair.server, 'addr-set-dovecot').includes('198.18.0.0')) || null, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500)); // a check would have been logged by now
    assert.equal(notified(), before, 'no check was started by our own writes');
    assert.doesNotMatch(daemon!.log(), /notifications were lost/);
  });

  it('`nft flush ruleset`: table, rules and every ban back within a second', { timeout: 30_000 }, async () => {
    assert.equal(nft(pair.server, 'flush ruleset').status, 0);
    assert.equal(nft(pair.server, 'list tables').stdout, '', 'flushed');
    const t0 = Date.now();
    await waitFor(
      'rules and bans of both jails restored',
      () =>
        (elements(pair.server, 'addr-set-dovecot').includes('203.0.113.20') &&
          elements(pair.server, 'addr-set-postfix').includes('198.51.100.7') &&
          elements(pair.server, 'addr6-set-postfix').includes('2001:db8::66')) ||
        null,
      5000,
    );
    const ms = Date.now() - t0;
    assert.ok(ms < 1500, `restored after ${ms} ms`);
    assert.match(nft(pair.server, 'list chain inet f2b-table f2b-chain').stdout, /@addr-set-dovecot/, 'the rule using the set is back');
    assert.match(daemon!.log(), /ERROR.*\[dovecot\] firewall rules missing; restoring them and 2 ban\(s\)/);
  });

  it('a ban\'s element deleted by hand is back within a second', { timeout: 30_000 }, async () => {
    // The element check is spaced out after a reading (see nftables.ts audit()): let the last one age.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(nft(pair.server, 'delete element inet f2b-table addr-set-dovecot { 203.0.113.21 }').status, 0);
    assert.doesNotMatch(elements(pair.server, 'addr-set-dovecot'), /203\.0\.113\.21/, 'deleted');
    const t0 = Date.now();
    await waitFor('the element back', () => elements(pair.server, 'addr-set-dovecot').includes('203.0.113.21') || null, 5000);
    const ms = Date.now() - t0;
    assert.ok(ms < 1500, `restored after ${ms} ms`);
    assert.match(daemon!.log(), /ERROR.*\[dovecot\] 1 ban\(s\) were missing from the kernel; put them back/);
  });

  it('a rule inserted before ours that accepts is warned about', { timeout: 30_000 }, async () => {
    assert.equal(nft(pair.server, 'insert rule inet f2b-table f2b-chain ip saddr 192.0.2.99 accept').status, 0);
    await waitFor('the bypass warning', () => /WARNING.*\[dovecot\] rule "ip saddr 192\.0\.2\.99 accept".*lets banned addresses in/.test(daemon!.log()) || null, 1500);
  });
});

for (const off of ['PORTCULLIS_NETLINK', 'PORTCULLIS_NFT_EVENTS']) describe(`reliability: with ${off}=off the periodic check still repairs`, { skip: skip ?? false }, () => {
  let pair: Pair;
  let daemon: RunningDaemon | null = null;
  let dirs: DaemonDirs;
  before(async () => {
    pair = createPair('fwep');
    ({ dirs } = mailSetup());
    daemon = await startDaemon(dirs, { prefix: inNamespace(pair.server), env: { [off]: 'off' }, args: ['--check-interval', '0.5'] });
    await control(dirs).request({ cmd: 'ban', jail: 'dovecot', ips: ['203.0.113.20'] });
    await waitFor('ban in the kernel', () => elements(pair.server, 'addr-set-dovecot').includes('203.0.113.20') || null, 5000);
  });
  after(async () => {
    await daemon?.stop();
    pair?.destroy();
    if (dirs) removeDirs(dirs);
  });

  it('`nft flush ruleset` is repaired by the periodic check, with no notification', { timeout: 30_000 }, async () => {
    assert.equal(nft(pair.server, 'flush ruleset').status, 0);
    await waitFor('the ban back', () => elements(pair.server, 'addr-set-dovecot').includes('203.0.113.20') || null, 5000);
    assert.match(daemon!.log(), /ERROR.*\[dovecot\] firewall rules missing/);
    assert.doesNotMatch(daemon!.log(), NOTIFIED);
  });
});

describe('reliability: notifications the kernel dropped are reported', { skip: skip ?? false }, () => {
  let pair: Pair;
  before(() => {
    pair = createPair('fweo');
  });
  after(() => pair?.destroy());

  it('ENOBUFS on the watch socket calls back with overflow', { timeout: 30_000 }, () => {
    const seen: TableChange[] = [];
    // A 64 KiB buffer, and the event loop blocked while another program commits 5,000 elements (to
    // another table: nothing of ours changed, but what the lost messages said is unknown).
    const watch = watchTable('f2b-table', (why) => seen.push(why), `/run/netns/${pair.server}`, 64 * 1024);
    assert.notEqual(typeof watch, 'string', `the netlink addon must be built for this test: ${String(watch)}`);
    const elements = Array.from({ length: 5000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(', ');
    execFileSync('ip', ['netns', 'exec', pair.server, 'nft', '-f', '-'], {
      input: `add table inet other\nadd set inet other s { type ipv4_addr; }\nadd element inet other s { ${elements} }\n`,
    });
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        (watch as { close(): void }).close();
        assert.deepEqual(seen, ['overflow']);
        resolve();
      }, 200),
    );
  });
});
