import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pyJsonDumps, pyRepr, pyStr } from './pyvalue.js';

describe('Python repr/str', () => {
  it('quotes like Python: single quotes unless the text has one and no double quote', () => {
    assert.equal(pyRepr('a'), "'a'");
    assert.equal(pyRepr("it's"), `"it's"`);
    assert.equal(pyRepr(`it's "x"`), `'it\\'s "x"'`);
  });

  it('escapes backslashes, newlines, tabs and non-printable characters; keeps printable Unicode', () => {
    assert.equal(pyRepr('a\\d\n\t\r'), "'a\\\\d\\n\\t\\r'");
    assert.equal(pyRepr('\u0001\u007f\u00a0\u2028'), "'\\x01\\x7f\\xa0\\u2028'");
    assert.equal(pyRepr('é ü 日本'), "'é ü 日本'");
  });

  it('prints ints bare, booleans and None, nested lists and dicts', () => {
    assert.equal(pyRepr(['set', 'dovecot', 'maxretry', 3]), "['set', 'dovecot', 'maxretry', 3]");
    assert.equal(pyRepr([true, false, null, [['a', 1]], { stacksize: 8 }]), "[True, False, None, [['a', 1]], {'stacksize': 8}]");
  });

  it('str() of ints and booleans as interpolation variables', () => {
    assert.equal(pyStr(3), '3');
    assert.equal(pyStr(true), 'True');
  });

  it('json.dumps with Python separators and ASCII escapes', () => {
    assert.equal(pyJsonDumps({ a: 'é', b: 'x"y' }), '{"a": "\\u00e9", "b": "x\\"y"}');
  });
});
