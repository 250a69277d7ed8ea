import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDropCounters } from './nftables-counters.js';

const rule = (chain: string, set: string, counter: { packets: number; bytes: number } | null) => ({
  rule: {
    family: 'inet',
    table: chain === 'other' ? 'filter' : 'f2b-table',
    chain: chain === 'other' ? 'input' : 'f2b-chain',
    handle: 4,
    expr: [
      { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { set: [110, 143] } } },
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: set } },
      counter ? { counter } : { drop: null },
    ],
  },
});

test('sums the IPv4 and IPv6 counting rules per jail; blocking rules and other tables are ignored', () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 'f2b-table' } },
      rule('f2b', '@addr-set-dovecot', { packets: 3, bytes: 180 }),
      rule('f2b', '@addr-set-dovecot', null),
      rule('f2b', '@addr6-set-dovecot', { packets: 2, bytes: 160 }),
      rule('f2b', '@addr-set-postfix-sasl.x', { packets: 0, bytes: 0 }),
      rule('other', '@addr-set-dovecot', { packets: 1000, bytes: 1000 }),
    ],
  });
  assert.deepEqual(
    [...parseDropCounters(json)],
    [
      ['dovecot', { packets: 5, bytes: 340 }],
      ['postfix-sasl.x', { packets: 0, bytes: 0 }],
    ],
  );
});

test('an empty ruleset has no counters', () => {
  assert.equal(parseDropCounters('{"nftables":[{"metainfo":{}}]}').size, 0);
});
