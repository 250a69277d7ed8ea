import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Address, parseAddress } from './address.js';
import type { FirewallJail } from './firewall.js';
import { elementScript, familyScript, ruleText, setFlags, startScript, stopScript } from './nftables-script.js';

const dovecot: FirewallJail = {
  name: 'dovecot',
  ports: [110, 143, 465, 587, 993, 995, 4190],
  protocol: 'tcp',
  blocktype: 'drop',
  interface: null,
};
const a = (t: string) => parseAddress(t) as Address;

test("multiport drop is docker-mailserver's rule", () => {
  assert.equal(ruleText(dovecot, 4), 'tcp dport { 110, 143, 465, 587, 993, 995, 4190 } ip saddr @addr-set-dovecot drop');
  assert.equal(ruleText(dovecot, 6), 'tcp dport { 110, 143, 465, 587, 993, 995, 4190 } ip6 saddr @addr6-set-dovecot drop');
});

test('allports, reject, udp, all protocols and an interface', () => {
  const all: FirewallJail = { ...dovecot, ports: null };
  assert.equal(ruleText(all, 4), 'meta l4proto { tcp } ip saddr @addr-set-dovecot drop');
  assert.equal(ruleText({ ...all, blocktype: 'reject' }, 4), 'meta l4proto { tcp } ip saddr @addr-set-dovecot reject with tcp reset');
  assert.equal(ruleText({ ...all, protocol: 'udp', blocktype: 'reject' }, 6), 'meta l4proto { udp } ip6 saddr @addr6-set-dovecot reject');
  assert.equal(ruleText({ ...all, protocol: 'all' }, 4), 'ip saddr @addr-set-dovecot drop');
  assert.equal(
    ruleText({ ...dovecot, ports: [25], protocol: 'all', interface: 'tap0' }, 4),
    'iifname "tap0" meta l4proto { tcp, udp } th dport { 25 } ip saddr @addr-set-dovecot drop',
  );
});

test("start creates the table, the chain at priority -1, DMS's interval set (no timeouts), and replaces stale rules", () => {
  assert.equal(
    startScript({ ...dovecot, ports: null }, { type: 'interval', timeouts: false }, { staleHandles: [7] }),
    [
      'add table inet f2b-table',
      'add chain inet f2b-table f2b-chain { type filter hook input priority -1; }',
      'delete rule inet f2b-table f2b-chain handle 7',
      'add set inet f2b-table addr-set-dovecot { type ipv4_addr; flags interval; }',
      'add rule inet f2b-table f2b-chain meta l4proto { tcp } ip saddr @addr-set-dovecot counter',
      'add rule inet f2b-table f2b-chain meta l4proto { tcp } ip saddr @addr-set-dovecot drop',
      '',
    ].join('\n'),
  );
});

test('with element timeouts on, and an IPv6 set kept from an earlier run, both sets get timeouts; a set with other flags is made anew', () => {
  assert.equal(
    startScript(dovecot, { type: 'interval', timeouts: true }, { families: [4, 6], recreate: ['addr-set-dovecot'] }),
    [
      'add table inet f2b-table',
      'add chain inet f2b-table f2b-chain { type filter hook input priority -1; }',
      'delete set inet f2b-table addr-set-dovecot',
      'add set inet f2b-table addr-set-dovecot { type ipv4_addr; flags interval, timeout; }',
      'add rule inet f2b-table f2b-chain tcp dport { 110, 143, 465, 587, 993, 995, 4190 } ip saddr @addr-set-dovecot counter',
      'add rule inet f2b-table f2b-chain tcp dport { 110, 143, 465, 587, 993, 995, 4190 } ip saddr @addr-set-dovecot drop',
      'add set inet f2b-table addr6-set-dovecot { type ipv6_addr; flags interval, timeout; }',
      'add rule inet f2b-table f2b-chain tcp dport { 110, 143, 465, 587, 993, 995, 4190 } ip6 saddr @addr6-set-dovecot counter',
      'add rule inet f2b-table f2b-chain tcp dport { 110, 143, 465, 587, 993, 995, 4190 } ip6 saddr @addr6-set-dovecot drop',
      '',
    ].join('\n'),
  );
});

test('stop deletes rules and the sets that exist, or the whole table when it is the last jail', () => {
  assert.equal(stopScript([3, 4], ['addr-set-dovecot'], true), 'delete table inet f2b-table\n');
  assert.equal(
    stopScript([3, 4], ['addr-set-dovecot'], false),
    'delete rule inet f2b-table f2b-chain handle 3\ndelete rule inet f2b-table f2b-chain handle 4\n' +
      'delete set inet f2b-table addr-set-dovecot\n',
  );
  assert.equal(stopScript([], [], false), '');
});

test('an element timeout nft would refuse (100,000,000 s or more) is written without one', () => {
  assert.equal(
    elementScript('x', [], [
      { address: a('192.0.2.2'), timeout: 99_999_999 },
      { address: a('192.0.2.3'), timeout: 100_000_000 },
    ]),
    'add element inet f2b-table addr-set-x { 192.0.2.2 timeout 99999999s, 192.0.2.3 }\n',
  );
});

test('elements: per family, timeouts in seconds, permanent without one', () => {
  assert.equal(
    elementScript('postfix', [], [
      { address: a('192.0.2.2'), timeout: 600 },
      { address: a('2001:db8::/64'), timeout: null },
      { address: a('198.51.100.0/24'), timeout: 1 },
    ]),
    'add element inet f2b-table addr-set-postfix { 192.0.2.2 timeout 600s, 198.51.100.0/24 timeout 1s }\n' +
      'add element inet f2b-table addr6-set-postfix { 2001:db8::/64 }\n',
  );
});

test('a removal alone tolerates an element the kernel already expired; beside additions it deletes plainly', () => {
  assert.equal(
    elementScript('x', [a('192.0.2.2')], []),
    'add element inet f2b-table addr-set-x { 192.0.2.2 }\ndelete element inet f2b-table addr-set-x { 192.0.2.2 }\n',
  );
  assert.equal(
    elementScript('x', [a('192.0.2.2')], [{ address: a('192.0.2.0/28'), timeout: null }]),
    'delete element inet f2b-table addr-set-x { 192.0.2.2 }\nadd element inet f2b-table addr-set-x { 192.0.2.0/28 }\n',
  );
  assert.equal(elementScript('x', [], []), '');
});

test('big batches are split into statements of 10,000 elements', () => {
  const many = Array.from({ length: 25_000 }, (_, i) => ({ address: a(`10.0.${i >> 8}.${i & 255}`), timeout: null }));
  const script = elementScript('x', [], many);
  assert.equal(script.split('\n').filter((l) => l.startsWith('add element')).length, 3);
});

test('on kernels without interval sets the sets are plain hash sets: no interval flag, timeouts kept when asked', () => {
  assert.equal(setFlags({ type: 'hash', timeouts: false }), '');
  assert.equal(setFlags({ type: 'hash', timeouts: true }), 'timeout');
  assert.equal(setFlags({ type: 'interval', timeouts: false }), 'interval');
  assert.equal(familyScript(dovecot, 4, { type: 'hash', timeouts: false })[0], 'add set inet f2b-table addr-set-dovecot { type ipv4_addr; }');
  assert.equal(familyScript(dovecot, 6, { type: 'hash', timeouts: true })[0], 'add set inet f2b-table addr6-set-dovecot { type ipv6_addr; flags timeout; }');
  const start = startScript(dovecot, { type: 'hash', timeouts: false }, { recreate: ['addr-set-dovecot'] });
  assert.doesNotMatch(start, /interval/);
  assert.match(start, /delete set inet f2b-table addr-set-dovecot\nadd set inet f2b-table addr-set-dovecot \{ type ipv4_addr; \}\n/);
});
