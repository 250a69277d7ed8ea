import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { parseIni } from './ini.js';

const values = (text: string, section = 'S'): Record<string, string> => {
  const ini = parseIni(text, 'f.conf');
  const s = section === 'DEFAULT' ? ini.defaults : ini.sections.get(section);
  assert.ok(s, `section ${section} missing`);
  return Object.fromEntries([...s].map(([k, e]) => [k, e.value]));
};

describe('parseIni (ConfigParser dialect)', () => {
  it('reads options with = or :, folds option names to lower case, keeps section case', () => {
    const ini = parseIni('[Sec]\nA = 1\nb: two words \nc=x=y\n', 'f.conf');
    assert.deepEqual([...ini.sections.keys()], ['Sec']);
    assert.deepEqual(values('[S]\nA = 1\nb: two words \nc=x=y\nd = a:b\n'), { a: '1', b: 'two words', c: 'x=y', d: 'a:b' });
  });

  it('joins indented continuation lines, keeps inner blank lines, drops trailing ones', () => {
    assert.deepEqual(values('[S]\nf = one\n    two\n\n    three\n\n\ng = x\n'), { f: 'one\ntwo\n\nthree', g: 'x' });
  });

  it('a line indented less than or equal to its option starts a new option', () => {
    assert.deepEqual(values('[S]\n  a = 1\n  b = 2\n    c\n'), { a: '1', b: '2\nc' });
  });

  it('skips # and ; comment lines, also inside multi-line values', () => {
    assert.deepEqual(values('# top\n[S]\n; note\na = 1\n  # skipped\n  2\n'), { a: '1\n2' });
  });

  it('cuts inline ; comments only after whitespace, never # ones', () => {
    assert.deepEqual(values('[S]\na = x ; comment\nb = x;y\nc = x # kept\n'), { a: 'x', b: 'x;y', c: 'x # kept' });
  });

  it('keeps [DEFAULT] apart from the sections', () => {
    const ini = parseIni('[DEFAULT]\na = 1\n[S]\nb = 2\n', 'f.conf');
    assert.equal(ini.defaults.get('a')?.value, '1');
    assert.deepEqual([...ini.sections.keys()], ['S']);
  });

  it('records the line of each option', () => {
    const ini = parseIni('[S]\n\na = 1\nb = 2\n  3\n', 'f.conf');
    assert.equal(ini.sections.get('S')?.get('b')?.line, 4);
  });

  it('accepts CRLF line ends', () => {
    assert.deepEqual(values('[S]\r\na = 1\r\n  2\r\n'), { a: '1\n2' });
  });

  for (const [name, text, line, pattern] of [
    ['an option before any section', 'a = 1\n', 1, /before any \[section\]/],
    ['a line without = or :', '[S]\na = 1\nnonsense\n', 3, /is not an option/],
    ['an empty option name', '[S]\n= 1\n', 2, /is not an option/],
    ['a duplicate option', '[S]\na = 1\nA = 2\n', 3, /set twice/],
    ['a duplicate section', '[S]\n[T]\n[S]\n', 3, /appears twice/],
  ] as const) {
    it(`rejects ${name} with file:line`, () => {
      assert.throws(
        () => parseIni(text, 'f.conf'),
        (err: unknown) => err instanceof ConfigError && err.line === line && pattern.test(err.message) && err.message.startsWith(`f.conf:${line}: `),
      );
    });
  }
});
