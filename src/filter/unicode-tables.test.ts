// The generated class tables (unicode-tables.ts) must be what this Node's Unicode tables give: a Node with
// newer Unicode data fails here, and `npm run build && node scripts/unicode-tables.mjs` brings them up to date.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { computeRanges, digitRanges, wordRanges } from './unicode-classes.js';

it("the generated \\w and \\d ranges equal the running V8's Unicode tables", () => {
  assert.equal(wordRanges(), computeRanges(/[\p{L}\p{N}_]+/gu), 'run node scripts/unicode-tables.mjs');
  assert.equal(digitRanges(), computeRanges(/\p{Nd}+/gu), 'run node scripts/unicode-tables.mjs');
  // Spot checks of what the classes are for: Python's str.isalnum and Unicode Nd.
  const word = new RegExp(`^[${wordRanges()}]+$`);
  assert.ok(word.test('Zürich_straße_日本語_٣'));
  assert.equal(word.test('a-b'), false);
  assert.ok(new RegExp(`^[${digitRanges()}]+$`).test('0٣९'));
});
