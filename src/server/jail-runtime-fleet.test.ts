// JailRuntime's side of ban sharing: bans it makes (from failures or by hand) and admins' unbans reach
// the fleet hooks; bans received from the fleet are held for the time left, stored, refused by local
// rules, and never handed back to the hooks (no loops).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JailConfig } from '../config/model.js';
import type { BanEntry, Firewall } from '../firewall/firewall.js';
import type { BanTicket } from '../jail/bans.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { DaemonLog } from './daemon-log.js';
import { JailRuntime } from './jail-runtime.js';

const config: JailConfig = {
  name: 'dovecot', enabled: true, backend: 'auto', filter: null, actions: [], logpaths: [], logencoding: 'utf-8',
  bantime: 600, findtime: 600, maxretry: 3, maxmatches: 0, ignoreip: ['198.51.100.99'], ignoreself: false, ignorecommand: '', usedns: 'no',
  options: {},
  increment: { enabled: false, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false },
};

function setup() {
  const banned: BanEntry[] = [];
  const firewall: Firewall = {
    name: 'fake', errors: [], start: async () => {}, stop: async () => {},
    ban: async (_jail, entries) => {
      banned.push(...entries);
    },
    unban: async () => {}, reconcile: async () => {}, check: async () => true, list: async () => [],
  };
  const published: string[] = [];
  const unpublished: string[] = [];
  const store = SqliteStore.open(':memory:');
  const clock = 1_800_000_000;
  const runtime = new JailRuntime(config, {
    now: () => clock, log: new DaemonLog('STDERR', 'CRITICAL'), store,
    actions: [{ firewall, target: { name: 'dovecot', ports: null, protocol: 'all', blocktype: 'drop', interface: null } }],
    selfAddresses: [], runIgnoreCommand: async () => false,
    onBans: (tickets) => published.push(...tickets.map((t) => t.ip)),
    onUnbans: (_jail, ips) => unpublished.push(...ips),
  });
  return { runtime, banned, published, unpublished, store, clock };
}

const received = (ip: string, start: number, bantime: number): BanTicket => ({ ip, jail: 'dovecot', time: start, bantime, banCount: 1, failures: 4, matches: [] });

test('a received ban is held for the time left, stored, and not published again', async () => {
  const { runtime, banned, published, store, clock } = setup();
  assert.equal(runtime.receive(received('203.0.113.5', clock - 100, 600), 'mx1'), true);
  await runtime.checkFirewall();
  assert.deepEqual(banned.map((e) => [e.address.text, e.timeout]), [['203.0.113.5', 500]]);
  assert.deepEqual(published, [], 'no loop');
  assert.deepEqual(store.activeBans(clock).map((b) => b.ip), ['203.0.113.5']);
  assert.equal(runtime.receive(received('203.0.113.5', clock - 100, 600), 'mx1'), false, 'held already');
  // The origin prolonged its ban: the later end is taken, and stored for a restart.
  assert.equal(runtime.receive(received('203.0.113.5', clock - 100, 900), 'mx1'), true);
  await runtime.checkFirewall();
  assert.deepEqual(banned.map((e) => [e.address.text, e.timeout]), [['203.0.113.5', 500], ['203.0.113.5', 800]]);
  assert.equal(store.activeBans(clock)[0]?.bantime, 900);
  assert.deepEqual(published, [], 'no loop');
});

test('local rules win: ignoreip, loopback and over bans are not applied', () => {
  const { runtime, clock } = setup();
  assert.equal(runtime.receive(received('198.51.100.99', clock, 600), 'mx1'), false);
  assert.equal(runtime.receive(received('127.0.0.1', clock, 600), 'mx1'), false);
  assert.equal(runtime.receive(received('203.0.113.6', clock - 700, 600), 'mx1'), false, 'ended while away');
  assert.equal(runtime.jail.bans.size, 0);
});

test('bans made here and admins\' unbans reach the hooks; received unbans do not', async () => {
  const { runtime, published, unpublished, clock } = setup();
  assert.equal(await runtime.ban(['192.0.2.1']), 1);
  assert.deepEqual(published, ['192.0.2.1']);
  assert.equal(await runtime.unban(['192.0.2.1']), 1);
  assert.deepEqual(unpublished, ['192.0.2.1']);
  runtime.receive(received('192.0.2.2', clock, 600), 'mx1');
  assert.equal(runtime.receiveUnban('192.0.2.2'), true);
  assert.equal(runtime.receiveUnban('192.0.2.2'), false);
  assert.deepEqual(unpublished, ['192.0.2.1'], 'a received unban is not published again');
});
