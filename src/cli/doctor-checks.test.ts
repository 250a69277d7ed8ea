import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JailConfig } from '../config/model.js';
import { formatFindings, ignoreipFinding, logFindings, SKEW_LIMIT_S, STALE_LOG_S } from './doctor-checks.js';

const jail = (ignoreip: string[]) => ({ name: 'dovecot', ignoreip }) as JailConfig;

test('ignoreip: loopback present in any form is fine; each missing one is named with its fix', () => {
  assert.ok(ignoreipFinding(jail(['127.0.0.1/8', '::1'])).ok);
  assert.ok(ignoreipFinding(jail(['127.0.0.0/8', '0:0:0:0:0:0:0:1', 'mail.example'])).ok);
  const f = ignoreipFinding(jail(['127.0.0.1/8']));
  assert.equal(f.ok, false);
  assert.equal(f.message, '[dovecot] ignoreip misses ::1');
  assert.match(f.fix ?? '', /add ::1 to ignoreip/);
  assert.equal(ignoreipFinding(jail([])).message, '[dovecot] ignoreip misses 127.0.0.1 and ::1');
});

test('logs: missing, stale and skewed files need attention; a fresh file with agreeing dates is fine', () => {
  const now = 1_800_000_000;
  const base = { jail: 'postfix', path: '/var/log/mail.log', error: null, mtime: now - 5, lastLineTime: now - 6 };
  assert.deepEqual(logFindings(base, now).map((f) => f.ok), [true, true]);
  const missing = logFindings({ ...base, error: 'no such file or directory' }, now);
  assert.equal(missing.length, 1);
  assert.equal(missing[0]?.ok, false);
  assert.equal(logFindings({ ...base, mtime: now - STALE_LOG_S - 1, lastLineTime: now - STALE_LOG_S - 1 }, now)[0]?.ok, false);
  const skew = logFindings({ ...base, lastLineTime: base.mtime + 2 * 3600 }, now)[1];
  assert.equal(skew?.ok, false);
  assert.match(skew?.message ?? '', /2\.0 h ahead of/);
  assert.match(skew?.fix ?? '', /logtimezone/);
  assert.equal(logFindings({ ...base, lastLineTime: base.mtime - SKEW_LIMIT_S + 1 }, now)[1]?.ok, true);
  assert.equal(logFindings({ ...base, lastLineTime: null }, now).length, 1, 'no date, no clock finding');
});

test('formatFindings: one line per finding, the fix after the problem', () => {
  assert.equal(
    formatFindings([
      { check: 'socket', ok: true, message: 'the server answers' },
      { check: 'database', ok: false, message: '/x is read-only', fix: 'give it a writable volume' },
    ]),
    'ok   socket: the server answers\nFIX  database: /x is read-only; give it a writable volume\n',
  );
});
