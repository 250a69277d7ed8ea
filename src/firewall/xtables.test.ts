import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Address, parseAddress } from './address.js';
import type { FirewallJail } from './firewall.js';
import { ipsetBanScript, ipsetUnbanScript, parseIpsetSave } from './ipset.js';
import { banRestoreScript, parseChainRules } from './iptables.js';
import { inputMatches, target } from './xtables.js';

const a = (t: string) => parseAddress(t) as Address;
const postfix: FirewallJail = { name: 'postfix', ports: [25, 465, 587], protocol: 'tcp', blocktype: 'drop', interface: null };

test('INPUT rules: multiport per protocol, at most 15 ports each, interface first', () => {
  assert.deepEqual(inputMatches(postfix), [['-p', 'tcp', '-m', 'multiport', '--dports', '25,465,587']]);
  assert.deepEqual(inputMatches({ ...postfix, ports: null, interface: 'eth0' }), [['-i', 'eth0', '-p', 'tcp']]);
  assert.deepEqual(inputMatches({ ...postfix, ports: null, protocol: 'all' }), [[]]);
  const wide = inputMatches({ ...postfix, ports: Array.from({ length: 20 }, (_, i) => 1000 + i), protocol: 'all' });
  assert.equal(wide.length, 4, '2 chunks x tcp/udp');
  assert.equal(wide[0]?.at(-1)?.split(',').length, 15);
});

test('targets: DROP, TCP reset for TCP jails, ICMP otherwise', () => {
  assert.deepEqual(target(postfix, 4), ['-j', 'DROP']);
  assert.deepEqual(target({ ...postfix, blocktype: 'reject' }, 6), ['-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset']);
  assert.deepEqual(target({ ...postfix, blocktype: 'reject' }, 6, true), ['-j', 'REJECT', '--reject-with', 'tcp-reset']);
  assert.deepEqual(target({ ...postfix, blocktype: 'reject', protocol: 'udp' }, 6), [
    '-j',
    'REJECT',
    '--reject-with',
    'icmp6-port-unreachable',
  ]);
});

test('iptables-restore input inserts one rule per address in one batch', () => {
  assert.equal(
    banRestoreScript(postfix, 4, [a('192.0.2.2'), a('198.51.100.0/24')]),
    '*filter\n-I f2b-postfix 1 -s 192.0.2.2 -j DROP\n-I f2b-postfix 1 -s 198.51.100.0/24 -j DROP\nCOMMIT\n',
  );
});

test('iptables -S output is read back into addresses and deletable rules', () => {
  const listing = '-N f2b-postfix\n-A f2b-postfix -s 192.0.2.2/32 -j DROP\n-A f2b-postfix -s 2001:db8::/64 -p tcp -j REJECT --reject-with tcp-reset\n-A f2b-postfix -j RETURN\n';
  const rules = parseChainRules(listing, 'postfix');
  assert.deepEqual(rules.map((r) => r.address.text), ['192.0.2.2', '2001:db8::/64']);
  assert.equal(rules[0]?.rule, '-A f2b-postfix -s 192.0.2.2/32 -j DROP');
});

test('ipset restore input: timeouts, permanent as 0, v6 in its own set, over-long timeouts left to the daemon', () => {
  assert.equal(
    ipsetBanScript('postfix', [
      { address: a('192.0.2.2'), timeout: 600 },
      { address: a('2001:db8::2'), timeout: null },
      { address: a('192.0.2.0/28'), timeout: 180 * 86400 },
    ]),
    'add f2b-postfix 192.0.2.2 timeout 600\nadd f2b-postfix6 2001:db8::2 timeout 0\nadd f2b-postfix 192.0.2.0/28 timeout 0\n',
  );
  assert.equal(ipsetUnbanScript('postfix', [a('2001:db8::2')]), 'del f2b-postfix6 2001:db8::2\n');
});

test('ipset save is parsed with remaining timeouts', () => {
  const save = 'create f2b-postfix hash:net family inet hashsize 1024 maxelem 1048576 timeout 0\nadd f2b-postfix 192.0.2.0/28 timeout 99\nadd f2b-postfix 192.0.2.7 timeout 0\n';
  assert.deepEqual(parseIpsetSave(save, 'f2b-postfix'), [
    { text: '192.0.2.0/28', expires: 99 },
    { text: '192.0.2.7', expires: null },
  ]);
});
