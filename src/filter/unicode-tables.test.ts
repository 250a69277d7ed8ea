// The generated class tables (unicode-tables.ts) must be what a Node with the same Unicode data computes;
// when a Node upgrade brings newer Unicode data to the project's Node, `npm run build && node
// scripts/unicode-tables.mjs` brings them up to date. Another Node (22, 24) may carry other Unicode data:
// there the tables stay as generated, and only what the classes are for is checked.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { computeRanges, digitRanges, wordRanges } from './unicode-classes.js';
import { UNICODE_VERSION } from './unicode-tables.js';

it("the generated \\w and \\d ranges equal V8's Unicode tables of the same Unicode version", () => {
  if (process.versions.unicode === UNICODE_VERSION) {
    assert.equal(wordRanges(), computeRanges(/[\p{L}\p{N}_]+/gu), 'run node scripts/unicode-tables.mjs');
    assert.equal(digitRanges(), computeRanges(/\p{Nd}+/gu), 'run node scripts/unicode-tables.mjs');
  }
  // Spot checks of what the classes are for: Python's str.isalnum and Unicode Nd.
  const word = new RegExp(`^[${wordRanges()}]+$`);
  assert.ok(word.test('Zürich_straße_日本語_٣'));
  assert.equal(word.test('a-b'), false);
  assert.ok(new RegExp(`^[${digitRanges()}]+$`).test('0٣९'));
});
