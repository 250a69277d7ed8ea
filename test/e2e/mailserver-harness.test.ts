// Proves the mail harness gives what the ban tests rely on: real Dovecot and Postfix in a namespace,
// clients in other namespaces, and a syslog-style mail.log naming the attacker's address on every failed
// IMAP LOGIN and SMTP AUTH, and the legitimate client's successes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { imapLogin, type MailServer, mailServerMissing, smtpAuth, startMailServer } from './mailserver.js';
import { dovecotFileLine, dovecotMessage, postfixMessage, syslogStamp } from './mailserver-syslog.js';

const missing = mailServerMissing();
const nftMissing = spawnSync('nft', ['--version']).status === 0 ? false : 'nft (nftables) is not installed';
const T = 5000;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('mail server harness', { skip: missing ?? false, timeout: 60_000 }, () => {
  let mail: MailServer;
  before(async () => {
    mail = await startMailServer();
  });
  after(async () => {
    await mail?.stop();
  });

  test('failed IMAP LOGINs from the attacker are logged with its IPv4 address', async () => {
    const { attacker } = mail.net;
    for (let i = 0; i < 3; i++) {
      assert.equal(await imapLogin(attacker.ns, mail.serverAddr4, mail.user, `wrong-${i}`, T), 'auth-failed');
    }
    const ip = esc(attacker.addr4);
    // Three separate connections, so three "auth failed" disconnects and three passdb mismatches.
    await waitCount(mail, new RegExp(`dovecot: imap-login: Disconnected: .*\\(auth failed, 1 attempts in \\d+ secs\\): user=<${esc(mail.user)}>, method=PLAIN, rip=${ip}, `), 3);
    // auth_verbose_passwords = sha1:6, as in docker-mailserver.
    const mismatch = `dovecot: auth: passwd-file\\(${esc(mail.user)},${ip},<[^>]+>\\): Password mismatch \\(SHA1 of given password: [0-9a-f]{6}\\)$`;
    await waitCount(mail, new RegExp(mismatch), 3);
  });

  test('failed SMTP AUTHs from the attacker are logged by Postfix and Dovecot', async () => {
    const { attacker } = mail.net;
    assert.equal(await smtpAuth(attacker.ns, mail.serverAddr4, mail.user, 'bad-1', T, 'PLAIN'), 'auth-failed');
    assert.equal(await smtpAuth(attacker.ns, mail.serverAddr4, 'nobody@portcullis.test', 'bad-2', T, 'LOGIN'), 'auth-failed');
    assert.equal(await smtpAuth(attacker.ns, mail.serverAddr6, mail.user, 'bad-3', T, 'PLAIN'), 'auth-failed');
    const sasl = (ip: string, mech: string) =>
      new RegExp(`postfix/submission/smtpd\\[\\d+\\]: warning: unknown\\[${esc(ip)}\\]: SASL ${mech} authentication failed: `);
    await mail.waitForLog(sasl(attacker.addr4, 'PLAIN'), T);
    await mail.waitForLog(sasl(attacker.addr4, 'LOGIN'), T);
    await mail.waitForLog(sasl(attacker.addr6, 'PLAIN'), T);
    await mail.waitForLog(new RegExp(`dovecot: auth: passwd-file\\(nobody@portcullis\\.test,${esc(attacker.addr4)}\\): unknown user`), T);
    await mail.waitForLog(new RegExp(`dovecot: auth: passwd-file\\(${esc(mail.user)},${esc(attacker.addr6)}\\): Password mismatch`), T);
  });

  test('the legitimate client logs in over IMAP and SMTP, and nothing logs it as a failure', async () => {
    const { legit } = mail.net;
    assert.equal(await imapLogin(legit.ns, mail.serverAddr4, mail.user, mail.password, T), 'ok');
    assert.equal(await smtpAuth(legit.ns, mail.serverAddr4, mail.user, mail.password, T), 'ok');
    const ip = esc(legit.addr4);
    await mail.waitForLog(new RegExp(`dovecot: imap-login: Login: user=<${esc(mail.user)}>, method=PLAIN, rip=${ip}, `), T);
    await mail.waitForLog(new RegExp(`postfix/submission/smtpd\\[\\d+\\]: disconnect from unknown\\[${ip}\\] ehlo=1 auth=1 quit=1 commands=3$`), T);
    const failures = mail.logLines().filter((l) => l.includes(legit.addr4) && /fail|mismatch|unknown user/i.test(l));
    assert.deepEqual(failures, []);
  });

  test('an unreachable port is reported as refused, within the timeout', async () => {
    assert.equal(await imapLogin(mail.net.attacker.ns, mail.serverAddr4, mail.user, 'x', T, 993), 'refused');
  });

  test('a dropped connection is a timeout and a TCP reset is refused, as bans will look', { skip: nftMissing }, async () => {
    const { attacker } = mail.net;
    const nft = (script: string) => {
      const r = spawnSync('ip', ['netns', 'exec', mail.net.server, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    nft(`table inet pcmailtest {
      chain input {
        type filter hook input priority 0;
        ip saddr ${attacker.addr4} tcp dport 143 drop
        ip saddr ${attacker.addr4} tcp dport 587 reject with tcp reset
      }
    }`);
    try {
      const t0 = Date.now();
      assert.equal(await imapLogin(attacker.ns, mail.serverAddr4, mail.user, 'x', 1000), 'timeout');
      assert.ok(Date.now() - t0 < 3000, 'the client honours its timeout');
      assert.equal(await smtpAuth(attacker.ns, mail.serverAddr4, mail.user, 'x', 1000), 'refused');
      // The same server still answers others.
      assert.equal(await imapLogin(mail.net.legit.ns, mail.serverAddr4, mail.user, 'x', T), 'auth-failed');
    } finally {
      nft('delete table inet pcmailtest');
    }
  });

  test('the file on disk holds the same rsyslog-style lines, one per line', () => {
    const onDisk = readFileSync(mail.logPath, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(onDisk, [...mail.logLines()]);
    for (const line of onDisk) assert.match(line, /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d mail (dovecot|postfix\/[\w/-]+\[\d+\]): /);
  });
});

describe('mail server harness, Dovecot writing its own lines and RFC 3339 syslog stamps', { skip: missing ?? false, timeout: 60_000 }, () => {
  let mail: MailServer;
  before(async () => {
    mail = await startMailServer({ dovecotLog: 'file', timestampStyle: 'rfc3339', hostname: 'mx' });
  });
  after(async () => {
    await mail?.stop();
  });

  test('an IPv6 attacker shows in both formats', async () => {
    const { attacker } = mail.net;
    assert.equal(await imapLogin(attacker.ns, mail.serverAddr6, 'ghost@portcullis.test', 'x', T), 'auth-failed');
    assert.equal(await smtpAuth(attacker.ns, mail.serverAddr6, 'ghost@portcullis.test', 'x', T), 'auth-failed');
    const ip = esc(attacker.addr6);
    await mail.waitForLog(new RegExp(`^[A-Z][a-z]{2} \\d\\d \\d\\d:\\d\\d:\\d\\d imap-login: Info: Disconnected: .*\\(auth failed, 1 attempts in \\d+ secs\\): user=<ghost@portcullis\\.test>, method=PLAIN, rip=${ip}, lip=${esc(mail.serverAddr6)}, `), T);
    await mail.waitForLog(new RegExp(`^[A-Z][a-z]{2} \\d\\d \\d\\d:\\d\\d:\\d\\d auth: Info: passwd-file\\(ghost@portcullis\\.test,${ip},<[^>]+>\\): unknown user \\(SHA1 of given password: [0-9a-f]{6}\\)$`), T);
    await mail.waitForLog(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}[+-]\\d\\d:\\d\\d mx postfix/submission/smtpd\\[\\d+\\]: warning: unknown\\[${ip}\\]: SASL PLAIN authentication failed: `), T);
  });
});

async function waitCount(mail: MailServer, pattern: RegExp, n: number): Promise<void> {
  const end = Date.now() + T;
  while (mail.logLines().filter((l) => pattern.test(l)).length < n) {
    if (Date.now() > end) {
      assert.fail(`expected ${n} lines matching ${pattern}, log:\n${mail.logLines().join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('mail log collector formats lines as rsyslog writes them', () => {
  test('traditional stamps pad the day with a space; RFC 3339 stamps carry microseconds and offset', () => {
    const d = new Date(2026, 0, 5, 7, 8, 9, 123);
    assert.equal(syslogStamp(d, 'traditional'), 'Jan  5 07:08:09');
    assert.match(syslogStamp(d, 'rfc3339'), /^2026-01-05T07:08:09\.123000[+-]\d\d:\d\d$/);
  });

  test('Dovecot lines lose only the Info level word, as through syslog', () => {
    assert.equal(
      dovecotMessage('auth: Info: passwd-file(u,198.51.100.10): Password mismatch'),
      'dovecot: auth: passwd-file(u,198.51.100.10): Password mismatch',
    );
    assert.equal(dovecotMessage('auth: Error: boom: Info: x'), 'dovecot: auth: Error: boom: Info: x');
    assert.equal(dovecotMessage('master: Warning: w'), 'dovecot: master: Warning: w');
  });

  test('Dovecot file lines carry its default stamp, zero-padded, and nothing else', () => {
    assert.equal(dovecotFileLine('auth: Info: x', new Date(2026, 10, 4, 9, 5, 7)), 'Nov 04 09:05:07 auth: Info: x');
  });

  test("Postfix lines lose postlogd's own stamp and host", () => {
    assert.equal(
      postfixMessage('Nov 04 23:58:31 mail postfix/submission/smtpd[11767]: warning: unknown[198.51.100.10]: x'),
      'postfix/submission/smtpd[11767]: warning: unknown[198.51.100.10]: x',
    );
  });
});
