import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isIP } from 'node:net';
import { AddressSet, cidrsOverlap, ipv4Value, isLoopback, normalizeIp, parseCidr, parseIp } from './ip.js';

describe('parseIp', () => {
  it('accepts and canonicalises IPv4 and IPv6', () => {
    assert.deepEqual(parseIp('192.0.2.1'), { text: '192.0.2.1', family: 4 });
    assert.equal(normalizeIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(normalizeIp('2001:0db8:0000:0000:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(normalizeIp('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normalizeIp('::'), '::');
    assert.equal(normalizeIp('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
    assert.equal(normalizeIp('1:2:3:4:5:6:7:0'), '1:2:3:4:5:6:7:0');
    assert.equal(normalizeIp('64:ff9b::192.0.2.33'), '64:ff9b::c000:221');
  });

  it('folds IPv4-mapped IPv6 to IPv4', () => {
    assert.deepEqual(parseIp('::ffff:192.0.2.1'), { text: '192.0.2.1', family: 4 });
    assert.deepEqual(parseIp('::FFFF:c000:0201'), { text: '192.0.2.1', family: 4 });
  });

  it('rejects everything else', () => {
    for (const bad of ['', ' 1.2.3.4', '1.2.3.4 ', '01.2.3.4', '1.2.3.256', '1.2.3', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9',
      '::1::', 'example.com', '1.2.3.4/32', '1.2.3.4;rm -rf /', 'gggg::1']) {
      assert.equal(parseIp(bad), null, bad);
    }
  });

  it('recognises loopback', () => {
    assert.ok(isLoopback(parseIp('127.0.0.1')!));
    assert.ok(isLoopback(parseIp('127.255.1.2')!));
    assert.ok(isLoopback(parseIp('::1')!));
    assert.ok(isLoopback(parseIp('::ffff:127.0.0.1')!));
    assert.ok(!isLoopback(parseIp('128.0.0.1')!));
    assert.ok(!isLoopback(parseIp('::2')!));
  });

  it('round-trips: canonical text parses to itself (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (addr) => {
        const p = parseIp(addr);
        assert.ok(p !== null, addr);
        assert.deepEqual(parseIp(p.text), p);
      }),
      { numRuns: 2000 },
    );
  });

  it('IPv6 canonical form is what the WHATWG URL parser prints (property, non-mapped)', () => {
    fc.assert(
      fc.property(fc.ipV6(), (addr) => {
        const p = parseIp(addr)!;
        fc.pre(p.family === 6);
        assert.equal(p.text, new URL(`http://[${addr}]/`).hostname.slice(1, -1));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseCidr', () => {
  it('clears host bits and keeps the prefix', () => {
    assert.equal(parseCidr('10.1.2.3/8')?.text, '10.0.0.0/8');
    assert.equal(parseCidr('10.1.2.3/32')?.text, '10.1.2.3');
    assert.equal(parseCidr('0.0.0.0/0')?.text, '0.0.0.0/0');
    assert.equal(parseCidr('2001:db8:abcd::1/32')?.text, '2001:db8::/32');
    assert.equal(parseCidr('2001:db8::1/128')?.text, '2001:db8::1');
    assert.equal(parseCidr('::ffff:10.9.8.7/104')?.text, '10.0.0.0/8');
    assert.equal(parseCidr('192.0.2.1')?.prefix, 32);
  });

  it('rejects malformed networks', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', '::/129', 'x/8', '10.0.0.0/8/8', '10.0.0.0/ 8']) {
      assert.equal(parseCidr(bad), null, bad);
    }
  });
});

describe('AddressSet', () => {
  it('matches addresses and networks of both families', () => {
    const set = new AddressSet();
    set.add(parseCidr('192.0.2.0/24')!);
    set.add(parseCidr('2001:db8::/32')!);
    set.add(parseCidr('198.51.100.7')!);
    assert.ok(set.has(parseIp('192.0.2.200')!));
    assert.ok(set.has(parseIp('::ffff:192.0.2.9')!));
    assert.ok(set.has(parseIp('2001:db8:1::5')!));
    assert.ok(set.has(parseIp('198.51.100.7')!));
    assert.ok(!set.has(parseIp('198.51.100.8')!));
    assert.ok(!set.has(parseIp('192.0.3.1')!));
    assert.ok(!set.has(parseIp('2001:db9::1')!));
  });

  it('containment agrees with a bit-level model for IPv4 (property)', () => {
    const toInt = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4(), (net, prefix, addr) => {
        const set = new AddressSet();
        set.add(parseCidr(`${net}/${prefix}`)!);
        const size = 2 ** (32 - prefix);
        const expected = Math.floor(toInt(net) / size) === Math.floor(toInt(addr) / size);
        assert.equal(set.has(parseIp(addr)!), expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('cidrsOverlap', () => {
  it('is true for nested networks either way and false for disjoint ones or mixed families', () => {
    const c = (s: string) => parseCidr(s)!;
    assert.ok(cidrsOverlap(c('10.0.0.0/8'), c('10.1.2.3')));
    assert.ok(cidrsOverlap(c('10.1.2.3'), c('10.0.0.0/8')));
    assert.ok(cidrsOverlap(c('10.1.0.0/16'), c('10.1.2.0/24')));
    assert.ok(!cidrsOverlap(c('10.1.0.0/16'), c('10.2.0.0/16')));
    assert.ok(!cidrsOverlap(c('0.0.0.0/0'), c('::/0')));
    assert.ok(cidrsOverlap(c('::/0'), c('::1')));
  });
});

describe('ipv4Value', () => {
  it("accepts exactly what node's isIP takes for IPv4, with the address's value", () => {
    const samples = ['0.0.0.0', '255.255.255.255', '192.0.2.1', '10.0.0.1', '01.2.3.4', '1.2.3.04', '1.2.3.256', '1.2.3', '1.2.3.4.5'];
    samples.push('1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.1000', '1.2.3.00', '0.0.0.00', '१.2.3.4', '1.2.3.4/32', '::ffff:1.2.3.4', '1.2.3.-4');
    for (let i = 0; i < 5000; i++) {
      const octet = () => (Math.random() < 0.9 ? String(Math.floor(Math.random() * 300)) : `0${Math.floor(Math.random() * 10)}`);
      samples.push([octet(), octet(), octet(), octet()].join('.'));
    }
    for (const text of samples) {
      const value = ipv4Value(text);
      assert.equal(value >= 0, isIP(text) === 4, text);
      if (value >= 0) assert.equal(value, text.split('.').reduce((v, o) => v * 256 + Number(o), 0), text);
    }
  });
});
