import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddress } from './address.js';

test('addresses are printed the way nft prints them', () => {
  assert.equal(parseAddress('192.0.2.7')?.text, '192.0.2.7');
  assert.equal(parseAddress('192.0.2.7/28')?.text, '192.0.2.0/28');
  assert.equal(parseAddress('2001:0DB8:0:0::0002')?.text, '2001:db8::2');
  assert.equal(parseAddress('2001:db8::1:2/64')?.text, '2001:db8::/64');
});

test('ranges are computed from the prefix', () => {
  const net = parseAddress('192.0.2.0/28');
  assert.equal(net?.first, 0xc0000200n);
  assert.equal(net?.last, 0xc000020fn);
  const v6 = parseAddress('2001:db8::/126');
  assert.equal(v6?.last, (0x20010db8n << 96n) | 3n);
});

test('anything that is not an address or CIDR is refused, as is a /0', () => {
  for (const bad of ['', '1.2.3', '1.2.3.4; rm -rf /', '1.2.3.4/33', '::1/129', '0.0.0.0/0', '::/0', 'fe80::1%eth0', '$(id)']) {
    assert.equal(parseAddress(bad), null, bad);
  }
});

test('mapped IPv6 is folded to IPv4 by the shared parser', () => {
  assert.equal(parseAddress('::ffff:c000:201')?.text, '192.0.2.1');
  assert.equal(parseAddress('::ffff:c000:201')?.family, 4);
});

