import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JailConfig } from '../config/model.js';
import { filterDefinition } from '../filter/test-definition.js';
import { Replay } from './replay.js';

const filter = filterDefinition({ failregex: ['auth failed from <HOST>$'] });

function jail(over: Partial<JailConfig> = {}): JailConfig {
  return {
    name: 'mail', enabled: true, backend: 'auto', filter, actions: [], logpaths: [], logencoding: 'utf-8',
    bantime: 3600, findtime: 600, maxretry: 3, maxmatches: 0, ignoreip: ['127.0.0.1/8'], ignoreself: false,
    ignorecommand: '', usedns: 'no', options: {},
    increment: { enabled: false, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false },
    ...over,
  };
}

const at = (iso: string, ip: string) => `${iso} host mail: auth failed from ${ip}`;
const referenceNow = Date.parse('2025-01-01T00:00:00Z') / 1000;

test('the log clock decides: 3 failures within findtime ban once, at the third failure', () => {
  const replay = new Replay([jail()], referenceNow);
  replay.line(at('2024-11-24T10:00:00Z', '192.0.2.7'));
  replay.line(at('2024-11-24T10:01:00Z', '192.0.2.7'));
  replay.line('2024-11-24T10:01:30Z host mail: login ok for 192.0.2.7');
  replay.line(at('2024-11-24T10:02:00Z', '192.0.2.7'));
  replay.line(at('2024-11-24T10:03:00Z', '192.0.2.7'));
  assert.deepEqual(
    replay.bans.map(({ jail, ip, time }) => ({ jail, ip, time })),
    [{ jail: 'mail', ip: '192.0.2.7', time: Date.parse('2024-11-24T10:02:00Z') / 1000 }],
  );
});

test('failures at 0, 6 and 12 minutes ban by the rate estimate (issue 11); 10 minutes apart do not', () => {
  const replay = new Replay([jail()], referenceNow);
  for (const minute of ['00', '06', '12']) replay.line(at(`2024-11-24T10:${minute}:00Z`, '192.0.2.8'));
  for (const minute of ['00', '10', '20', '30']) replay.line(at(`2024-11-24T12:${minute}:00Z`, '192.0.2.10'));
  for (let i = 0; i < 5; i++) replay.line(at(`2024-11-24T11:0${i}:00Z`, '127.0.0.1'));
  assert.deepEqual(
    replay.bans.map(({ ip, time, failures }) => ({ ip, time, failures })),
    [{ ip: '192.0.2.8', time: Date.parse('2024-11-24T10:12:00Z') / 1000, failures: 3 }],
  );
});

test('failures while banned prolong the ban; bantime.increment and overalljails use one shared history', () => {
  const inc = { enabled: true, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: true };
  const replay = new Replay([jail({ bantime: 60, increment: inc }), jail({ name: 'other', bantime: 60, increment: inc })], referenceNow);
  for (const s of ['00', '10', '20', '30', '40', '50']) replay.line(at(`2024-11-24T10:00:${s}Z`, '192.0.2.9'));
  const t0 = Date.parse('2024-11-24T10:00:20Z') / 1000;
  assert.deepEqual(
    replay.bans.map(({ jail, time, bantime, banCount }) => ({ jail, time, bantime, banCount })),
    [
      { jail: 'mail', time: t0, bantime: 60 + 20, banCount: 1 },
      { jail: 'other', time: t0, bantime: 120, banCount: 2 },
    ],
    // After its ban, each failure weighs 2 in 'mail', so :30 and :40 make a ticket that prolongs the ban
    // to :40 + 60 s; in 'other' (120 s, as the first ban counts across jails) that would be shorter.
    'prolonged in mail; the second jail sees the first ban (overalljails)',
  );
});

test('after the ban runs out in log time, the same address can be banned again', () => {
  const replay = new Replay([jail({ bantime: 60 })], referenceNow);
  for (const s of ['00', '10', '20']) replay.line(at(`2024-11-24T10:00:${s}Z`, '192.0.2.9'));
  for (const s of ['00', '10', '20']) replay.line(at(`2024-11-24T10:05:${s}Z`, '192.0.2.9'));
  assert.equal(replay.bans.length, 2);
});

test('a jail without failregex (the custom jail) is skipped', () => {
  const replay = new Replay([jail({ name: 'custom', filter: { ...filter, failregex: [] } })], referenceNow);
  assert.deepEqual(replay.jailNames, []);
});
