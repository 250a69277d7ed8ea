import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editDistance, nearest } from './suggest.js';

test('nearest known word: typos, swaps and prefixes; nothing when far', () => {
  assert.equal(editDistance('statsu', 'status'), 1);
  assert.equal(editDistance('bantim', 'bantime'), 1);
  assert.equal(nearest('statsu', ['status', 'stop', 'setup']), 'status');
  assert.equal(nearest('bantim', ['bantime', 'findtime', 'maxretry']), 'bantime');
  assert.equal(nearest('ban', ['banned', 'ban']), 'ban');
  assert.equal(nearest('bogus', ['status', 'stop', 'setup', 'ban']), null);
});
