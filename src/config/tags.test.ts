import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { substituteRecursiveTags, substituteTags, TagLoopError } from './tags.js';

describe('<tag> substitution', () => {
  it('replaces tags recursively and leaves unknown ones', () => {
    assert.equal(
      substituteTags('<nft> add element <table> <set> { <ip> }', { nft: 'nft', table: 'inet <t>', t: 'f2b-table', set: 'addr-set-<name>', name: 'dovecot' }),
      'nft add element inet f2b-table addr-set-dovecot { <ip> }',
    );
  });

  it('prefers <tag?family=inet6> variants when that condition is asked for', () => {
    const tags = { set: 'addr-set-<name>', 'set?family=inet6': 'addr6-set-<name>', name: 'x' };
    assert.equal(substituteTags('@<set>', tags), '@addr-set-x');
    assert.equal(substituteTags('@<set>', tags, 'family=inet6'), '@addr6-set-x');
  });

  it('knows <br> and <sp>, and tags built from tags (<rule-<type>>)', () => {
    assert.equal(substituteTags('a<sp>b<br>c', {}), 'a b\nc');
    assert.equal(substituteTags('<m>', { type: 'all', m: '<m-<type>>', 'm-all': 'ALL' }), 'ALL');
  });

  it('does not resolve ignored tags and leaves values of ignored keys alone', () => {
    const out = substituteRecursiveTags(
      new Map([
        ['a', '<b> <c>'],
        ['b', 'B'],
        ['c', 'C'],
        ['d', '<b>'],
      ]),
      { ignore: new Set(['c', 'd']) },
    );
    assert.equal(out.get('a'), 'B <c>');
    assert.equal(out.get('d'), '<b>');
  });

  it('uses the fallback for tags missing from the map', () => {
    const out = substituteRecursiveTags(new Map([['a', 'x <k>']]), { fallback: (t) => (t === 'k' ? 'K' : null) });
    assert.equal(out.get('a'), 'x K');
  });

  it('reports self-reference and ever-growing chains instead of looping', () => {
    assert.throws(() => substituteTags('<a>', { a: 'x<a>' }), TagLoopError);
    assert.throws(() => substituteTags('<a>', { a: '<b>', b: '<a>' }), TagLoopError);
    assert.throws(() => substituteRecursiveTags(new Map([['a', '1<b>'], ['b', '2<a>']])), TagLoopError);
  });

  it('does not read tag names from the object prototype', () => {
    assert.equal(substituteTags('<constructor> <toString>', {}), '<constructor> <toString>');
  });
});
