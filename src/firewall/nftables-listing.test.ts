import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chainHooked, chainRules, listedSets, parseElement, sameRule, uses } from './nftables-listing.js';
import { counterRuleText, ruleText } from './nftables-script.js';

const table = [
  'table inet f2b-table { # handle 9',
  '\tset addr-set-dovecot { # handle 2',
  '\t\ttype ipv4_addr',
  '\t\tflags interval,timeout',
  '\t}',
  '\tset addr6-set-dovecot { # handle 5',
  '\t\ttype ipv6_addr',
  '\t\tflags interval',
  '\t}',
  '\tchain f2b-chain { # handle 1',
  '\t\ttype filter hook input priority filter - 1; policy accept;',
  '\t\tip saddr 192.0.2.1 accept # handle 7',
  '\t\ttcp dport { 110, 143 } ip saddr @addr-set-dovecot drop # handle 3',
  '\t\ttcp dport { 110, 143 } ip6 saddr @addr6-set-dovecot drop # handle 6',
  '\t}',
  '}',
].join('\n');

test('sets with their flags, from a terse listing', () => {
  assert.deepEqual(listedSets(table), [
    { name: 'addr-set-dovecot', flags: 'interval,timeout' },
    { name: 'addr6-set-dovecot', flags: 'interval' },
  ]);
});

test("our chain's rules in order, with handles; which of them use a jail's sets", () => {
  const rules = chainRules(table);
  assert.deepEqual(rules.map((r) => r.handle), [7, 3, 6]);
  assert.equal(rules[0]?.text, 'ip saddr 192.0.2.1 accept');
  assert.deepEqual(rules.map((r) => uses(r.text, 'dovecot')), [false, true, true]);
  assert.equal(uses(rules[1]?.text ?? '', 'dove'), false, 'a jail whose name is a prefix of another');
});

test('elements: plain, CIDR, with an expiry; ranges that are not CIDR blocks are skipped', () => {
  assert.deepEqual(parseElement('192.0.2.1'), { text: '192.0.2.1', expires: null });
  assert.deepEqual(parseElement({ prefix: { addr: '2001:db8::', len: 64 } }), { text: '2001:db8::/64', expires: null });
  assert.deepEqual(parseElement({ elem: { val: '192.0.2.9', timeout: 600, expires: 590 } }), { text: '192.0.2.9', expires: 590 });
  assert.equal(parseElement({ range: ['192.0.2.1', '192.0.2.7'] }), null);
});

test('rules as nft 1.0.6 lists them are the rules we write; a changed port, verdict or interface is not', () => {
  const postfix = { name: 'postfix', ports: [25], protocol: 'tcp' as const, blocktype: 'reject' as const, interface: 'eth0' };
  const udp = { name: 'udp1', ports: [53, 5353], protocol: 'udp' as const, blocktype: 'reject' as const, interface: 'tap0' };
  const custom = { name: 'custom', ports: null, protocol: 'all' as const, blocktype: 'drop' as const, interface: null };
  // Listed by nft 1.0.6 for rules written from these jails (test/e2e: the start script, then nft -t -a list ruleset).
  assert.ok(sameRule('iifname "eth0" tcp dport 25 ip saddr @addr-set-postfix counter packets 0 bytes 0', counterRuleText(postfix, 4)));
  assert.ok(sameRule('iifname "eth0" tcp dport 25 ip saddr @addr-set-postfix reject with tcp reset', ruleText(postfix, 4)));
  assert.ok(sameRule('iifname "tap0" udp dport { 53, 5353 } ip saddr @addr-set-udp1 counter packets 12 bytes 720', counterRuleText(udp, 4)));
  assert.ok(sameRule('iifname "tap0" udp dport { 53, 5353 } ip saddr @addr-set-udp1 reject with icmp port-unreachable', ruleText(udp, 4)));
  assert.ok(sameRule('iifname "tap0" udp dport { 53, 5353 } ip6 saddr @addr6-set-udp1 reject with icmpv6 port-unreachable', ruleText(udp, 6)));
  assert.ok(sameRule('ip saddr @addr-set-custom drop', ruleText(custom, 4)));
  assert.ok(!sameRule('iifname "eth0" tcp dport 587 ip saddr @addr-set-postfix reject with tcp reset', ruleText(postfix, 4)));
  assert.ok(!sameRule('iifname "eth0" tcp dport 25 ip saddr @addr-set-postfix drop', ruleText(postfix, 4)));
  assert.ok(!sameRule('tcp dport 25 ip saddr @addr-set-postfix reject with tcp reset', ruleText(postfix, 4)));
  assert.ok(!sameRule('iifname "tap0" udp dport { 53, 5353 } ip saddr @addr-set-udp1 reject with icmp host-unreachable', ruleText(udp, 4)));
});

test('our chain hooks input at priority -1, however nft prints the priority', () => {
  assert.ok(chainHooked('table inet f2b-table {\n\tchain f2b-chain { # handle 1\n\t\ttype filter hook input priority filter - 1; policy accept;\n'));
  assert.ok(chainHooked('table inet f2b-table {\n\tchain f2b-chain {\n\t\ttype filter hook input priority -1; policy accept;\n'));
  assert.ok(!chainHooked('table inet f2b-table {\n\tchain f2b-chain { # handle 1\n\t\ttype filter hook forward priority filter - 1; policy accept;\n'));
  assert.ok(!chainHooked('table inet f2b-table {\n\tchain f2b-chain { # handle 1\n\t\ttype filter hook input priority filter; policy accept;\n'));
});
