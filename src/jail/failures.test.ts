import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FailureCounter, MAX_MATCH_LENGTH, pyRound } from './failures.js';

/** Adds failures of one IP at `times` (now = the failure's time) and returns the retry after each. */
function run(findtime: number, times: number[]): number[] {
  const c = new FailureCounter({ findtime });
  return times.map((t) => c.add('192.0.2.1', t, t));
}

describe('FailureCounter (Fail2Ban FailManager semantics)', () => {
  it('counts failures within findtime one by one', () => {
    assert.deepEqual(run(600, [1000, 1100, 1600]), [1, 2, 3]);
  });

  it('estimates from the rate once the first failure is older than findtime (issue 11)', () => {
    // 0, 301, 602 s: round(2 / 602 * 600) + 1 = 3 — Fail2Ban bans at maxretry 3.
    assert.deepEqual(run(600, [0, 301, 602]), [1, 2, 3]);
    // 0, 360, 720 s: round(2 / 720 * 600) + 1 = 3.
    assert.deepEqual(run(600, [0, 360, 720]), [1, 2, 3]);
    // 0, 1, 2, 3, 601 s: round(4 / 601 * 600) + 1 = 5 — bans at maxretry 5.
    assert.deepEqual(run(600, [0, 1, 2, 3, 601]), [1, 2, 3, 4, 5]);
  });

  it('forgets an IP whose last failure is findtime or more before now', () => {
    assert.deepEqual(run(600, [0, 100, 700]), [1, 2, 1]);
    assert.deepEqual(run(600, [0, 100, 699]), [1, 2, 3]);
  });

  it('a slow, steady pace decays: the estimate halves when the gap doubles', () => {
    assert.deepEqual(run(100, [0, 99, 198, 297, 396]), [1, 2, 2, 2, 2]);
  });

  it('rounds halves to even like Python', () => {
    assert.deepEqual([0.5, 1.5, 2.5, 2.4999, 2.5001].map(pyRound), [0, 2, 2, 2, 3]);
  });

  it('an older failure adds to the count without moving the window', () => {
    const c = new FailureCounter({ findtime: 100 });
    c.add('a', 500, 500);
    assert.equal(c.add('a', 300, 500), 2);
    assert.equal(c.add('a', 450, 500), 3);
  });

  it('weigh() adds to a tracked IP only', () => {
    const c = new FailureCounter({ findtime: 100 });
    c.add('a', 1, 1);
    assert.equal(c.weigh('a', 2), 3);
    assert.equal(c.weigh('b', 2), 0);
  });

  it('take() returns retry, failures, times and the last maxmatches lines, and forgets the IP', () => {
    const c = new FailureCounter({ findtime: 60, maxMatches: 2 });
    c.add('a', 1, 1, 'line 1');
    c.add('a', 20, 20, 'line 2');
    c.add('a', 30, 30, 'line 3');
    assert.deepEqual(c.take('a'), { retry: 3, failures: 3, firstTime: 1, lastTime: 30, matches: ['line 2', 'line 3'] });
    assert.equal(c.size, 0);
    assert.equal(c.take('a'), null);
    assert.equal(c.total, 3);
  });

  it('adopt() takes over every IP with its counts, times and last lines, oldest first, under the new limits', () => {
    const old = new FailureCounter({ findtime: 60, maxMatches: 3 });
    old.add('a', 1, 1, 'a1');
    old.add('b', 5, 5, 'b1');
    old.add('a', 10, 10, 'a2');
    old.add('a', 12, 12, 'a3');
    const next = new FailureCounter({ findtime: 1200, maxMatches: 2, maxEntries: 1 });
    next.adopt(old);
    // The cap of 1 keeps the most recently failing IP, as eviction does.
    assert.equal(next.size, 1);
    assert.equal(next.count('b'), 0);
    assert.deepEqual(next.take('a'), { retry: 3, failures: 3, firstTime: 1, lastTime: 12, matches: ['a2', 'a3'] });
    assert.equal(old.size, 2, 'the previous counter is left as it was');
    const wide = new FailureCounter({ findtime: 1200 });
    wide.adopt(old);
    // The new findtime applies from the next failure on: 2000 s after b's, b starts afresh.
    assert.equal(wide.add('a', 13, 13), 4);
    assert.equal(wide.add('b', 2005, 2005), 1);
  });

  it('keeps no lines with maxmatches 0, and at most MAX_MATCH_LENGTH characters of one', () => {
    const none = new FailureCounter({ findtime: 60 });
    none.add('a', 1, 1, 'x');
    assert.deepEqual(none.take('a')?.matches, []);
    const c = new FailureCounter({ findtime: 60, maxMatches: 1 });
    c.add('a', 1, 1, 'x'.repeat(MAX_MATCH_LENGTH + 500));
    assert.equal(c.take('a')?.matches[0]?.length, MAX_MATCH_LENGTH);
  });

  it('prune() drops IPs whose last failure is at or before now - findtime', () => {
    const c = new FailureCounter({ findtime: 100 });
    c.add('a', 10, 10);
    c.add('b', 20, 20);
    c.add('c', 200, 200);
    assert.equal(c.prune(120), 2);
    assert.equal(c.count('a'), 0);
    assert.equal(c.count('c'), 1);
    assert.equal(c.prune(1000), 1);
    assert.equal(c.size, 0);
  });

  it('evicts the least recently failing IP at the cap and reuses its slot', () => {
    const c = new FailureCounter({ findtime: 100, maxEntries: 2 });
    c.add('a', 1, 1);
    c.add('b', 2, 2);
    c.add('a', 3, 3);
    c.add('c', 4, 4);
    assert.equal(c.size, 2);
    assert.equal(c.evicted, 1);
    assert.equal(c.count('b'), 0);
    assert.equal(c.count('a'), 2);
    assert.equal(c.add('c', 5, 5), 2);
  });

  it('grows past its initial pool without losing counts', () => {
    const c = new FailureCounter({ findtime: 100 });
    for (let i = 0; i < 5000; i++) c.add(`ip${i}`, i % 50, 50);
    for (let i = 0; i < 5000; i++) assert.equal(c.add(`ip${i}`, 60, 60), 2);
  });

  it('agrees with a direct model of FailTicket.adjustTime + FailManager.cleanup (property)', () => {
    const op = fc.record({ ip: fc.constantFrom('a', 'b', 'c'), dt: fc.integer({ min: 0, max: 400 }), take: fc.boolean() });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.array(op, { maxLength: 60 }), (findtime, ops) => {
        const c = new FailureCounter({ findtime });
        const model = new Map<string, { first: number; last: number; retry: number }>();
        let now = 0;
        for (const { ip, dt, take } of ops) {
          now += dt;
          let e = model.get(ip);
          if (e !== undefined && e.last <= now - findtime) e = undefined;
          if (e === undefined) e = { first: now, last: now, retry: 1 };
          else {
            if (now > e.last) {
              if (e.first < now - findtime) {
                e.retry = pyRound((e.retry / (now - e.first)) * findtime);
                e.first = now - findtime;
              }
              e.last = now;
            }
            e.retry++;
          }
          model.set(ip, e);
          assert.equal(c.add(ip, now, now), e.retry);
          if (take) {
            assert.equal(c.take(ip)?.retry, e.retry);
            model.delete(ip);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('nextExpiry() is when prune() drops the least recently failed IP; onSooner fires when tracking starts', () => {
    let calls = 0;
    const c = new FailureCounter({ findtime: 600, onSooner: () => calls++ });
    assert.equal(c.nextExpiry(), Number.POSITIVE_INFINITY);
    c.add('a', 100, 100);
    c.add('b', 200, 200);
    c.add('a', 300, 300);
    assert.deepEqual([c.nextExpiry(), calls], [800, 1]);
    assert.equal(c.prune(800), 1);
    assert.equal(c.nextExpiry(), 900);
    c.prune(900);
    assert.equal(c.nextExpiry(), Number.POSITIVE_INFINITY);
    c.add('c', 1000, 1000);
    assert.deepEqual([c.nextExpiry(), calls], [1600, 2]);
  });
});
