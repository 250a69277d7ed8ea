// The generated docker-mailserver mail.log every regex/profile benchmark reads: Postfix and Dovecot
// traffic with about 1 % failures, deterministic so every run measures the same log.
import { closeSync, openSync, writeSync } from 'node:fs';
import { rng } from '../test/e2e/mail-log.js';

/**
 * Writes a docker-mailserver mail.log to `path`: Postfix and Dovecot traffic with about 1 % failed
 * logins/rejects. Written in chunks: 10,000,000 lines do not fit in one string.
 */
export function generate(lines: number, path: string): { failures: number } {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const ip = () => `${pick([198, 203, 192, 45, 185])}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${1 + Math.floor(r() * 254)}`;
  const users = ['alice@example.com', 'bob@example.com', 'carol@example.org', 'info@example.com'];
  const qid = () => Math.floor(r() * 0xfffffffff).toString(16).toUpperCase();
  const normal: Array<(t: string) => string> = [
    (t) => `${t} mail postfix/smtpd[${1000 + Math.floor(r() * 9000)}]: connect from mx.example.net[${ip()}]`,
    (t) => `${t} mail postfix/smtpd[${1000 + Math.floor(r() * 9000)}]: disconnect from mx.example.net[${ip()}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5`,
    (t) => `${t} mail postfix/smtpd[${1000 + Math.floor(r() * 9000)}]: ${qid()}: client=mx.example.net[${ip()}]`,
    (t) => `${t} mail postfix/cleanup[${1000 + Math.floor(r() * 9000)}]: ${qid()}: message-id=<${qid()}@example.net>`,
    (t) => `${t} mail postfix/qmgr[301]: ${qid()}: from=<news@example.net>, size=${Math.floor(r() * 90000)}, nrcpt=1 (queue active)`,
    (t) => `${t} mail postfix/lmtp[${1000 + Math.floor(r() * 9000)}]: ${qid()}: to=<${pick(users)}>, relay=mail.example.com[/var/run/dovecot/lmtp], delay=0.1, delays=0.05/0/0.01/0.04, dsn=2.0.0, status=sent (250 2.0.0 <${pick(users)}> Saved)`,
    (t) => `${t} mail postfix/qmgr[301]: ${qid()}: removed`,
    (t) => `${t} mail dovecot: imap-login: Login: user=<${pick(users)}>, method=PLAIN, rip=${ip()}, lip=172.17.0.2, mpid=${Math.floor(r() * 9000)}, TLS, session=<${qid()}>`,
    (t) => `${t} mail dovecot: imap(${pick(users)})<${Math.floor(r() * 9000)}><${qid()}>: Disconnected: Logged out in=${Math.floor(r() * 900)} out=${Math.floor(r() * 9000)} deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0`,
    (t) => `${t} mail dovecot: lmtp(${pick(users)})<${Math.floor(r() * 9000)}><${qid()}>: msgid=<${qid()}@example.net>: saved mail to INBOX`,
  ];
  const failing: Array<(t: string) => string> = [
    (t) => `${t} mail postfix/smtpd[${1000 + Math.floor(r() * 9000)}]: warning: unknown[${ip()}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`,
    (t) => `${t} mail postfix/submission/smtpd[${1000 + Math.floor(r() * 9000)}]: warning: unknown[${ip()}]: SASL PLAIN authentication failed: authentication failure`,
    (t) => {
      const a = ip();
      return `${t} mail postfix/smtpd[${1000 + Math.floor(r() * 9000)}]: NOQUEUE: reject: RCPT from unknown[${a}]: 554 5.7.1 <spam@example.org>: Relay access denied; from=<x@example.biz> to=<spam@example.org> proto=ESMTP helo=<[${a}]>`;
    },
    (t) => `${t} mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<${pick(users)}>, method=PLAIN, rip=${ip()}, lip=172.17.0.2, TLS, session=<${qid()}>`,
    (t) => `${t} mail dovecot: auth: passwd-file(${pick(users)},${ip()},<${qid()}>): Password mismatch`,
  ];
  const months = ['Nov'];
  const fd = openSync(path, 'w');
  let out: string[] = [];
  let failures = 0;
  for (let i = 0; i < lines; i++) {
    if (out.length === 100_000) {
      writeSync(fd, `${out.join('\n')}\n`);
      out = [];
    }
    const s = Math.floor((i / lines) * 86400);
    const t = `${pick(months)} 24 ${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
    if (r() < 0.01) {
      failures++;
      out.push(pick(failing)(t));
    } else out.push(pick(normal)(t));
  }
  if (out.length > 0) writeSync(fd, `${out.join('\n')}\n`);
  closeSync(fd);
  return { failures };
}

// `node dist/bench/mail-log.js LINES PATH` writes one log (for profiling by hand).
if (process.argv[1]?.endsWith('mail-log.js') && process.argv.length === 4) {
  const { failures } = generate(Number(process.argv[2]), process.argv[3] as string);
  console.log(`${process.argv[3]}: ${process.argv[2]} lines, ${failures} failures`);
}
