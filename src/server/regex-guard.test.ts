import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Filter } from '../filter/filter.js';
import { filterDefinition } from '../filter/test-definition.js';
import { compileRegex } from '../filter/regex.js';
import { FilterThread } from './filter-thread.js';
import { threadGuard } from './regex-guard.js';

const def = (failregex: string) =>
  filterDefinition({
    name: 'cat',
    file: '/etc/x/filter.d/cat.conf',
    failregex: [failregex],
    datepattern: '{NONE}',
    origins: { failregex: { file: '/etc/x/filter.d/cat.conf', line: 7 } },
  });
const CATASTROPHIC = '^<HOST> (?=a)(a+)+$';
const hostile = `203.0.113.1 ${'a'.repeat(40)}b`;

test('a repeat inside a repeat is flagged only where V8 cannot fall back to linear time, and delimited repeats are not', () => {
  assert.equal(compileRegex(CATASTROPHIC).catastrophic, '(a+)+');
  assert.equal(compileRegex('^<HOST> (a+)+$').catastrophic, null, 'no lookaround: V8 falls back');
  assert.equal(compileRegex('(?=x)(\\S+\\s*)+$').catastrophic, '(\\S+\\s*)+');
  assert.equal(compileRegex('(?=x)(?:[^,]*, )*$').catastrophic, null, 'each repetition ends at a comma');
  assert.equal(compileRegex('(?=x)(?: (?:port \\d+|on \\S+)){0,2}$').catastrophic, null, 'repetitions start with a space');
  const f = new Filter(def(CATASTROPHIC));
  assert.deepEqual(f.catastrophic, [{ option: 'failregex', where: '/etc/x/filter.d/cat.conf:7', part: '(a+)+' }]);
});

test('the thread guard gives up a hostile line at its deadline and still matches honest ones', () => {
  const guard = threadGuard(100);
  try {
    const f = new Filter(def(CATASTROPHIC), { guard });
    const t0 = Date.now();
    assert.deepEqual(f.processLine(hostile, 0), []);
    assert.equal(f.lastSkipped, 'too slow');
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    assert.deepEqual(f.processLine('203.0.113.2 aaa', 0).map((x) => x.ip), ['203.0.113.2']);
    assert.equal(f.lastSkipped, null);
    assert.equal(f.skippedTooSlow, 1);
  } finally {
    guard.close();
  }
});

test('a filter thread skips a hostile line without blocking the event loop and keeps the failures of the others', async () => {
  const thread = new FilterThread(def(CATASTROPHIC), { useDns: 'no' }, 100);
  try {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const done = await thread.process(['203.0.113.3 aa', hostile, '203.0.113.4 a', hostile], 0);
    clearInterval(ticker);
    assert.deepEqual([...done.failures].map(([i, f]) => [i, f.map((x) => x.ip)]), [
      [0, ['203.0.113.3']],
      [2, ['203.0.113.4']],
    ]);
    assert.deepEqual(done.skipped, [
      [1, 'too slow'],
      [3, 'too slow'],
    ]);
    assert.ok(ticks >= 5, `the event loop ran only ${ticks} times meanwhile`);
  } finally {
    thread.close();
  }
});
