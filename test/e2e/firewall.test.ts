// Real bans in real kernels: each backend bans an attacker namespace from a server namespace, and the
// attacker's TCP connections show it. Every firewall command runs inside the server namespace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { type Address, parseAddress } from '../../src/firewall/address.js';
import type { BanEntry, Firewall, FirewallJail } from '../../src/firewall/firewall.js';
import { checkAndRepair } from '../../src/firewall/reconcile.js';
import { commandRunner } from '../../src/firewall/runner.js';
import { type BackendName, createBackend } from '../../src/firewall/select.js';
import { cliPath, daemonDirs, removeDirs, writeConfig } from './daemon-process.js';
import { createPair, inNamespace, type Listener, listen, netnsUnavailable, type Pair, tryConnect } from './netns.js';

const skip = netnsUnavailable(['nft', 'iptables', 'ip6tables', 'ipset']) ?? false;
const BANNED_PORT = 143;
const OTHER_PORT = 8080;

const addr = (text: string): Address => parseAddress(text) as Address;
const ban = (text: string, timeout: number | null = 600): BanEntry => ({ address: addr(text), timeout });

function jail(ports: number[] | null, blocktype: 'drop' | 'reject', name = 'dovecot'): FirewallJail {
  return { name, ports, protocol: 'tcp', blocktype, interface: null };
}

interface Env {
  pair: Pair;
  listener: Listener;
  sh(cmd: string): string;
}

/** A fresh server/attacker pair per suite; removed even when a test fails. */
function environment(): Env {
  const env = {} as Env;
  before(async () => {
    env.pair = createPair('fw');
    env.listener = await listen(env.pair.server, [BANNED_PORT, OTHER_PORT]);
    env.sh = (cmd) => {
      const r = spawnSync('ip', ['netns', 'exec', env.pair.server, 'sh', '-c', cmd], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
      return r.stdout;
    };
  });
  after(async () => {
    await env.listener?.close();
    env.pair?.destroy();
  });
  return env;
}

const blockedAs = (blocktype: 'drop' | 'reject') => (blocktype === 'drop' ? 'timeout' : 'refused');

const CASES: Array<{ action: string; backend: BackendName; allports: boolean }> = [
  { action: 'nftables-allports', backend: 'nftables', allports: true },
  { action: 'nftables-multiport', backend: 'nftables', allports: false },
  { action: 'iptables-allports', backend: 'iptables', allports: true },
  { action: 'iptables-multiport', backend: 'iptables', allports: false },
  { action: 'iptables-ipset', backend: 'iptables-ipset', allports: false },
];

for (const c of CASES) {
  describe(`${c.action} blocks the attacker in the kernel`, { skip, concurrency: false }, () => {
    const env = environment();
    let fw: Firewall;

    for (const [label, blocktype, banText, target] of [
      ['IPv4, drop', 'drop', '192.0.2.2', 'serverV4'],
      ['IPv6, reject', 'reject', '2001:db8::2', 'serverV6'],
      ['CIDR 192.0.2.0/28, reject', 'reject', '192.0.2.0/28', 'serverV4'],
      ['IPv6 /64, drop', 'drop', '2001:db8::/64', 'serverV6'],
    ] as const) {
      test(label, async () => {
        const { pair } = env;
        const j = jail(c.allports ? null : [BANNED_PORT, 993], blocktype);
        fw = createBackend(c.backend, { runner: commandRunner(inNamespace(pair.server)) });
        const host = pair[target];
        await fw.start(j);
        try {
          assert.equal(await tryConnect(pair.attacker, host, BANNED_PORT), 'connected', 'before the ban');
          await fw.ban(j, [ban(banText)]);
          assert.equal(await tryConnect(pair.attacker, host, BANNED_PORT, 800), blockedAs(blocktype), 'banned port');
          const other = await tryConnect(pair.attacker, host, OTHER_PORT, 800);
          assert.equal(other, c.allports ? blockedAs(blocktype) : 'connected', 'a port outside the jail');
          assert.deepEqual((await fw.list(j)).map((k) => k.text), [addr(banText).text]);
          await fw.unban(j, [addr(banText)]);
          assert.equal(await tryConnect(pair.attacker, host, BANNED_PORT), 'connected', 'after the unban');
          assert.deepEqual(await fw.list(j), []);
        } finally {
          await fw.stop(j);
        }
        assert.equal(await fw.check(j), false, 'stop removed the rules');
      });
    }

    test('a flushed firewall is found by check and repaired with its bans', async () => {
      const { pair } = env;
      const j = jail(c.allports ? null : [BANNED_PORT], 'reject');
      fw = createBackend(c.backend, { runner: commandRunner(inNamespace(pair.server)) });
      await fw.start(j);
      try {
        const wanted = [ban('192.0.2.2'), ban('2001:db8::2')];
        await fw.ban(j, wanted);
        assert.equal(await checkAndRepair(fw, j, wanted), 'ok');
        if (c.backend === 'nftables') env.sh('nft flush ruleset');
        else env.sh('iptables -F; iptables -X; ip6tables -F; ip6tables -X; ipset destroy 2>/dev/null; true');
        assert.equal(await tryConnect(pair.attacker, pair.serverV4, BANNED_PORT), 'connected', 'flushed: not blocked');
        assert.equal(await fw.check(j), false);
        assert.equal(await checkAndRepair(fw, j, wanted), 'repaired');
        assert.equal(await tryConnect(pair.attacker, pair.serverV4, BANNED_PORT), 'refused');
        assert.equal(await tryConnect(pair.attacker, pair.serverV6, BANNED_PORT), 'refused');
      } finally {
        await fw.stop(j);
      }
    });

    test('reconcile makes the kernel hold exactly the wanted bans', async () => {
      const { pair } = env;
      const j = jail(null, 'drop', 'recon');
      fw = createBackend(c.backend, { runner: commandRunner(inNamespace(pair.server)) });
      await fw.start(j);
      try {
        await fw.ban(j, [ban('198.51.100.7'), ban('203.0.113.0/24'), ban('2001:db8:5::1')]);
        await fw.reconcile(j, [ban('198.51.100.7'), ban('192.0.2.2'), ban('2001:db8:6::/48')]);
        const held = (await fw.list(j)).map((k) => k.text).sort();
        assert.deepEqual(held, ['192.0.2.2', '198.51.100.7', '2001:db8:6::/48']);
        assert.equal(await tryConnect(pair.attacker, pair.serverV4, OTHER_PORT, 800), 'timeout');
      } finally {
        await fw.stop(j);
      }
    });
  });
}

describe('nftables specifics', { skip, concurrency: false }, () => {
  const env = environment();
  const nft = () => createBackend('nftables', { runner: commandRunner(inNamespace(env.pair.server)) });

  test("`nft list set` shows the ban exactly as docker-mailserver's tests expect", async () => {
    const j = jail([110, 143, 465, 587, 993, 995, 4190], 'drop');
    const fw = nft();
    await fw.start(j);
    try {
      assert.doesNotMatch(env.sh('nft list table inet f2b-table'), /addr6-set-dovecot/, 'the IPv6 set waits for an IPv6 ban');
      await fw.ban(j, [ban('192.0.66.7', 600)]);
      assert.equal(
        env.sh('nft list set inet f2b-table addr-set-dovecot'),
        'table inet f2b-table {\n\tset addr-set-dovecot {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 192.0.66.7 }\n\t}\n}\n',
      );
      await fw.unban(j, [addr('192.0.66.7')]);
      await fw.ban(j, [ban('192.0.66.0/24', 600)]);
      assert.match(env.sh('nft list set inet f2b-table addr-set-dovecot'), /^\t\telements = \{ 192\.0\.66\.0\/24 \}$/m);
      await fw.ban(j, [ban('2001:db8::2', 600)]);
      assert.match(env.sh('nft list set inet f2b-table addr6-set-dovecot'), /^\t\tflags interval\n\t\telements = \{ 2001:db8::2 \}$/m);
      assert.match(env.sh('nft list chain inet f2b-table f2b-chain'), /ip6 saddr @addr6-set-dovecot drop/, 'the IPv6 rule came with the set');
      assert.equal(await tryConnect(env.pair.attacker, env.pair.serverV6, BANNED_PORT, 800), 'timeout');
      await fw.unban(j, [addr('192.0.66.0/24'), addr('2001:db8::2')]);
      await fw.ban(j, [ban('192.0.2.2', null)]);
      const listing = env.sh('nft list set inet f2b-table addr-set-dovecot');
      assert.match(listing, /^\t\telements = \{ 192\.0\.2\.2 \}$/m);
      const chain = env.sh('nft list chain inet f2b-table f2b-chain');
      assert.match(chain, /type filter hook input priority filter - 1; policy accept;/);
      assert.match(chain, /tcp dport \{ 110, 143, 465, 587, 993, 995, 4190 \} ip saddr @addr-set-dovecot drop/);
    } finally {
      await fw.stop(j);
    }
    assert.equal(env.sh('nft list tables'), '', 'the last jail to stop removes the table');
  });

  test('with element_timeouts on, bans carry the remaining bantime as a kernel timeout; one too long for nft goes in without', async () => {
    const j: FirewallJail = { ...jail(null, 'drop'), elementTimeouts: true };
    const fw = nft();
    await fw.start(j);
    try {
      await fw.ban(j, [ban('192.0.2.2', 3600), ban('2001:db8::2', 2), ban('198.51.100.4', 4 * 365 * 86400)]);
      assert.match(env.sh('nft list set inet f2b-table addr-set-dovecot'), /flags interval,timeout/);
      const held = await fw.list(j);
      const v4 = held.find((k) => k.text === '192.0.2.2');
      assert.ok(v4?.expires !== null && v4?.expires !== undefined && v4.expires > 3590 && v4.expires <= 3600);
      assert.deepEqual(held.find((k) => k.text === '198.51.100.4'), { text: '198.51.100.4', expires: null }, '4 years: no timeout');
      assert.equal(fw.errors.length, 0);
      await fw.unban(j, [addr('198.51.100.4')]);
      await new Promise((r) => setTimeout(r, 2500));
      assert.deepEqual((await fw.list(j)).map((k) => k.text), ['192.0.2.2'], 'the kernel dropped the expired ban');
      assert.equal(await tryConnect(env.pair.attacker, env.pair.serverV6, BANNED_PORT), 'connected');
    } finally {
      await fw.stop(j);
    }
  });

  test('overlapping bans: CIDR over addresses, addresses inside a CIDR, unban of either', async () => {
    const j = jail(null, 'reject');
    const fw = nft();
    const { pair } = env;
    await fw.start(j);
    try {
      await fw.ban(j, [ban('192.0.2.2'), ban('192.0.2.3')]);
      await fw.ban(j, [ban('192.0.2.0/28'), ban('192.0.2.5')]);
      assert.deepEqual((await fw.list(j)).map((k) => k.text), ['192.0.2.0/28']);
      // Lifting an address that only the CIDR blocks: the CIDR ban stays, so the attacker stays out.
      await fw.unban(j, [addr('192.0.2.5')]);
      assert.equal(await tryConnect(pair.attacker, pair.serverV4, BANNED_PORT), 'refused');
      // Lifting the CIDR puts back the single bans it covered.
      await fw.unban(j, [addr('192.0.2.0/28')]);
      assert.deepEqual((await fw.list(j)).map((k) => k.text).sort(), ['192.0.2.2', '192.0.2.3']);
      assert.equal(await tryConnect(pair.attacker, pair.serverV4, BANNED_PORT), 'refused');
      await fw.unban(j, [addr('192.0.2.2')]);
      assert.equal(await tryConnect(pair.attacker, pair.serverV4, BANNED_PORT), 'connected');
    } finally {
      await fw.stop(j);
    }
  });

  test('a second process finds the kernel different from its picture and still succeeds', async () => {
    const j = jail(null, 'reject');
    const first = nft();
    await first.start(j);
    try {
      await first.ban(j, [ban('192.0.2.0/28')]);
      await first.stop(j, { keepRules: true });
      assert.equal(await tryConnect(env.pair.attacker, env.pair.serverV4, BANNED_PORT), 'refused', 'kept on stop');
      const second = nft(); // knows nothing of the /28
      await second.start(j);
      await second.ban(j, [ban('192.0.2.2')]);
      await second.unban(j, [addr('192.0.2.0/28')]);
      assert.deepEqual((await second.list(j)).map((k) => k.text), ['192.0.2.2']);
      assert.equal(second.errors.length, 0);
    } finally {
      await nft().stop(j);
    }
  });

  test('switching element_timeouts re-creates the set and keeps its elements', async () => {
    const j = jail(null, 'drop', 'switch');
    await nft().start(j);
    const first = nft();
    await first.start(j);
    await first.ban(j, [ban('192.0.2.2')]);
    const timed: FirewallJail = { ...j, elementTimeouts: true };
    const second = nft();
    try {
      await second.start(timed);
      assert.match(env.sh('nft list set inet f2b-table addr-set-switch'), /flags interval,timeout\n\t\telements = \{ 192\.0\.2\.2 \}/);
      assert.equal(await tryConnect(env.pair.attacker, env.pair.serverV4, BANNED_PORT, 800), 'timeout');
    } finally {
      await second.stop(timed);
    }
  });

  test('100,000 bans go in with one nft process', async () => {
    const j = jail(null, 'drop', 'bulk');
    const inner = commandRunner(inNamespace(env.pair.server));
    const calls: string[][] = [];
    const fw = createBackend('nftables', {
      runner: (argv, stdin) => {
        calls.push([...argv]);
        return inner(argv, stdin);
      },
    });
    await fw.start(j);
    try {
      const entries: BanEntry[] = [];
      for (let i = 0; i < 100_000; i++) entries.push(ban(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 3600));
      calls.length = 0;
      await fw.ban(j, entries);
      assert.deepEqual(calls, [['nft', '-f', '-']], 'one process for the whole batch');
      const held = await fw.list(j);
      assert.equal(held.length, 100_000);
      assert.ok(held.every((k) => k.expires === null), "docker-mailserver's sets: no element timeouts");
    } finally {
      await fw.stop(j);
    }
  });

  test('an input interface limits the rule to it', async () => {
    const j: FirewallJail = { ...jail(null, 'reject'), interface: 'nosuchif0' };
    const fw = nft();
    await fw.start(j);
    try {
      await fw.ban(j, [ban('192.0.2.2')]);
      assert.match(env.sh('nft list chain inet f2b-table f2b-chain'), /iifname "nosuchif0" meta l4proto tcp ip saddr/);
      assert.equal(await tryConnect(env.pair.attacker, env.pair.serverV4, BANNED_PORT), 'connected', 'traffic on vs is not limited');
    } finally {
      await fw.stop(j);
    }
  });
});

describe('without CAP_NET_ADMIN', { skip: skip || netnsUnavailable(['capsh']) || false }, () => {
  test('portcullis server refuses to start with one line naming the fix, exit code 4, for each backend', () => {
    for (const banaction of ['nftables-multiport', 'iptables-multiport', 'iptables-ipset']) {
      const dirs = daemonDirs();
      writeConfig(dirs, { 'jail.d/test.local': `[DEFAULT]\nbanaction = ${banaction}\n` });
      const server = [cliPath, 'server', '-c', dirs.config, '-s', dirs.socket, '-p', dirs.pidfile, '--dbfile', dirs.dbfile, '--logtarget', dirs.logfile];
      const r = spawnSync('capsh', ['--drop=cap_net_admin', '--', '-c', `exec "${process.execPath}" ${server.map((a) => `"${a}"`).join(' ')}`], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      removeDirs(dirs);
      assert.equal(r.stderr, 'portcullis: cannot change the firewall: CAP_NET_ADMIN is missing; run the container with --cap-add=NET_ADMIN\n', banaction);
      assert.equal(r.status, 4);
      assert.equal(r.stdout, '');
    }
  });
});
