import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Address, parseAddress } from './address.js';
import { Cover, emptyDelta } from './cover.js';

const a = (text: string): Address => parseAddress(text) as Address;
const forever = (text: string) => ({ address: a(text), expiresAt: null });

function texts(delta: ReturnType<typeof emptyDelta>) {
  return { add: [...delta.add.keys()].sort(), remove: [...delta.remove.keys()].sort() };
}

test('a CIDR replaces the addresses it covers in the kernel, and gives them back when lifted', () => {
  const cover = new Cover();
  let d = emptyDelta();
  cover.add(forever('192.0.2.2'), d);
  cover.add(forever('192.0.2.3'), d);
  assert.deepEqual(texts(d), { add: ['192.0.2.2', '192.0.2.3'], remove: [] });
  d = emptyDelta();
  cover.add(forever('192.0.2.0/28'), d);
  assert.deepEqual(texts(d), { add: ['192.0.2.0/28'], remove: ['192.0.2.2', '192.0.2.3'] });
  d = emptyDelta();
  cover.add(forever('192.0.2.9'), d);
  assert.deepEqual(texts(d), { add: [], remove: [] }, 'a covered address waits outside the kernel');
  d = emptyDelta();
  cover.remove(a('192.0.2.0/28'), d);
  assert.deepEqual(texts(d), { add: ['192.0.2.2', '192.0.2.3', '192.0.2.9'], remove: ['192.0.2.0/28'] });
  assert.equal(cover.size, 3);
});

test('lifting an address inside a banned CIDR leaves the CIDR in place', () => {
  const cover = new Cover();
  cover.add(forever('2001:db8::/64'), emptyDelta());
  cover.add(forever('2001:db8::2'), emptyDelta());
  const d = emptyDelta();
  assert.equal(cover.remove(a('2001:db8::2'), d), true);
  assert.deepEqual(texts(d), { add: [], remove: [] });
  assert.deepEqual(cover.outermost().map((w) => w.address.text), ['2001:db8::/64']);
});

test('expired entries leave, and what they covered comes back', () => {
  const cover = new Cover();
  cover.add({ address: a('10.0.0.0/8'), expiresAt: 1000 }, emptyDelta());
  cover.add({ address: a('10.1.2.3'), expiresAt: 5000 }, emptyDelta());
  let d = emptyDelta();
  cover.expire(999, d);
  assert.deepEqual(texts(d), { add: [], remove: [] });
  d = emptyDelta();
  cover.expire(1000, d);
  assert.deepEqual(texts(d), { add: ['10.1.2.3'], remove: [] }, 'the kernel drops the /8 by itself');
  assert.equal(cover.size, 1);
});

test('outermost() equals a brute-force check on random nested CIDRs', () => {
  const cover = new Cover();
  const all: Address[] = [];
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < 300; i++) {
    const prefix = 20 + (rnd() % 13);
    const addr = a(`10.0.${rnd() % 16}.${rnd() % 256}/${prefix}`);
    all.push(addr);
    cover.add({ address: addr, expiresAt: null }, emptyDelta());
  }
  const unique = [...new Map(all.map((x) => [x.text, x])).values()];
  const expected = unique
    .filter((x) => !unique.some((y) => y !== x && y.first <= x.first && x.last <= y.last))
    .map((x) => x.text)
    .sort();
  assert.deepEqual(cover.outermost().map((w) => w.address.text).sort(), expected);
});

test('holdsHost tells a wanted single address by its text, never a subnet', () => {
  const cover = new Cover();
  cover.add({ address: a('192.0.2.1'), expiresAt: null });
  cover.add({ address: a('2001:db8::1'), expiresAt: null });
  cover.add({ address: a('198.51.100.0/24'), expiresAt: null });
  assert.ok(cover.holdsHost('192.0.2.1'));
  assert.ok(cover.holdsHost('2001:db8::1'));
  assert.ok(!cover.holdsHost('192.0.2.2'));
  assert.ok(!cover.holdsHost('198.51.100.0/24'), 'a subnet is looked up by address');
  assert.ok(!cover.holdsHost('198.51.100.7'), 'covered, not held');
});
