import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FleetBan, sign, verify } from './message.js';
import { banOf, remaining, ticketOf } from './remaining.js';
import { fleetSettings, parseRedisUrl } from '../config/fleet-settings.js';

const SECRET = 'a-fleet-secret-of-32-characters!';
const ban: FleetBan = { kind: 'ban', origin: 'mx1', jail: 'dovecot', ip: '203.0.113.7', start: 1_800_000_000, end: 1_800_003_600, failures: 5, banCount: 1 };

describe('fleet messages', () => {
  it('a signed message verifies and comes back whole', () => {
    assert.deepEqual(verify({ ...sign(ban, SECRET) }, SECRET), { ok: true, message: ban });
  });

  it('refuses unsigned, forged, wrong-secret and tampered messages', () => {
    const good = sign(ban, SECRET);
    assert.equal(verify({ m: good.m }, SECRET).ok, false);
    assert.deepEqual(verify({ m: good.m, s: 'x'.repeat(64) }, SECRET), { ok: false, reason: 'bad signature' });
    assert.deepEqual(verify(sign(ban, 'another-secret-of-enough-length'), SECRET), { ok: false, reason: 'bad signature' });
    const tampered = { m: good.m.replace('203.0.113.7', '203.0.113.8'), s: good.s };
    assert.deepEqual(verify(tampered, SECRET), { ok: false, reason: 'bad signature' });
  });

  it('refuses signed messages with invalid fields: nothing unvalidated reaches the firewall', () => {
    const bad = (patch: Record<string, unknown>) => verify(sign({ ...ban, ...patch } as FleetBan, SECRET), SECRET);
    assert.deepEqual(bad({ ip: '203.0.113.7; rm -rf /' }), { ok: false, reason: 'invalid ip' });
    assert.deepEqual(bad({ ip: '0.0.0.0/0' }), { ok: false, reason: 'invalid ip' });
    assert.deepEqual(bad({ jail: 'a b' }), { ok: false, reason: 'invalid jail' });
    assert.deepEqual(bad({ origin: '' }), { ok: false, reason: 'invalid origin' });
    assert.deepEqual(bad({ end: ban.start }), { ok: false, reason: 'invalid end' });
    assert.deepEqual(bad({ start: 1.0001 }), { ok: false, reason: 'invalid start' });
    assert.deepEqual(bad({ start: Number.NaN }), { ok: false, reason: 'invalid start' });
    assert.deepEqual(bad({ failures: -1 }), { ok: false, reason: 'invalid failures' });
    assert.deepEqual(bad({ kind: 'exec' }), { ok: false, reason: 'invalid kind' });
    const notJson = { m: '{', s: '' };
    notJson.s = sign(ban, SECRET).s; // right length, wrong body
    assert.equal(verify(notJson, SECRET).ok, false);
  });

  it('normalizes addresses and networks', () => {
    const v6 = verify(sign({ ...ban, ip: '2001:DB8:0:0::1' }, SECRET), SECRET);
    assert.ok(v6.ok && v6.message.ip === '2001:db8::1');
    const net = verify(sign({ ...ban, ip: '198.51.100.0/24' }, SECRET), SECRET);
    assert.ok(net.ok && net.message.ip === '198.51.100.0/24');
  });
});

describe('remaining time', () => {
  it('a received ban keeps its start and end: the time left, not a fresh bantime', () => {
    const t = ticketOf(ban, 'custom');
    assert.equal(t.time + t.bantime, ban.end);
    assert.equal(t.jail, 'custom');
    assert.equal(remaining(ban, ban.start + 600), 3000);
    assert.ok(remaining(ban, ban.end + 1) < 0, 'over');
    assert.equal(remaining({ end: -1 }, ban.end), Number.POSITIVE_INFINITY);
  });

  it('a local ticket becomes a message with start, end, failures and ban count', () => {
    const m = banOf({ ip: '192.0.2.1', jail: 'postfix', time: 1_800_000_000.4, bantime: 10800, banCount: 2, failures: 3, matches: [] }, 'mx2');
    assert.deepEqual(m, { kind: 'ban', origin: 'mx2', jail: 'postfix', ip: '192.0.2.1', start: 1_800_000_000.4, end: 1_800_010_800.4, failures: 3, banCount: 2 });
    assert.equal(ticketOf(m, 'postfix').bantime, 10800, 'the same bantime on the receiver, not one rounded up');
    assert.equal(banOf({ ip: '192.0.2.1', jail: 'p', time: 1000, bantime: -1, banCount: 1, failures: 0, matches: [] }, 'n').end, -1);
  });
});

describe('fleet settings', () => {
  it('parses TCP, TLS with an ACL user, and unix socket URLs', () => {
    const tcp = parseRedisUrl('redis://:s3cret@10.0.0.5:6380/2');
    assert.deepEqual([tcp.host, tcp.port, tcp.password, tcp.db, tcp.tls], ['10.0.0.5', 6380, 's3cret', 2, false]);
    const tls = parseRedisUrl('rediss://fleet:p%40ss@redis.example.org');
    assert.deepEqual([tls.host, tls.port, tls.username, tls.password, tls.tls], ['redis.example.org', 6379, 'fleet', 'p@ss', true]);
    assert.ok(!tls.display.includes('p@ss'), 'no password in what is shown');
    const unix = parseRedisUrl('unix:///run/redis/redis.sock?user=fleet&password=pw&db=1');
    assert.deepEqual([unix.path, unix.username, unix.password, unix.db], ['/run/redis/redis.sock', 'fleet', 'pw', 1]);
    assert.throws(() => parseRedisUrl('http://x'), /unsupported scheme/);
  });

  it('is off without a URL and needs a long enough secret with one', () => {
    assert.equal(fleetSettings({ url: '', secret: '', name: '', jail: '' }), null);
    assert.throws(() => fleetSettings({ url: 'redis://h', secret: 'short', name: 'a', jail: '' }), /fleetsecret/);
    const s = fleetSettings({ url: 'redis://h', secret: SECRET, name: 'mx1', jail: '' });
    assert.equal(s?.fallbackJail, 'custom');
  });
});
