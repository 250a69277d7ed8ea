import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chainRules, listedSets, parseElement, uses } from './nftables-listing.js';

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
