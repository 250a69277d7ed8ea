import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Gateways, parseIpv6Route, parseRoute } from './gateways.js';

test('parseRoute reads each route\'s gateway (little-endian hex, RTF_GATEWAY set)', () => {
  const text = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'br0\t0000A8C0\t0112AC0A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0',
    'garbage',
  ].join('\n');
  assert.deepEqual(parseRoute(text), ['192.0.2.1', '10.172.18.1']);
});

test('parseIpv6Route reads next hops and skips routes without one', () => {
  const text = [
    'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
    '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0',
    '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000000000fffe000001 00000400 00000002 00000000 00000003     eth1',
  ].join('\n');
  assert.deepEqual(parseIpv6Route(text), ['fd00::1', 'fe80::ff:fe00:1']);
});

test('Gateways reads again once the copy is a second old; covers() also matches a network holding a gateway', () => {
  let now = 0;
  let list = ['172.18.0.1'];
  let reads = 0;
  const gw = new Gateways(() => {
    reads++;
    return list;
  }, () => now);
  assert.ok(gw.covers('172.18.0.1'));
  assert.ok(gw.covers('172.18.0.0/16'));
  assert.ok(!gw.covers('172.18.0.2'));
  list = ['10.0.0.1'];
  now = 999;
  assert.ok(gw.covers('172.18.0.1'), 'still the cached copy');
  now = 1000;
  assert.ok(gw.covers('10.0.0.1') && !gw.covers('172.18.0.1'));
  assert.equal(reads, 2);
});
