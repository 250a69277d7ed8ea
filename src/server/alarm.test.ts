import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Alarm } from './alarm.js';

describe('Alarm', () => {
  it('rings once, at the soonest time it was armed for', async () => {
    const rang: number[] = [];
    const alarm = new Alarm(() => rang.push(Date.now()), assert.fail);
    const start = Date.now();
    alarm.in(200);
    alarm.in(40);
    alarm.in(400);
    assert.ok(alarm.armedFor - start < 100);
    await sleep(300);
    assert.equal(rang.length, 1);
    assert.ok((rang[0] ?? 0) - start >= 39, 'not before its time');
    assert.equal(alarm.armedFor, Number.POSITIVE_INFINITY, 'disarmed once rung');
  });

  it('rings again only when armed again; cancel() disarms', async () => {
    let rang = 0;
    const alarm = new Alarm(() => rang++, assert.fail);
    alarm.in(10);
    await sleep(50);
    alarm.in(10);
    await sleep(50);
    alarm.in(10);
    alarm.cancel();
    await sleep(50);
    assert.equal(rang, 2);
  });

  it('a time already past rings at once; what the work throws goes to `failed`', async () => {
    const failures: string[] = [];
    const alarm = new Alarm(() => {
      throw new Error('disk gone');
    }, (err) => failures.push(err.message));
    alarm.at(Date.now() - 1000);
    await sleep(20);
    assert.deepEqual(failures, ['disk gone']);
  });
});
