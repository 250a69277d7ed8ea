import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BanLookup } from './ban-lookup.js';
import { banSource } from './test-bans.js';

describe('BanLookup', () => {
  it('names the jail banning an address, or null', () => {
    const sources = [banSource('dovecot', ['198.51.100.10']), banSource('postfix', ['2001:db8::7'])];
    const lookup = new BanLookup(() => sources);
    assert.equal(lookup.bannedBy('198.51.100.10'), 'dovecot');
    assert.equal(lookup.bannedBy('2001:DB8:0::7'), 'postfix', 'non-canonical IPv6 text is canonicalised');
    assert.equal(lookup.bannedBy('::ffff:198.51.100.10'), 'dovecot', 'IPv4-mapped form of a banned address');
    assert.equal(lookup.bannedBy('198.51.100.11'), null);
  });

  it('refuses nothing for text that is not an address', () => {
    const lookup = new BanLookup(() => [banSource('j', ['198.51.100.10'])]);
    for (const text of ['', 'unknown', '198.51.100.10 ', '198.51.100.10/32', 'a'.repeat(10_000)]) assert.equal(lookup.bannedBy(text), null, text);
  });

  it('an address inside a banned network counts, and lifting the network ban is seen at once', () => {
    const source = banSource('postfix', ['2001:db8:5::/64', '203.0.113.0/24']);
    const lookup = new BanLookup(() => [source]);
    assert.equal(lookup.bannedBy('2001:db8:5::abcd'), 'postfix');
    assert.equal(lookup.bannedBy('203.0.113.77'), 'postfix');
    assert.equal(lookup.bannedBy('2001:db8:6::1'), null);
    source.jail.bans.remove('2001:db8:5::/64');
    assert.equal(lookup.bannedBy('2001:db8:5::abcd'), null);
    source.jail.bans.add({ ip: '2001:db8:6::/48', jail: 'postfix', time: 0, bantime: -1, banCount: 1, failures: 1, matches: [] });
    assert.equal(lookup.bannedBy('2001:db8:6::1'), 'postfix');
  });

  it('answers in well under a millisecond with 100,000 bans', () => {
    const addresses = Array.from({ length: 100_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    addresses.push('2001:db8:9::/64');
    const big = banSource('big', addresses);
    const lookup = new BanLookup(() => [big]);
    lookup.bannedBy('192.0.2.1'); // builds the network set once
    const n = 10_000;
    const start = process.hrtime.bigint();
    let hits = 0;
    for (let i = 0; i < n; i++) if (lookup.bannedBy(i % 2 === 0 ? '10.0.3.4' : '2001:db8:9::1') !== null) hits++;
    const perLookupUs = Number(process.hrtime.bigint() - start) / n / 1000;
    assert.equal(hits, n);
    assert.ok(perLookupUs < 100, `${perLookupUs.toFixed(2)} µs per lookup`);
  });
});
