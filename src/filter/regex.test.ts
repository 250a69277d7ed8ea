import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileRegex, expandTags, RegexError, requiredLiteral, translate } from './regex.js';

const re = (p: string, multiline = false) => {
  const t = translate(p, { multiline });
  return new RegExp(t.source, t.flags);
};

test('named groups and backreferences', () => {
  const m = re('(?P<a>\\w+)-(?P=a)').exec('ab-ab');
  assert.equal(m?.groups?.a, 'ab');
  assert.equal(re('(?P<a>\\w+)-(?P=a)$').exec('ab-ac'), null);
});

test('leading (?i) becomes the i flag; scoped (?i:...) and ((?i)...) fold only their part', () => {
  assert.equal(translate('(?i)abc').flags, 'i');
  const scoped = re('SASL ((?i)LOGIN|PLAIN) failed');
  assert.ok(scoped.test('SASL login failed'));
  assert.ok(scoped.test('SASL Plain failed'));
  assert.ok(!scoped.test('sasl login failed'));
  assert.ok(re('x(?i:[a-c]z)').test('xBZ'));
});

test('\\Z, \\A, {,n}, comments and Python $ before a final newline', () => {
  assert.ok(re('a\\Z').test('a'));
  assert.ok(!re('a\\Z').test('a\nb'));
  assert.ok(re('\\Ab').test('bc'));
  assert.ok(re('^a{,2}$').test('aa'));
  assert.ok(!re('^a{,2}$').test('aaa'));
  assert.ok(re('a(?#note)b').test('ab'));
  const py = (p: string) => {
    const t = translate(p, { finalNewline: true });
    return new RegExp(t.source, t.flags);
  };
  assert.ok(py('a$').test('a\n'));
  assert.ok(!py('a$').test('a\nb'));
  assert.ok(re('^b$', true).test('a\nb\nc'));
});

test('a dot does not match a newline but matches \\r, as in Python', () => {
  assert.ok(re('a.b').test('a\rb'));
  assert.ok(!re('a.b').test('a\nb'));
});

test('named conditionals (?(name)yes|no) select by group participation', () => {
  const r = re('^(?P<q>")?\\w+(?(q)"|!)$');
  assert.ok(r.test('"abc"'));
  assert.ok(r.test('abc!'));
  assert.ok(!r.test('"abc!'));
  assert.ok(!r.test('abc"'));
});

test('atomic groups are emulated; possessive quantifiers are rejected clearly', () => {
  assert.ok(!re('(?>a+)a').test('aaa'));
  assert.ok(re('(?>a+)b').test('aab'));
  assert.throws(() => translate('a++'), RegexError);
});

test('tags expand to host, address, subnet and field groups', () => {
  const host = compileRegex('from <HOST> port');
  assert.equal(host.re.exec('from 1.2.3.4 port')?.groups?.ip4, '1.2.3.4');
  assert.equal(host.re.exec('from 2001:db8::1 port')?.groups?.ip6, '2001:db8::1');
  assert.equal(host.re.exec('from mail.example.com port')?.groups?.dns, 'mail.example.com');
  assert.equal(host.re.exec('from ::ffff:1.2.3.4 port')?.groups?.ip4, '1.2.3.4');
  const addr = compileRegex('from <ADDR> port', {});
  assert.equal(addr.re.exec('from mail.example.com port'), null);
  const nodns = compileRegex('from <HOST> port', { useDns: 'no' });
  assert.equal(nodns.re.exec('from mail.example.com port'), null);
  const sub = compileRegex('net <SUBNET>$');
  assert.equal(sub.re.exec('net 10.0.0.0/8')?.groups?.cidr, '8');
  const f = compileRegex('user <F-USER>\\S+</F-USER> <F-ALT_USER_1>\\S*</F-ALT_USER_1> id <F-ID/>');
  assert.deepEqual(f.groups, ['user', 'alt_user_1', 'fid']);
  assert.deepEqual(f.alt, [['alt_user_1', 'user']]);
  assert.equal(f.hasId, true);
  assert.equal(expandTags('<F-NOPE>'), '(?P<nope>');
  assert.equal(expandTags('</F-X> <foo>'), '</F-X> <foo>');
});

test('a failregex without a host or id group is reported by hasId', () => {
  assert.equal(compileRegex('^failed for \\S+$').hasId, false);
});

test('required literals are words and spaces of the top level only', () => {
  assert.equal(requiredLiteral('^\\[\\]LOGIN FAILED for user: "\\S+" from IP: <HOST>$'), 'LOGIN FAILED for user');
  assert.equal(requiredLiteral('^(?:a|b) foo|bar'), '');
  assert.equal(requiredLiteral('^[a-z\\-]{3,15}\\(x\\): unknown user'), ' unknown user');
  assert.equal(requiredLiteral('^abcde?f'), 'abcd');
});

test('a run of plain characters translates to itself, up to a character a quantifier applies to', () => {
  assert.equal(translate('user ab*c=d{2}e f?', { plainInput: true }).source, 'user ab*c=d{2}e f?');
  assert.ok(re('^login ab+c$').test('login abbbc'));
  assert.equal(re('^login ab+c$').test('login ababc'), false);
  // Verbose mode drops the spaces; scoped case folding folds every letter of the run.
  assert.equal(translate('(?x)a b  c', { plainInput: true }).source, 'abc');
  assert.ok(re('x(?i:user name)').test('xUSER Name'));
});

test('a repeated group whose loop shares its unit with every delimiter is nested; one with a disjoint delimiter is not', () => {
  assert.notEqual(translate('^(?:[a-z]+[a-z])+$').nested, null);
  assert.notEqual(translate('^(?:[\\w.-]+[\\w.-])*$').nested, null);
  assert.equal(translate('^(?:[^,]*, )*$').nested, null);
  assert.equal(translate('^(?:\\w+\\.)+$').nested, null);
});

test('required literals: runs before a quantifier lose their last character; text inside groups is not required', () => {
  assert.equal(requiredLiteral('^auth failures* for (?:user name|x) from now'), 'auth failure');
  assert.equal(requiredLiteral('^(?:some long text here)? short'), ' short');
});
