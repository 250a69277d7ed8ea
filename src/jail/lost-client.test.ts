import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LostClientWatch } from './lost-client.js';

test('an address that is suspect and fails for 5 user names within findtime is found once', () => {
  const asked: string[] = [];
  const watch = new LostClientWatch(600, (ip) => {
    asked.push(ip);
    return ip === '10.0.0.1';
  });
  const results = ['a', 'b', 'c', 'd', 'e', 'f'].map((u, i) => watch.note('10.0.0.1', u, 1000 + i, 1000 + i));
  assert.deepEqual(results, [0, 0, 0, 0, 5, 0]);
  assert.deepEqual(watch.found, ['10.0.0.1']);
  assert.deepEqual(asked, ['10.0.0.1'], 'the suspect check runs at the threshold only');
});

test('the same user repeated, or names spread beyond findtime, do not count', () => {
  const watch = new LostClientWatch(600, () => true);
  for (let i = 0; i < 20; i++) assert.equal(watch.note('10.0.0.1', 'same', 1000 + i, 1000 + i), 0);
  for (let i = 0; i < 5; i++) assert.equal(watch.note('10.0.0.2', `u${i}`, 1000 + i * 400, 1000 + i * 400), 0);
  assert.deepEqual(watch.found, []);
});

test('an ordinary address trying many names is not a lost client', () => {
  const watch = new LostClientWatch(600, () => false);
  for (let i = 0; i < 12; i++) assert.equal(watch.note('192.0.2.9', `u${i}`, 1000, 1000), 0);
  assert.deepEqual(watch.found, []);
});

test('a flood of new addresses within findtime keeps memory bounded and a proxy is still found', () => {
  const watch = new LostClientWatch(600, (ip) => ip === '172.18.0.1');
  let most = 0;
  for (let n = 0; n < 60_000; n++) {
    // Every address new, all inside findtime: nothing is old enough to sweep away.
    watch.note(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, 'u', 1000, 1000);
    most = Math.max(most, watch.tracked);
    if (n % 1000 === 0) watch.note('172.18.0.1', `user${n / 1000}`, 1000, 1000);
  }
  assert.ok(most <= 10_000, `${most} addresses tracked at once`);
  assert.deepEqual(watch.found, ['172.18.0.1']);
});
