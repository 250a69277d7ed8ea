import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from './duration.js';

describe('parseDuration (Fail2Ban str2seconds forms)', () => {
  const cases: Array<[string, number]> = [
    ['600', 600],
    ['-1', -1],
    ['10m', 600],
    ['3h', 10800],
    ['1d', 86400],
    ['1w', 604800],
    ['180d', 15552000],
    ['1d12h', 129600],
    ['1h 30m', 5400],
    ['0d 1h 30m', 5400],
    ['1hour+30min', 5400],
    ['2 days', 172800],
    ['10 m', 600],
    ['1year-6mo', 15778800],
    ['6 months', 15778800],
    ['1h30', 3630],
    ['1.5h', 5400],
    ['30 sec', 30],
    ['1W', 604800],
  ];
  for (const [text, seconds] of cases) it(`${text} = ${seconds}`, () => assert.equal(parseDuration(text), seconds));

  for (const bad of ['', 'abc', '10x', '1h ?', 'h', '--1']) {
    it(`rejects "${bad}" with a message saying how to write it`, () =>
      assert.throws(() => parseDuration(bad), /duration/));
  }
});
