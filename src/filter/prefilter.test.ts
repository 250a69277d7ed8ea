import assert from 'node:assert/strict';
import { test } from 'node:test';
import { literalPlan, mayContain, requiredLiteralSets } from './prefilter.js';

const src = (python: string, flags = '') => ({ python, flags });

test('a plain run of required text is a set of one; short runs are left out', () => {
  assert.deepEqual(requiredLiteralSets('^error: bad password for \\S+ from (?P<ip4>\\d+)$'), [['error'], [' bad password for '], [' from ']]);
});

test('a group whose every branch requires text is a set; an optional group or a lookaround is not', () => {
  const sets = requiredLiteralSets('^\\S+: (?:[Uu]nknown user|[Ii]nvalid credentials)(?: by admin)?(?=trailer)');
  assert.deepEqual(sets, [['nknown user', 'nvalid credentials']]);
  assert.deepEqual(requiredLiteralSets('^(?:foo bar|x)$'), [], 'a branch without text makes the group unknown');
});

test('case-insensitive regexes and verbose ones give nothing (their text may be spelled otherwise)', () => {
  assert.deepEqual(requiredLiteralSets('SASL ((?i)LOGIN|PLAIN) authentication failed'), []);
  assert.deepEqual(literalPlan(null, [src('authentication failed', 'i')]), null);
});

test('a line passes when, for some failregex, every set has a member in it', () => {
  const plan = literalPlan(null, [
    src('^(?:Aborted login|Disconnected) \\((?:auth failed|tried to use \\S+)\\): rip=(?P<ip4>\\S+)'),
    src('^[a-z]+\\(\\S*,(?P<ip4>\\S+)\\): (?:[Uu]nknown user|[Pp]assword mismatch)'),
  ]);
  assert.ok(plan);
  assert.ok(mayContain(plan, 'Disconnected (auth failed, 1 attempts): rip=1.2.3.4'));
  assert.ok(mayContain(plan, 'passwd-file(bob,1.2.3.4): Password mismatch'));
  assert.ok(!mayContain(plan, 'Disconnected: Logged out in=12 out=34'), 'one set of the first regex is missing');
  assert.ok(!mayContain(plan, 'imap-login: Login: user=<bob>'));
  // The gate holds one set per regex: the fewest texts to scan for, then the longest.
  assert.deepEqual(plan.gate, ['Aborted login', 'Disconnected', 'nknown user', 'assword mismatch']);
});

test('a prefregex set screens lines even when a failregex requires no text', () => {
  const plan = literalPlan(src('^\\S+ (?:warning|reject): (?P<content>.+)$'), [src('^(?P<ip4>\\S+)')]);
  assert.ok(plan);
  assert.equal(plan.perRegex, null);
  assert.deepEqual(plan.gate, ['warning', 'reject']);
  assert.ok(mayContain(plan, 'smtpd warning: 1.2.3.4'));
  assert.ok(!mayContain(plan, 'smtpd connect from 1.2.3.4'));
});

test('text around two spaces is split: a date cut out from between them leaves both spaces behind', () => {
  // "- 2014-01-13T05:02:22+00:00 WARN" is matched as "-  WARN" once its date is cut.
  assert.deepEqual(requiredLiteralSets('^\\S+ -  WARN \\(\\d+\\): Login failed'), [['WARN '], [' Login failed']]);
});

test('escapes are skipped whole: the digits of \\x41 or a backreference are not text to look for', () => {
  assert.deepEqual(requiredLiteralSets('^\\x41bcdef (\\w+) \\1234 \\u0041xyzw'), [['bcdef '], ['xyzw']]);
});
