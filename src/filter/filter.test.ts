import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Filter, FilterError } from './filter.js';
import { filterDefinition } from './test-definition.js';
import { TRUNCATED_MARK } from '../sources/line-splitter.js';

const NOW = Date.UTC(2024, 10, 25) / 1000;

const def = filterDefinition;

test('failregex yields ip, time and fields; ignoreregex suppresses', () => {
  const f = new Filter(
    def({ failregex: ['^\\s*\\S+ app: bad login for <F-USER>\\S+</F-USER> from <HOST>$'], ignoreregex: ['for admin '] }),
  );
  const [fail] = f.processLine('Nov 24 10:00:00 host app: bad login for bob from ::ffff:1.2.3.4', NOW);
  assert.equal(fail?.ip, '1.2.3.4');
  assert.equal(fail?.time, Date.UTC(2024, 10, 24, 10) / 1000);
  assert.equal(fail?.fields.user, 'bob');
  assert.deepEqual(f.processLine('Nov 24 10:00:00 host app: bad login for admin from 1.2.3.4', NOW), []);
  assert.equal(f.lastIgnored, true);
  assert.deepEqual(f.processLine('Nov 24 10:00:00 host app: good login for bob from 1.2.3.4', NOW), []);
});

test('prefregex content feeds the failregexes', () => {
  const f = new Filter(
    def({ prefregex: '^\\s*\\S+ app\\[\\d+\\]: <F-CONTENT>.+</F-CONTENT>$', failregex: ['^denied <HOST>$'] }),
  );
  assert.equal(f.processLine('Nov 24 10:00:00 h app[1]: denied 2001:DB8::1', NOW)[0]?.ip, '2001:db8::1');
  assert.deepEqual(f.processLine('Nov 24 10:00:00 h other[1]: denied 1.2.3.4', NOW), []);
});

test('a failregex without host is a clear error naming the regex', () => {
  assert.throws(() => new Filter(def({ failregex: ['^failed for \\S+$'] })), (e: unknown) => {
    return e instanceof FilterError && /failregex 1 captures no host/.test(e.message);
  });
});

test('maxlines joins lines; <SKIPLINES> skips unrelated ones', () => {
  const f = new Filter(
    def({ maxlines: 5, failregex: ['^\\s*\\S+ conn (?P<__c>\\d+) open <HOST><SKIPLINES>\\s*\\S+ conn (?P=__c) auth failed$'] }),
  );
  assert.deepEqual(f.processLine('Nov 24 10:00:00 h conn 7 open 1.2.3.4', NOW), []);
  assert.deepEqual(f.processLine('Nov 24 10:00:01 h conn 8 open 5.6.7.8', NOW), []);
  const [fail] = f.processLine('Nov 24 10:00:02 h conn 7 auth failed', NOW);
  assert.equal(fail?.ip, '1.2.3.4');
  assert.equal(fail?.lines, 2);
  assert.equal(f.processLine('Nov 24 10:00:03 h conn 8 auth failed', NOW)[0]?.ip, '5.6.7.8');
});

test('<F-MLFID> remembers the host of a connection; <F-NOFAIL>/<F-MLFFORGET> do not count', () => {
  const f = new Filter(
    def({
      prefregex: '^\\s*\\S+ <F-MLFID>d\\[\\d+\\]:</F-MLFID> <F-CONTENT>.+</F-CONTENT>$',
      failregex: [
        '^connect from <HOST>$',
        '^<F-NOFAIL>auth failed</F-NOFAIL>$',
        '^<F-MLFFORGET>accepted</F-MLFFORGET>$',
        '^closed(?: by <HOST>)?$',
      ],
    }),
  );
  const t = (s: string) => f.processLine(`Nov 24 10:00:00 h ${s}`, NOW);
  assert.equal(t('d[1]: connect from 1.2.3.4')[0]?.ip, '1.2.3.4');
  assert.deepEqual(t('d[2]: auth failed'), []);
  assert.deepEqual(t('d[2]: accepted'), []);
});

test('modes come from the definition (args select regexes upstream); checkAll reports overlaps', () => {
  const f = new Filter(def({ failregex: ['from <HOST>', 'fail from <HOST>'] }), { checkAll: true });
  assert.deepEqual(
    f.processLine('x fail from 1.2.3.4', NOW).map((x) => x.regex),
    [0, 1],
  );
  const first = new Filter(def({ failregex: ['from <HOST>', 'fail from <HOST>'] }));
  assert.deepEqual(
    first.processLine('x fail from 1.2.3.4', NOW).map((x) => x.regex),
    [0],
  );
});

test('the literal pre-filter skips lines before dates and regexes are run', () => {
  const f = new Filter(def({ failregex: ['^\\s*\\S+ sshd: Failed password for \\S+ from <HOST>'] }));
  assert.ok(f.literals?.length === 1);
  f.processLine('Nov 24 10:00:00 h cron: ok', NOW);
  assert.equal(f.lastExamined, false);
  f.processLine('Nov 24 10:00:00 h sshd: Failed password for x from 1.2.3.4', NOW);
  assert.equal(f.lastExamined, true);
});

test('lines without a date use the journal time or now', () => {
  const f = new Filter(def({ failregex: ['^denied <HOST>$'] }));
  assert.equal(f.processLine('denied 1.2.3.4', NOW)[0]?.time, NOW);
  assert.equal(f.processLine('denied 1.2.3.4', NOW, 12345)[0]?.time, 12345);
});

test('hostile input: long lines are capped, binary is tolerated, backtracking is bounded', () => {
  // (a+)+ backtracks exponentially; V8's linear-time fallback (enabled by the CLI and the test runner)
  // takes over. Regexes with lookarounds cannot fall back: the built-in filters avoid nested
  // quantifiers instead (see builtin-filters.test.ts).
  const f = new Filter(def({ failregex: ['^(?:a+)+b <HOST>$'] }), { maxLineLength: 64 * 1024 });
  const start = process.hrtime.bigint();
  assert.deepEqual(f.processLine(`${'a'.repeat(100_000)}c`, NOW), []);
  assert.deepEqual(f.processLine('\u0000\uFFFD\uD800 binary \u0007', NOW), []);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(ms < 1000, `hostile lines took ${ms} ms`);
});

test('a line over the cap, or one a source cut at its cap, is skipped and counted, never matched in part', () => {
  const f = new Filter(def({ failregex: ['rip=<HOST>$'] }), { maxLineLength: 64 });
  assert.deepEqual(f.processLine(`user=${'x'.repeat(60)} rip=6.6.6.6`, NOW), []);
  assert.equal(f.lastSkipped, 'too long');
  assert.deepEqual(f.processLine(`user=x rip=6.6.6.6${TRUNCATED_MARK}`, NOW), []);
  assert.equal(f.lastSkipped, 'too long');
  assert.equal(f.skippedTooLong, 2);
  assert.deepEqual(f.processLine('user=x rip=7.7.7.7', NOW).map((x) => x.ip), ['7.7.7.7']);
  assert.equal(f.lastSkipped, null);
});
