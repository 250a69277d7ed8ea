import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UserError } from '../errors.js';
import { DaemonLog, formatAsctime, parseLogLevel } from './daemon-log.js';

const at = new Date(2024, 1, 19, 22, 15, 45, 657).getTime();

test("lines use Fail2Ban's format: asctime, padded logger name, [pid], padded level", () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
  const path = join(dir, 'fail2ban.log');
  const log = new DaemonLog(path, 'INFO', 765, () => at);
  log.log('actions', 'NOTICE', '[postfix] Ban 11.22.33.44');
  log.close();
  assert.equal(
    readFileSync(path, 'utf8'),
    '2024-02-19 22:15:45,657 fail2ban.actions        [765]: NOTICE  [postfix] Ban 11.22.33.44\n',
  );
});

test('lines below the level are dropped, and the level can change at run time', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
  const path = join(dir, 'fail2ban.log');
  const log = new DaemonLog(path, 'NOTICE', 1, () => at);
  log.log('filter', 'INFO', 'hidden');
  log.setLevel('DEBUG');
  log.log('filter', 'DEBUG', 'shown');
  log.close();
  assert.deepEqual(
    readFileSync(path, 'utf8').trim().split('\n').map((l) => l.slice(24)),
    ['fail2ban.filter         [1]: DEBUG   shown'],
  );
});

test('a log file moved away by logrotate is reopened at its path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
  const path = join(dir, 'fail2ban.log');
  let now = at;
  const log = new DaemonLog(path, 'INFO', 1, () => now);
  log.log('server', 'INFO', 'before');
  renameSync(path, `${path}.1`);
  // The path is looked at once a second, not per line (a flood logs a line per failure).
  log.log('server', 'INFO', 'within the second');
  now += 1000;
  log.log('server', 'INFO', 'after');
  log.close();
  assert.match(readFileSync(`${path}.1`, 'utf8'), /before\n.*within the second\n$/);
  assert.match(readFileSync(path, 'utf8'), /after\n$/);
});

test('asctime pads every field', () => {
  assert.equal(formatAsctime(new Date(2025, 0, 2, 3, 4, 5, 6).getTime()), '2025-01-02 03:04:05,006');
});

test('log levels parse like Fail2Ban, unknown ones are a usage error', () => {
  assert.equal(parseLogLevel('info'), 'INFO');
  assert.equal(parseLogLevel('WARN'), 'WARNING');
  assert.equal(parseLogLevel('10'), 'DEBUG');
  assert.throws(() => parseLogLevel('LOUD'), UserError);
});

test("flush (fail2ban-client flushlogs) reopens a rotated file, as logrotate's postrotate expects", () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-log-'));
  const path = join(dir, 'fail2ban.log');
  const log = new DaemonLog(path, 'INFO', 765, () => at);
  log.log('server', 'INFO', 'before');
  renameSync(path, `${path}.1`);
  assert.equal(log.flush(), 'rolled over');
  log.log('server', 'INFO', 'after');
  log.close();
  assert.match(readFileSync(`${path}.1`, 'utf8'), /before\n$/);
  assert.match(readFileSync(path, 'utf8'), /rollover performed on .*fail2ban\.log\n.*after\n$/);
  const stream = new DaemonLog('STDERR', 'CRITICAL', 765, () => at);
  assert.equal(stream.flush(), 'flushed');
  stream.close();
});

test('enabled() says whether a level is written, following setLevel and close', () => {
  const log = new DaemonLog(join(mkdtempSync(join(tmpdir(), 'portcullis-log-')), 'l.log'), 'WARNING');
  assert.equal(log.enabled('INFO'), false);
  assert.equal(log.enabled('ERROR'), true);
  log.setLevel('DEBUG');
  assert.equal(log.enabled('INFO'), true);
  log.close();
  assert.equal(log.enabled('ERROR'), false);
});
