import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { builtinDefaultsDir } from '../config/defaults-dir.js';
import { runRegex } from './regex.js';

const failing = (ip: string) =>
  `Nov 24 10:00:0${ip.length % 10} mail postfix/smtpd[1]: warning: unknown[${ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`;
const noise = 'Nov 24 10:00:00 mail postfix/smtpd[1]: connect from unknown[9.9.9.9]';

test('a log file: 1-based line numbers, ip, time and fields of every match; chunked scan skips noise', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-regex-'));
  try {
    const log = join(dir, 'mail.log');
    // No trailing newline on the last line: it still counts.
    writeFileSync(log, [noise, failing('1.2.3.4'), noise, `${noise}\r`, failing('2001:db8::1')].join('\n'));
    const r = await runRegex(log, 'postfix[mode=extra]', { config: dir, timezone: 'UTC' });
    assert.equal(r.lines, 5);
    assert.deepEqual(
      r.matches.map((m) => [m.line, m.ip]),
      [
        [2, '1.2.3.4'],
        [5, '2001:db8::1'],
      ],
    );
    assert.equal(new Date((r.matches[0]?.time ?? 0) * 1000).toISOString().slice(5, 19), '11-24T10:00:07');
    const all = await runRegex(log, 'postfix[mode=extra]', { config: dir, timezone: 'UTC', printAllMissed: true });
    assert.deepEqual(
      all.missed.map(([n]) => n),
      [1, 3, 4],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a single line given as text; unknown filters and directories are clear errors', async () => {
  const r = await runRegex(failing('5.6.7.8'), 'postfix-sasl', {});
  assert.equal(r.lines, 1);
  assert.equal(r.matches[0]?.ip, '5.6.7.8');
  await assert.rejects(() => runRegex('x', 'no-such-filter', {}), /unknown filter/);
  await assert.rejects(() => runRegex('x', 'sshd', { config: '/nonexistent' }), /does not exist/);
});

test('--jail tests what the configured jail runs: its filter with the mode the jail gives it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-regex-jail-'));
  try {
    cpSync(builtinDefaultsDir(), dir, { recursive: true });
    writeFileSync(join(dir, 'jail.local'), '[dovecot]\nmode = aggressive\n');
    // The built-in postfix jail runs mode "extra"; the filter alone defaults to "more".
    const sasl = failing('1.2.3.4');
    assert.equal((await runRegex(sasl, 'postfix', { config: dir })).matches.length, 0);
    assert.equal((await runRegex(sasl, undefined, { config: dir, jail: 'postfix' })).matches[0]?.ip, '1.2.3.4');
    const trusted =
      'Nov 24 10:00:00 mail dovecot: imap-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=1.2.3.4, lip=172.17.0.2, TLS';
    assert.equal((await runRegex(trusted, 'dovecot', { config: dir })).matches.length, 0);
    assert.equal((await runRegex(trusted, undefined, { config: dir, jail: 'dovecot' })).matches[0]?.ip, '1.2.3.4');
    await assert.rejects(
      () => runRegex(trusted, undefined, { config: dir, jail: 'sshd' }),
      (e: unknown) => e instanceof Error && e.message === `regex: no enabled jail named 'sshd' in ${dir} (enabled: dovecot, postfix, custom)`,
    );
    await assert.rejects(() => runRegex(trusted, 'dovecot', { config: dir, jail: 'dovecot' }), /give a FILTER or --jail dovecot, not both/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a path-like LOG that is not a file is matched as a line, and stderr says so in one line', () => {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'pc-regex-cli-'));
  try {
    for (const [log, why] of [
      [join(dir, 'mial.log'), 'no such file'],
      [dir, 'is not a file'],
    ] as const) {
      const r = spawnSync(process.execPath, [main, 'regex', '-c', builtinDefaultsDir(), '--json', log, 'dovecot'], { encoding: 'utf8' });
      assert.equal(r.status, 0);
      assert.equal(r.stderr, `portcullis: regex: ${log}: ${why}; matching it as one log line\n`);
      assert.equal(JSON.parse(r.stdout).lines, 1);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Fail2Ban's own filter files: the alternation gate keeps every candidate line and counts the rest", async () => {
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
    const r = await runRegex(log, 'dovecot', { config: '/etc/fail2ban', timezone: 'UTC' });
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

test('the byte gate agrees with reading every line: across 1 MiB chunks, a line over 4 MiB, no final newline', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-regex-'));
  try {
    const log = join(dir, 'mail.log');
    const stamp = 'Nov 24 10:00:00 mail';
    const fail = (i: number) => `${stamp} dovecot: auth: passwd-file(bob,192.0.2.${i % 250},<Xy1>): unknown user`;
    const quiet = `${stamp} dovecot: imap-login: Disconnected: Logged out in=1 out=2`;
    const lines: string[] = [];
    let size = 0;
    for (let i = 0; size < 3 * 1024 * 1024; i++) {
      const l = i % 97 === 0 ? fail(i) : `${quiet}${' x'.repeat(i % 50)}`;
      lines.push(l);
      size += l.length + 1;
    }
    // A hostile line: cut and matched at its first 64 KiB, the rest (past the 4 MiB held) skipped.
    lines.push(`${fail(1)} ${'y'.repeat(5 * 1024 * 1024)}`, fail(2), 'é'.repeat(3), fail(3));
    writeFileSync(log, lines.join('\n'));
    const gated = await runRegex(log, 'dovecot', { config: '/etc/fail2ban', timezone: 'UTC' });
    const every = await runRegex(log, 'dovecot', { config: '/etc/fail2ban', timezone: 'UTC', printAllMissed: true });
    assert.equal(gated.lines, lines.length);
    assert.equal(every.lines, lines.length);
    assert.deepEqual(gated.matches, every.matches);
    assert.ok(gated.matches.length > 100);
    assert.equal(gated.matches.at(-1)?.line, lines.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
