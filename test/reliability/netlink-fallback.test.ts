// The netlink path failing under the nftables backend (real nftables in a network namespace): the
// socket refused (EPERM, as without CAP_NET_ADMIN or under a seccomp filter), a kernel that refuses
// through netlink what nft accepts (an encoding it does not know), and netlink breaking in the middle
// of a flood. Every acknowledged ban must end up in the kernel through `nft -f -`, with one warning.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { type Address, parseAddress } from '../../src/firewall/address.js';
import type { BanEntry, FirewallJail } from '../../src/firewall/firewall.js';
import { NftablesFirewall } from '../../src/firewall/nftables.js';
import { type Exchange, loadExchange } from '../../src/firewall/nftables-netlink.js';
import { commandRunner } from '../../src/firewall/runner.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from '../e2e/netns.js';

const skip = netnsUnavailable(['nft']) ?? false;
const ban = (text: string): BanEntry => ({ address: parseAddress(text) as Address, timeout: 3600 });
const jail = (name: string): FirewallJail => ({ name, ports: [25], protocol: 'tcp', blocktype: 'drop', interface: null });

function kernel(ns: string, set: string): string[] {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'set', 'inet', 'f2b-table', set], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const parsed = JSON.parse(r.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  return (parsed.nftables.find((i) => i.set)?.set?.elem ?? []).filter((e): e is string => typeof e === 'string').sort();
}

/** An error reply to every message of a batch: what a kernel answers to messages it cannot parse. */
function refuseAll(request: Buffer): Buffer {
  const replies: Buffer[] = [];
  for (let at = 0; at + 16 <= request.length; ) {
    const len = request.readUInt32LE(at);
    const reply = Buffer.alloc(36);
    reply.writeUInt32LE(36, 0);
    reply.writeUInt16LE(2, 4); // NLMSG_ERROR
    reply.writeUInt32LE(request.readUInt32LE(at + 8), 8);
    reply.writeInt32LE(-22, 16); // EINVAL
    replies.push(reply);
    at += (len + 3) & ~3;
  }
  return Buffer.concat(replies);
}

describe('reliability: the netlink path fails, nft keeps every ban', { skip, concurrency: false }, () => {
  let pair: Pair;
  let real: Exchange;
  before(() => {
    pair = createPair('nf');
    const loaded = loadExchange(`/run/netns/${pair.server}`);
    assert.equal(typeof loaded, 'function', `the netlink addon must be built for this test: ${String(loaded)}`);
    real = loaded as Exchange;
  });
  after(() => pair?.destroy());

  const cases: Array<{ name: string; exchange: () => Exchange; warning: RegExp }> = [
    {
      name: 'socket refused (EPERM)',
      exchange: () => () => {
        throw Object.assign(new Error('netlink socket: Operation not permitted'), { code: 'EPERM' });
      },
      warning: /netlink failed \(netlink socket: Operation not permitted\); bans go through `nft -f -`.*npm rebuild/,
    },
    {
      name: 'kernel refuses through netlink what nft accepts',
      exchange: () => (request, dump) => (dump ? real(request, dump) : refuseAll(request)),
      warning: /the kernel refused through netlink what nft then wrote \(Could not process rule: Invalid argument\)/,
    },
    {
      name: 'netlink breaks in the middle of a flood',
      exchange: () => {
        let calls = 0;
        return (request, dump) => {
          if (!dump && ++calls > 1) throw new Error('netlink send: No buffer space available');
          return real(request, dump);
        };
      },
      warning: /netlink failed \(netlink send: No buffer space available\)/,
    },
  ];

  for (const [i, c] of cases.entries()) {
    test(c.name, async () => {
      const warnings: string[] = [];
      const fw = new NftablesFirewall({
        runner: commandRunner(inNamespace(pair.server)),
        netns: pair.server,
        netlink: c.exchange(),
        warn: (line) => warnings.push(line),
      });
      const j = jail(`fb${i}`);
      await fw.start(j);
      const wanted: string[] = [];
      const bans: Array<Promise<void>> = [];
      // Concurrent bans as a flood queues them: several batches, the first one maybe through netlink.
      for (let round = 0; round < 5; round++) {
        const batch = Array.from({ length: 200 }, (_, k) => `10.${i}.${round}.${k + 1}`);
        wanted.push(...batch);
        bans.push(fw.ban(j, batch.map(ban)));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(bans);
      await fw.unban(j, [parseAddress(`10.${i}.0.1`) as Address]);
      wanted.shift();
      assert.deepEqual(kernel(pair.server, `addr-set-fb${i}`), [...wanted].sort());
      assert.equal(fw.elementPath, 'nft');
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0] as string, c.warning);
      // What the daemon reads back (reconcile, the periodic check) still works, through nft.
      assert.equal((await fw.list(j)).length, wanted.length);
      await fw.stop(j);
    });
  }
});
