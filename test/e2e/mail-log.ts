// docker-mailserver style mail log lines and a daemon set up on the built-in mail jails, shared by the
// reliability cases. Lines follow rsyslog's traditional format, which the built-in filters read.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { control, type DaemonDirs, daemonDirs, writeConfig } from './daemon-process.js';

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Syslog's traditional stamp in local time. */
export function syslogStamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A Dovecot failure (dovecot jail). */
export function dovecotFailure(ip: string, stamp = syslogStamp(), user = 'admin@example.com'): string {
  return `${stamp} mail dovecot: auth: passwd-file(${user},${ip},<Xy1AbC2dEfG>): unknown user\n`;
}

/** A Dovecot login failure summary (dovecot jail); `user` is chosen by the client. */
export function dovecotLoginFailure(ip: string, stamp = syslogStamp(), user = 'x'): string {
  return `${stamp} mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<${user}>, method=PLAIN, rip=${ip}, lip=172.17.0.2, TLS, session=<Ab12Cd34>\n`;
}

/** A Postfix SASL failure (postfix jail, mode extra). */
export function postfixSaslFailure(ip: string, stamp = syslogStamp()): string {
  return `${stamp} mail postfix/submission/smtpd[2345]: warning: unknown[${ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6\n`;
}

/** A Postfix relay rejection: HELO and sender are chosen by the client (postfix jail, mode extra). */
export function postfixRelayReject(ip: string, helo: string, sender: string, stamp = syslogStamp()): string {
  return `${stamp} mail postfix/smtpd[2345]: NOQUEUE: reject: RCPT from unknown[${ip}]: 554 5.7.1 <x@example.org>: Relay access denied; from=<${sender}> to=<x@example.org> proto=ESMTP helo=<${helo}>\n`;
}

/** Ordinary traffic of a mail server: none of these lines is a failure. `{ip}` is the client. */
const NOISE = [
  'mail postfix/smtpd[1201]: connect from mx.example.net[{ip}]',
  'mail postfix/smtpd[1201]: Anonymous TLS connection established from mx.example.net[{ip}]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)',
  'mail postfix/smtpd[1201]: 4XyZ1k2LmNz: client=mx.example.net[{ip}]',
  'mail postfix/cleanup[1202]: 4XyZ1k2LmNz: message-id=<20241124100000.1234@example.net>',
  'mail postfix/qmgr[1203]: 4XyZ1k2LmNz: from=<news@example.net>, size=4242, nrcpt=1 (queue active)',
  'mail amavis[1204]: (01204-01) Passed CLEAN {RelayedInbound}, [{ip}]:41234 <news@example.net> -> <user@example.com>, Hits: -1.2, size: 4242, 512 ms',
  'mail postfix/lmtp[1205]: 4XyZ1k2LmNz: to=<user@example.com>, relay=mail.example.com[/var/run/dovecot/lmtp], delay=0.6, status=sent (250 2.0.0 <user@example.com> Saved)',
  'mail postfix/smtpd[1201]: disconnect from mx.example.net[{ip}] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7',
  'mail dovecot: imap-login: Login: user=<user@example.com>, method=PLAIN, rip={ip}, lip=172.17.0.2, mpid=4242, TLS, session=<AbCdEf12>',
  'mail dovecot: imap(user@example.com)<4242><AbCdEf12>: Disconnected: Logged out in=123 out=4567 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0',
  'mail dovecot: lmtp(user@example.com)<4243><XyZ>: msgid=<20241124100000.1234@example.net>: saved mail to INBOX',
  'mail opendkim[1206]: 4XyZ1k2LmNz: DKIM verification successful',
  'mail postfix/submission/smtpd[1207]: 4XyZ1k2LmNz: client=unknown[{ip}], sasl_method=PLAIN, sasl_username=user@example.com',
];

/** Ordinary (non-failure) lines for the client `ip`, rotating through the templates. */
export function noiseLine(ip: string, index: number, stamp = syslogStamp()): string {
  return `${stamp} ${NOISE[index % NOISE.length]!.replace('{ip}', ip)}\n`;
}

export const NOISE_TEMPLATES = NOISE.length;

/** The built-in defaults with the mail jails reading a temp mail log, plus extra config files. */
export function mailSetup(files: Record<string, string> = {}, jailExtra = ''): { dirs: DaemonDirs; mailLog: string } {
  const dirs = daemonDirs();
  const mailLog = join(dirs.root, 'mail.log');
  writeFileSync(mailLog, '');
  writeConfig(dirs, {
    'jail.d/test.local': `[dovecot]\nlogpath = ${mailLog}\n${jailExtra}\n[postfix]\nlogpath = ${mailLog}\n${jailExtra}\n`,
    ...files,
  });
  return { dirs, mailLog };
}

export function jailStatus(dirs: DaemonDirs, jail: string) {
  return control(dirs).request({ cmd: 'status', jail });
}

/** Every banned address with its jail, as "jail ip". */
export async function allBans(dirs: DaemonDirs): Promise<string[]> {
  const banned = await control(dirs).request({ cmd: 'banned' });
  return banned.flatMap((j) => j.ips.map((ip) => `${j.jail} ${ip}`)).sort();
}

/** Sum of totalFailed over the mail jails. */
export async function totalFailed(dirs: DaemonDirs): Promise<number> {
  const [d, p] = await Promise.all([jailStatus(dirs, 'dovecot'), jailStatus(dirs, 'postfix')]);
  return d.totalFailed + p.totalFailed;
}

/** A small seeded PRNG (mulberry32) so a failing run can be replayed with its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of this run: RELIABILITY_SEED to replay one, else random (printed by the tests). */
export function runSeed(): number {
  return Number(process.env.RELIABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));
}

/** `n` distinct addresses in 203.0.113.0/24 + 198.51.100.0/24 style ranges, from an offset. */
export function addresses(prefix: string, n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => {
    const k = i + from;
    return `${prefix}.${Math.floor(k / 250) % 250}.${(k % 250) + 1}`;
  });
}
