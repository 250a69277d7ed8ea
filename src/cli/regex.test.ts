import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runRegex } from './regex.js';

const failing = (ip: string) =>
  `Nov 24 10:00:0${ip.length % 10} mail postfix/smtpd[1]: warning: unknown[${ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`;
const noise = 'Nov 24 10:00:00 mail postfix/smtpd[1]: connect from unknown[9.9.9.9]';

test('a log file: 1-based line numbers, ip, time and fields of every match; chunked scan skips noise', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-regex-'));
  try {
    const log = join(dir, 'mail.log');
    // No trailing newline on the last line: it still counts.
    writeFileSync(log, [noise, failing('1.2.3.4'), noise, `${noise}\r`, failing('2001:db8::1')].join('\n'));
    const r = runRegex(log, 'postfix[mode=extra]', { config: dir, timezone: 'UTC' });
    assert.equal(r.lines, 5);
    assert.deepEqual(
      r.matches.map((m) => [m.line, m.ip]),
      [
        [2, '1.2.3.4'],
        [5, '2001:db8::1'],
      ],
    );
    assert.equal(new Date((r.matches[0]?.time ?? 0) * 1000).toISOString().slice(5, 19), '11-24T10:00:07');
    const all = runRegex(log, 'postfix[mode=extra]', { config: dir, timezone: 'UTC', printAllMissed: true });
    assert.deepEqual(
      all.missed.map(([n]) => n),
      [1, 3, 4],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a single line given as text; unknown filters and directories are clear errors', () => {
  const r = runRegex(failing('5.6.7.8'), 'postfix-sasl', {});
  assert.equal(r.lines, 1);
  assert.equal(r.matches[0]?.ip, '5.6.7.8');
  assert.throws(() => runRegex('x', 'no-such-filter', {}), /unknown filter/);
  assert.throws(() => runRegex('x', 'sshd', { config: '/nonexistent' }), /does not exist/);
});

test("Fail2Ban's own filter files: the alternation gate keeps every candidate line and counts the rest", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-regex-'));
  try {
    const log = join(dir, 'mail.log');
    const stamp = 'Nov 24 10:00:00 mail';
    const lines = [
      `${stamp} dovecot: imap-login: Disconnected: Logged out in=1 out=2`,
      `${stamp} dovecot: auth: passwd-file(bob,192.0.2.7,<Xy1>): unknown user`,
      `${stamp} dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=192.0.2.8, lip=172.17.0.2, TLS, session=<Ab>`,
      // Last line unterminated and not a candidate: still counted.
      `${stamp} dovecot: imap-login: Login: user=<bob>, method=PLAIN, rip=192.0.2.9`,
    ];
    writeFileSync(log, lines.join('\n'));
    const r = runRegex(log, 'dovecot', { config: '/etc/fail2ban', timezone: 'UTC' });
    assert.equal(r.lines, 4);
    assert.deepEqual(
      r.matches.map((m) => [m.line, m.ip]),
      [
        [2, '192.0.2.7'],
        [3, '192.0.2.8'],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
