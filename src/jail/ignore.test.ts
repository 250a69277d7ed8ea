import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IgnoreList } from './ignore.js';

describe('IgnoreList', () => {
  it('ignores IPv4, IPv6 and CIDR entries of ignoreip', () => {
    const l = new IgnoreList({ ignoreip: ['192.0.2.7', '10.0.0.0/8', '2001:db8::/48', '2001:DB8:ffff::1'], ignoreself: false });
    assert.equal(l.checkText('192.0.2.7'), 'ignoreip');
    assert.equal(l.checkText('192.0.2.8'), null);
    assert.equal(l.checkText('10.200.3.4'), 'ignoreip');
    assert.equal(l.checkText('::ffff:10.1.1.1'), 'ignoreip');
    assert.equal(l.checkText('2001:db8:0:1::9'), 'ignoreip');
    assert.equal(l.checkText('2001:db8:1::9'), null);
    assert.equal(l.checkText('2001:db8:ffff:0::1'), 'ignoreip');
  });

  it('always ignores loopback, even with an empty list', () => {
    const l = new IgnoreList({ ignoreip: [], ignoreself: false });
    assert.equal(l.checkText('127.0.0.1'), 'loopback');
    assert.equal(l.checkText('127.1.2.3'), 'loopback');
    assert.equal(l.checkText('::1'), 'loopback');
    assert.equal(l.checkText('::ffff:127.0.0.1'), 'loopback');
  });

  it('ignoreself covers the injected own addresses only when enabled', () => {
    const self = ['203.0.113.5', 'fe80::1', 'not an ip'];
    assert.equal(new IgnoreList({ ignoreip: [], ignoreself: true, selfAddresses: self }).checkText('203.0.113.5'), 'ignoreself');
    assert.equal(new IgnoreList({ ignoreip: [], ignoreself: true, selfAddresses: self }).checkText('fe80::1'), 'ignoreself');
    assert.equal(new IgnoreList({ ignoreip: [], ignoreself: false, selfAddresses: self }).checkText('203.0.113.5'), null);
  });

  it('resolves DNS names through the injected resolver; a failing name adds nothing', async () => {
    const l = new IgnoreList({ ignoreip: ['mx.example.org', 'broken.example'], ignoreself: false });
    assert.deepEqual(l.names, ['mx.example.org', 'broken.example']);
    assert.equal(l.checkText('198.51.100.1'), null);
    await l.refresh(async (name) => {
      if (name === 'broken.example') throw new Error('timeout');
      return ['198.51.100.1', '2001:db8::25'];
    });
    assert.equal(l.checkText('198.51.100.1'), 'ignoreip');
    assert.equal(l.checkText('2001:db8::25'), 'ignoreip');
    await l.refresh(async () => []);
    assert.equal(l.checkText('198.51.100.1'), null);
  });

  it('rejects entries that are neither addresses nor names', () => {
    assert.throws(() => new IgnoreList({ ignoreip: ['10.0.0.0/33'], ignoreself: false }), /ignoreip: "10.0.0.0\/33"/);
    assert.throws(() => new IgnoreList({ ignoreip: ['$(id)'], ignoreself: false }), /neither/);
  });
});
