import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FailureCounter, MAX_MATCH_LENGTH } from './failures.js';

describe('FailureCounter', () => {
  it('2 failures do not reach maxretry 3; a third within findtime does', () => {
    const c = new FailureCounter({ maxretry: 3, findtime: 600 });
    assert.equal(c.add('192.0.2.1', 1000), 1);
    assert.equal(c.add('192.0.2.1', 1100), 2);
    assert.equal(c.add('192.0.2.1', 1600), 3);
  });

  it('3 failures spread over more than findtime count only those inside the window', () => {
    const c = new FailureCounter({ maxretry: 3, findtime: 600 });
    c.add('192.0.2.1', 1000);
    c.add('192.0.2.1', 1300);
    assert.equal(c.add('192.0.2.1', 1601), 2);
    assert.equal(c.add('192.0.2.1', 1700), 3);
  });

  it('handles failures arriving out of time order', () => {
    const c = new FailureCounter({ maxretry: 3, findtime: 100 });
    c.add('a', 500);
    c.add('a', 300);
    assert.equal(c.add('a', 450), 2);
    assert.equal(c.add('a', 420), 3);
  });

  it('take() returns the window and forgets the IP', () => {
    const c = new FailureCounter({ maxretry: 2, findtime: 60, keepMatches: true });
    c.add('a', 1, 'line 1');
    c.add('a', 100, 'line 2');
    c.add('a', 120, 'line 3');
    assert.deepEqual(c.take('a'), { count: 2, firstTime: 100, lastTime: 120, matches: ['line 2', 'line 3'] });
    assert.equal(c.size, 0);
    assert.equal(c.take('a'), null);
    assert.equal(c.total, 3);
  });

  it('keeps at most MAX_MATCH_LENGTH characters of a matched line', () => {
    const c = new FailureCounter({ maxretry: 1, findtime: 60, keepMatches: true });
    c.add('a', 1, 'x'.repeat(MAX_MATCH_LENGTH + 500));
    assert.equal(c.take('a')?.matches[0]?.length, MAX_MATCH_LENGTH);
  });

  it('prune() drops IPs whose newest failure left the window', () => {
    const c = new FailureCounter({ maxretry: 5, findtime: 100 });
    c.add('a', 10);
    c.add('b', 50);
    c.add('c', 200);
    assert.equal(c.prune(120), 1);
    assert.equal(c.count('a'), 0);
    assert.equal(c.count('b'), 1);
    assert.equal(c.prune(1000), 2);
    assert.equal(c.size, 0);
  });

  it('evicts the least recently failing IP at the cap and reuses its slot', () => {
    const c = new FailureCounter({ maxretry: 3, findtime: 100, maxEntries: 2 });
    c.add('a', 1);
    c.add('b', 2);
    c.add('a', 3);
    c.add('c', 4);
    assert.equal(c.size, 2);
    assert.equal(c.evicted, 1);
    assert.equal(c.count('b'), 0);
    assert.equal(c.count('a'), 2);
    assert.equal(c.add('c', 5), 2);
  });

  it('grows past its initial pool without losing counts', () => {
    const c = new FailureCounter({ maxretry: 2, findtime: 100 });
    for (let i = 0; i < 5000; i++) c.add(`ip${i}`, i % 50);
    for (let i = 0; i < 5000; i++) assert.equal(c.add(`ip${i}`, 60), 2);
  });

  it('agrees with a naive list-of-timestamps model (property)', () => {
    const op = fc.record({ ip: fc.constantFrom('a', 'b', 'c'), time: fc.integer({ min: 0, max: 2000 }), take: fc.boolean() });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 500 }), fc.array(op, { maxLength: 60 }), (maxretry, findtime, ops) => {
        const c = new FailureCounter({ maxretry, findtime });
        const model = new Map<string, number[]>();
        for (const { ip, time, take } of ops) {
          const list = [...(model.get(ip) ?? []), time];
          model.set(ip, list);
          const newest = Math.max(...list);
          const expected = Math.min(maxretry, list.filter((t) => t >= newest - findtime).length);
          assert.equal(c.add(ip, time), expected);
          if (take && expected >= maxretry) {
            assert.equal(c.take(ip)?.count, maxretry);
            model.delete(ip);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
