import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JailConfig } from '../config/model.js';
import { banEnd, MemoryBanHistory } from './bans.js';
import { Jail } from './jail.js';

function config(over: Partial<JailConfig> = {}): JailConfig {
  return {
    name: 'dovecot', enabled: true, backend: 'auto', filter: null, actions: [], logpaths: [], logencoding: 'utf-8',
    bantime: 600, findtime: 600, maxretry: 3, maxmatches: 3, ignoreip: [], ignoreself: false, ignorecommand: '',
    usedns: 'warn', options: {},
    increment: { enabled: false, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false },
    ...over,
  };
}
const fail = (ip: string, time: number, line?: string) => ({ ip, time, ...(line === undefined ? {} : { line }) });

describe('Jail', () => {
  it('nextDeadline() is the sooner of a ban ending and a failure leaving findtime, and expire() acts on it', () => {
    let sooner = 0;
    const j = new Jail(config({ bantime: 100, findtime: 600 }), { onSooner: () => sooner++ });
    assert.equal(j.nextDeadline(), Number.POSITIVE_INFINITY);
    j.addFailure(fail('192.0.2.1', 1000), 1000);
    assert.deepEqual([j.nextDeadline(), sooner], [1600, 1]);
    j.addFailure(fail('192.0.2.2', 1001), 1001);
    j.addFailure(fail('192.0.2.2', 1002), 1002);
    const ticket = j.addFailure(fail('192.0.2.2', 1003), 1003);
    assert.ok(ticket && j.commitBan(ticket, 1003));
    assert.deepEqual([j.nextDeadline(), sooner], [1103, 2], 'the ban ends before the failure leaves the window');
    assert.deepEqual(j.expire(1104).map((b) => b.ip), ['192.0.2.2']);
    assert.equal(j.nextDeadline(), 1600);
    j.expire(1600);
    assert.equal(j.nextDeadline(), Number.POSITIVE_INFINITY);
  });

  it('2 failures: no ban; a paced third past findtime bans by the rate estimate, as Fail2Ban', () => {
    const j = new Jail(config());
    assert.equal(j.addFailure(fail('192.0.2.1', 1000), 1000), null);
    assert.equal(j.addFailure(fail('192.0.2.1', 1301), 1301), null);
    const ticket = j.addFailure(fail('192.0.2.1', 1602, 'auth failed'), 1602);
    assert.ok(ticket, '0, 301, 602 s: round(2 / 602 * 600) + 1 = 3');
    assert.deepEqual({ ip: ticket.ip, time: ticket.time, bantime: ticket.bantime, failures: ticket.failures, banCount: ticket.banCount },
      { ip: '192.0.2.1', time: 1602, bantime: 600, failures: 3, banCount: 1 });
    assert.equal(j.status().currentlyBanned, 0, 'not active before commitBan');
    assert.equal(j.commitBan(ticket, 1602)?.kind, 'ban');
    assert.equal(j.commitBan(ticket, 1602), null, 'the same ticket again changes nothing');
    assert.deepEqual(j.status(), { currentlyFailed: 0, totalFailed: 3, currentlyBanned: 1, totalBanned: 1, bannedIps: ['192.0.2.1'] });
  });

  it('ignores failures older than now - findtime; a future date counts as now', () => {
    const j = new Jail(config({ maxretry: 1, bantime: 100 }));
    assert.equal(j.addFailure(fail('192.0.2.1', 100), 1000), null);
    const t = j.addFailure(fail('192.0.2.1', 10 ** 12), 1000);
    assert.equal(t?.time, 1000, 'a forged future date must not make a giant ban');
  });

  it('failures while banned still count and prolong the ban to last failure + bantime', () => {
    const j = new Jail(config({ maxretry: 2, bantime: 100 }));
    j.addFailure(fail('192.0.2.1', 0), 0);
    const first = j.addFailure(fail('192.0.2.1', 1), 1)!;
    assert.equal(j.commitBan(first, 1)?.kind, 'ban');
    j.addFailure(fail('192.0.2.1', 50), 50);
    const again = j.addFailure(fail('192.0.2.1', 60), 60)!;
    const c = j.commitBan(again, 60);
    assert.deepEqual([c?.kind, c?.ticket.time, c?.ticket.bantime], ['prolong', 1, 159]);
    assert.equal(j.status().totalBanned, 1, 'still one ban');
    assert.deepEqual(j.expire(160), [], 'ends at 160, lifted only after');
    assert.equal(j.expire(160.5).length, 1);
  });

  it('with bantime.increment, an earlier offender\'s failures weigh more (2nd failure, then 1st, bans)', () => {
    const inc = { enabled: true, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false };
    const j = new Jail(config({ maxretry: 3, bantime: 10, increment: inc }));
    const ban = (t0: number, n: number) => {
      for (let i = 0; i < n - 1; i++) assert.equal(j.addFailure(fail('192.0.2.1', t0 + i), t0 + i), null, `failure ${i + 1}`);
      const t = j.addFailure(fail('192.0.2.1', t0 + n - 1), t0 + n - 1)!;
      assert.ok(t, `banned at failure ${n}`);
      j.commitBan(t, t.time);
      assert.equal(j.expire(t.time + t.bantime + 1).length, 1);
      return t;
    };
    assert.deepEqual([ban(0, 3).bantime, ban(1000, 2).bantime, ban(2000, 1).bantime], [10, 20, 40]);
    j.ban('192.0.2.1', 3000);
    j.unban('192.0.2.1');
    assert.equal(ban(4000, 3).bantime, 10, 'a manual unban resets the history');
  });

  it('does not make a ban that is already over (old log read from its head)', () => {
    const j = new Jail(config({ maxretry: 1, findtime: 10_000, bantime: 60 }));
    const t = j.addFailure(fail('192.0.2.1', 100), 1000);
    assert.ok(t);
    assert.equal(j.commitBan(t, 1000), null);
    assert.equal(j.status().currentlyBanned, 0);
  });

  it('never bans loopback or ignoreip addresses from failures; manual ban refuses only loopback', () => {
    const j = new Jail(config({ maxretry: 1, ignoreip: ['192.0.2.0/24', '2001:db8::/32'] }));
    for (const ip of ['127.0.0.1', '::1', '192.0.2.9', '2001:db8::5', '::ffff:192.0.2.10']) {
      assert.equal(j.addFailure(fail(ip, 10), 10), null, ip);
    }
    assert.equal(j.ignoredFailures, 5);
    assert.deepEqual(j.ban('127.0.0.1', 10), { ok: false, reason: 'loopback' });
    assert.deepEqual(j.ban('::ffff:127.0.0.2', 10), { ok: false, reason: 'loopback' });
    assert.deepEqual(j.ban('nonsense', 10), { ok: false, reason: 'invalid' });
    assert.equal(j.ban('192.0.2.9', 10).ok, true);
    // Banned again later: not a new ban, but it now ends bantime after the second ban (Fail2Ban prolongs).
    const again = j.ban('192.0.2.9', 11);
    assert.equal(again.ok, false);
    assert.ok(!again.ok && again.reason === 'already-banned' && again.prolonged !== null);
    assert.equal(banEnd(again.prolonged), 11 + j.config.bantime);
    assert.equal(banEnd(j.bans.get('192.0.2.9')!), 11 + j.config.bantime);
    assert.deepEqual(j.ban('192.0.2.9', 11), { ok: false, reason: 'already-banned', prolonged: null });
  });

  it('normalises addresses so one host is one ban', () => {
    const j = new Jail(config({ maxretry: 2 }));
    j.addFailure(fail('2001:DB8:0::1', 10), 10);
    const t = j.addFailure(fail('2001:db8::1', 11), 11);
    assert.equal(t?.ip, '2001:db8::1');
    assert.ok(j.commitBan(t!, 11));
    assert.ok(j.unban('2001:0db8::0001'));
    assert.equal(j.unban('2001:db8::1'), null);
  });

  it('expires bans and restores unexpired ones', () => {
    const j = new Jail(config({ maxretry: 1, bantime: 100 }));
    j.commitBan(j.addFailure(fail('192.0.2.1', 0), 0)!, 0);
    j.ban('192.0.2.2', 50);
    assert.deepEqual(j.expire(100).map((t) => t.ip), []);
    assert.deepEqual(j.expire(101).map((t) => t.ip), ['192.0.2.1']);
    const again = new Jail(config({ bantime: 100 }));
    const [left] = j.bans.list();
    assert.equal(again.restore(left!, 120), true);
    assert.equal(again.restore(left!, 120), false);
    assert.equal(again.restore({ ...left!, ip: '192.0.2.3', time: 0 }, 120), false, 'already over');
    assert.deepEqual(again.status().bannedIps, ['192.0.2.2']);
  });

  it('bantime.increment grows with earlier bans; overalljails counts other jails', () => {
    const history = new MemoryBanHistory();
    const inc = { enabled: true, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false };
    const a = new Jail(config({ name: 'a', maxretry: 1, increment: inc }), { history });
    const b = new Jail(config({ name: 'b', maxretry: 1, increment: { ...inc, overalljails: true } }), { history });
    const t1 = a.addFailure(fail('192.0.2.1', 0), 0)!;
    assert.equal(t1.bantime, 600);
    a.commitBan(t1, 0);
    a.expire(601);
    const t2 = a.addFailure(fail('192.0.2.1', 700), 700)!;
    assert.deepEqual([t2.bantime, t2.banCount], [1200, 2]);
    a.commitBan(t2, 700);
    const tb = b.ban('192.0.2.1', 800);
    assert.ok(tb.ok);
    assert.deepEqual([tb.ticket.bantime, tb.ticket.banCount], [600 * 4, 3], 'two earlier bans across jails');
  });

  it('rndtime uses the injected random source; permanent bans never expire', () => {
    const inc = { enabled: true, factor: 1, formula: null, multipliers: [], maxtime: 1000, rndtime: 60, overalljails: false };
    const history = new MemoryBanHistory();
    history.record({ ip: '192.0.2.1', jail: 'dovecot', banCount: 4, time: 0 });
    const j = new Jail(config({ increment: inc }), { history, random: () => 0.25 });
    const r = j.ban('192.0.2.1', 0);
    assert.ok(r.ok);
    assert.equal(r.ticket.bantime, 1015);
    const p = new Jail(config({ bantime: -1, maxretry: 1 }));
    p.commitBan(p.addFailure(fail('192.0.2.9', 0), 0)!, 0);
    assert.deepEqual(p.expire(10 ** 12), []);
    assert.equal(p.status().currentlyBanned, 1);
  });

  it('keeps at most maxmatches matched lines on the ticket', () => {
    const j = new Jail(config({ maxretry: 3, maxmatches: 2 }));
    j.addFailure(fail('192.0.2.1', 1, 'l1'), 1);
    j.addFailure(fail('192.0.2.1', 2, 'l2'), 2);
    assert.deepEqual(j.addFailure(fail('192.0.2.1', 3, 'l3'), 3)?.matches, ['l2', 'l3']);
  });

  it('with keepMatches off the running ban drops its matches; the committed ticket still has them for the store', () => {
    const j = new Jail(config({ maxretry: 2, maxmatches: 2 }), { keepMatches: false });
    j.addFailure(fail('192.0.2.1', 1, 'l1'), 1);
    const commit = j.commitBan(j.addFailure(fail('192.0.2.1', 2, 'l2'), 2)!, 2);
    assert.deepEqual(commit?.ticket.matches, ['l1', 'l2']);
    assert.deepEqual(j.bans.get('192.0.2.1')?.matches, []);
    assert.ok(j.restore({ ip: '192.0.2.2', jail: j.name, time: 2, bantime: 600, banCount: 1, failures: 2, matches: ['x'] }, 2));
    assert.deepEqual(j.bans.get('192.0.2.2')?.matches, []);
    const kept = new Jail(config({ maxretry: 1, maxmatches: 2 }));
    kept.commitBan(kept.addFailure(fail('192.0.2.3', 1, 'l1'), 1)!, 1);
    assert.deepEqual(kept.bans.get('192.0.2.3')?.matches, ['l1'], 'kept by default');
  });

  it('bans a <SUBNET> network, unless it overlaps loopback or an ignored address', () => {
    const j = new Jail(config({ maxretry: 1, ignoreip: ['198.51.100.5'] }));
    const t = j.addFailure(fail('203.0.113.77/24', 5), 5);
    assert.equal(t?.ip, '203.0.113.0/24');
    assert.equal(j.addFailure(fail('198.51.100.0/24', 5), 5), null, 'contains an ignored host');
    assert.equal(j.addFailure(fail('127.0.0.0/16', 5), 5), null);
    assert.equal(j.addFailure(fail('2001:db8::/32', 5), 5)?.ip, '2001:db8::/32');
    assert.equal(j.addFailure(fail('::/0', 5), 5), null, 'contains ::1');
    assert.equal(j.addFailure(fail('192.0.2.4/32', 5), 5)?.ip, '192.0.2.4');
    assert.deepEqual(j.ban('0.0.0.0/0', 5), { ok: false, reason: 'loopback' });
    assert.equal(j.ban('198.51.100.0/24', 5).ok, true, 'a manual ban overrides ignoreip, as in Fail2Ban');
  });

  it('ipv6_subnet 64: three addresses of one /64 count together and ban the /64; unban of a 4th address lifts it', () => {
    const j = new Jail(config({ subnets: { v4: 32, v6: 64 } }));
    assert.equal(j.addFailure(fail('2001:db8:1:2::a', 1000), 1000), null);
    assert.equal(j.addFailure(fail('2001:db8:1:2::b', 1001), 1001), null);
    const ticket = j.addFailure(fail('2001:db8:1:2:ffff::c', 1002), 1002);
    assert.equal(ticket?.ip, '2001:db8:1:2::/64');
    assert.equal(j.commitBan(ticket!, 1002)?.kind, 'ban');
    assert.deepEqual(j.status().bannedIps, ['2001:db8:1:2::/64']);
    assert.equal(j.addFailure(fail('2001:db8:1:3::a', 1003), 1003), null, 'another /64 counts apart');
    assert.equal(j.unban('2001:db8:1:2::1234')?.ip, '2001:db8:1:2::/64');
    assert.equal(j.status().currentlyBanned, 0);
    // IPv4 keeps its own setting (32 here): one address at a time.
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) assert.equal(j.addFailure(fail(ip, 1004), 1004), null);
  });

  it('ipv4_subnet 24 bans the /24, but never a network that holds an ignored address', () => {
    const j = new Jail(config({ subnets: { v4: 24, v6: 128 }, ignoreip: ['198.51.100.7'] }));
    for (const ip of ['192.0.2.1', '192.0.2.2']) assert.equal(j.addFailure(fail(ip, 1000), 1000), null);
    assert.equal(j.addFailure(fail('192.0.2.3', 1000), 1000)?.ip, '192.0.2.0/24');
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      assert.equal(j.addFailure(fail(ip, 1000), 1000), null, 'counted one address at a time');
    }
  });
});
