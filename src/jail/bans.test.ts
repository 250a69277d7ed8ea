import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BantimeIncrement } from '../config/model.js';
import { BanList, type BanTicket, bantimeCalculator, MemoryBanHistory } from './bans.js';
import { compileFormula, FormulaError } from './formula.js';

const inc = (over: Partial<BantimeIncrement> = {}): BantimeIncrement => ({
  enabled: true, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false, ...over,
});
const zero = () => 0;

describe('bantime.increment', () => {
  it('leaves the bantime alone when off, for a first ban, or when permanent', () => {
    assert.equal(bantimeCalculator(inc({ enabled: false }))(600, 5, zero), 600);
    assert.equal(bantimeCalculator(inc())(600, 0, zero), 600);
    assert.equal(bantimeCalculator(inc())(-1, 3, zero), -1);
  });

  it('default formula doubles per earlier ban, times factor, capped at 2^20', () => {
    const calc = bantimeCalculator(inc());
    assert.deepEqual([1, 2, 3, 4].map((n) => calc(600, n, zero)), [1200, 2400, 4800, 9600]);
    assert.equal(calc(1, 25, zero), 2 ** 20);
    assert.equal(bantimeCalculator(inc({ factor: 3 }))(600, 2, zero), 600 * 4 * 3);
  });

  it('the default formula written out gives the same numbers as the built-in one', () => {
    const written = bantimeCalculator(inc({ formula: 'ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor', factor: 2 }));
    const builtin = bantimeCalculator(inc({ factor: 2 }));
    for (let n = 1; n < 25; n++) assert.equal(written(600, n, zero), builtin(600, n, zero));
  });

  it('evaluates the documented exponential formula and never goes below bantime', () => {
    const f = 'ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)';
    const calc = bantimeCalculator(inc({ formula: f, factor: 2 / 2.885385 }));
    assert.ok(Math.abs(calc(600, 1, zero) - 1200) < 0.01);
    assert.ok(Math.abs(calc(600, 3, zero) - 4800) < 0.1);
    assert.equal(bantimeCalculator(inc({ formula: 'ban.Time / 10' }))(600, 2, zero), 600);
  });

  it('multipliers replace the formula; the last one repeats', () => {
    const calc = bantimeCalculator(inc({ multipliers: [1, 5, 30], factor: 2 }));
    assert.deepEqual([1, 2, 3, 9].map((n) => calc(60, n, zero)), [600, 3600, 3600, 3600]);
  });

  it('maxtime caps, then rndtime adds the injected random share', () => {
    const calc = bantimeCalculator(inc({ maxtime: 3000, rndtime: 100 }));
    assert.equal(calc(600, 1, zero), 1200);
    assert.equal(calc(600, 5, zero), 3000);
    assert.equal(calc(600, 5, () => 0.5), 3050);
  });

  it('a formula that overflows is capped at maxtime (or falls back to bantime) and never throws', () => {
    const huge = 'ban.Time * math.exp(float(ban.Count + 1) * banFactor) / math.exp(1 * banFactor)';
    assert.equal(bantimeCalculator(inc({ formula: huge, maxtime: 86400 }))(600, 5000, zero), 86400);
    assert.equal(bantimeCalculator(inc({ formula: huge }))(600, 5000, zero), 600);
    assert.equal(bantimeCalculator(inc({ formula: 'ban.Time * (ban.Count - ban.Count) / 0', maxtime: 60 }))(600, 3, zero), 600);
  });

  it('replace() prolongs a running ban; the old end no longer expires it', () => {
    const l = new BanList();
    l.add(t('a', 0, 100));
    assert.ok(l.replace(t('a', 0, 300)));
    assert.equal(l.replace(t('b', 0, 300)), false);
    assert.deepEqual(l.expire(200), []);
    assert.deepEqual(l.expire(301).map((x) => x.bantime), [300]);
  });

  it('rejects formulas outside the subset with a clear error', () => {
    assert.throws(() => bantimeCalculator(inc({ formula: '__import__("os").system("id")' })), FormulaError);
    assert.throws(() => compileFormula('ban.Time + constructor'), /unknown name constructor/);
    assert.throws(() => compileFormula('ban.Time ;'), /cannot read/);
    assert.throws(() => compileFormula('(ban.Time'), /expected \)/);
    assert.throws(() => compileFormula(''), /empty/);
  });

  it('formula evaluator follows Python semantics for the operators it supports', () => {
    const ev = (s: string, count = 3) => compileFormula(s)({ time: 10, count, factor: 2 });
    assert.equal(ev('7 // 2'), 3);
    assert.equal(ev('-7 // 2'), -4);
    assert.equal(ev('-7 % 3'), 2);
    assert.equal(ev('2 ** 3 ** 2'), 512);
    assert.equal(ev('-2 ** 2'), -4);
    assert.equal(ev('1 << 30 << 10'), 2 ** 40);
    assert.equal(ev('1 < ban.Count < 5'), 1);
    assert.equal(ev('1 < ban.Count < 2'), 0);
    assert.equal(ev('ban.Time if not ban.Count > 2 else banFactor'), 2);
    assert.equal(ev('max(1, ban.Count, 2) + min(4, 5)'), 7);
    assert.equal(ev('1e3 + .5'), 1000.5);
  });
});

describe('MemoryBanHistory', () => {
  it('counts per jail, or summed over jails', () => {
    const h = new MemoryBanHistory();
    h.record({ ip: 'a', jail: 'j1', banCount: 2, time: 5 });
    h.record({ ip: 'a', jail: 'j2', banCount: 3, time: 6 });
    assert.deepEqual(h.lastBan('a', 'j2'), { banCount: 3, time: 6 });
    h.forget('a', 'j2');
    assert.equal(h.previousBans('a', null), 2);
    h.record({ ip: 'a', jail: 'j2', banCount: 3, time: 6 });
    assert.equal(h.previousBans('a', 'j1'), 2);
    assert.equal(h.previousBans('a', null), 5);
    assert.equal(h.previousBans('b', null), 0);
  });
});

const t = (ip: string, time: number, bantime: number): BanTicket => ({ ip, jail: 'j', time, bantime, banCount: 1, failures: 3, matches: [] });

describe('BanList', () => {
  it('nextEnd() is the soonest end; onSooner is called only for a ban that ends before every other', () => {
    let calls = 0;
    const l = new BanList(() => calls++);
    assert.equal(l.nextEnd(), Number.POSITIVE_INFINITY);
    l.add(t('a', 0, 100));
    assert.deepEqual([l.nextEnd(), calls], [100, 1]);
    l.add(t('b', 10, 100));
    l.add(t('p', 0, -1));
    assert.deepEqual([l.nextEnd(), calls], [100, 1], 'a later end or a permanent ban moves nothing');
    l.add(t('c', 0, 40));
    assert.deepEqual([l.nextEnd(), calls], [40, 2]);
    l.expire(41);
    assert.equal(l.nextEnd(), 100);
    l.expire(111);
    assert.equal(l.nextEnd(), Number.POSITIVE_INFINITY);
  });

  it('refuses a second ban of the same IP and keeps ban order', () => {
    const l = new BanList();
    assert.equal(l.add(t('b', 0, 10)), true);
    assert.equal(l.add(t('a', 1, 10)), true);
    assert.equal(l.add(t('b', 2, 10)), false);
    assert.deepEqual(l.list().map((x) => x.ip), ['b', 'a']);
    assert.equal(l.total, 2);
  });

  it('expires by end time, never permanent bans, and skips unbanned tickets', () => {
    const l = new BanList();
    l.add(t('a', 0, 100));
    l.add(t('b', 0, 50));
    l.add(t('p', 0, -1));
    l.add(t('c', 0, 75));
    assert.ok(l.remove('c'));
    assert.equal(l.remove('c'), null);
    assert.deepEqual(l.expire(50), [], 'a ban ending now still holds (Fail2Ban lifts when now > end)');
    assert.deepEqual(l.expire(50.5).map((x) => x.ip), ['b']);
    assert.deepEqual(l.expire(10 ** 9).map((x) => x.ip), ['a']);
    assert.deepEqual(l.list().map((x) => x.ip), ['p']);
  });

  it('expires in end order across many bans', () => {
    const l = new BanList();
    const ends: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const bt = (i * 7919) % 1000;
      ends.push(bt);
      l.add(t(`ip${i}`, 0, bt));
    }
    const out = l.expire(500).map((x) => x.bantime);
    assert.equal(out.length, ends.filter((e) => e < 500).length);
    assert.deepEqual(out, [...out].sort((x, y) => x - y));
    assert.equal(l.size, 2000 - out.length);
  });
});
