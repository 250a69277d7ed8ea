import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractOptions, splitWithOptions } from './options.js';

describe('jail arguments: name[key=value, ...]', () => {
  it('parses bare, double- and single-quoted values; quotes may hold commas and brackets', () => {
    assert.deepEqual(extractOptions(`act[a=1, b="x, y", c='q]', d = e f ]`.replace('d = e', 'd=e')), {
      name: 'act',
      options: { a: '1', b: 'x, y', c: 'q]', d: 'e f' },
    });
  });

  it('accepts several groups, a trailing comma, an empty group, and no group', () => {
    assert.deepEqual(extractOptions('a[k=1][j=2]').options, { k: '1', j: '2' });
    assert.deepEqual(extractOptions('a[k=1,]').options, { k: '1' });
    assert.deepEqual(extractOptions('a[]'), { name: 'a', options: {} });
    assert.deepEqual(extractOptions('postfix'), { name: 'postfix', options: {} });
  });

  for (const bad of ['a[k="1" x]', 'a[=1]', 'a[k]', 'a[ k = 1 ]', 'a[k=1', 'a[k=1]x', '[k=1]', 'a[k="open]']) {
    it(`rejects ${bad}`, () => assert.throws(() => extractOptions(bad), Error));
  }

  it('splits a list of actions, keeping options with blanks and newlines together', () => {
    assert.deepEqual(
      splitWithOptions('a[k=1] b c[x="1 2", y=3]\n d[p=a b]').map((s) => s.trim()),
      ['a[k=1]', 'b', 'c[x="1 2", y=3]', 'd[p=a b]'],
    );
    assert.deepEqual(splitWithOptions('x[a=1]y z'), ['x[a=1]y', 'z']);
    assert.deepEqual(splitWithOptions('ban[name=x, port="a,\n b"]\n\n  mail'), ['ban[name=x, port="a,\n b"]', 'mail']);
  });
});
