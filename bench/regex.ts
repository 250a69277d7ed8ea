// Benchmark (not a test): `portcullis regex` against Debian's `fail2ban-regex` on the same generated
// docker-mailserver log, with the same filter files (/etc/fail2ban) and with portcullis' built-in ones.
// Prints both times, the ratio, lines/s and the commands, and checks both find the same matches.
// Usage: node dist/bench/regex.js [LINES] [LOG]   (default 1,000,000 lines, written to $TMPDIR and
// removed afterwards; with LOG, the generated log is kept there, or reused when LOG already exists)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LINES = Number(process.argv[2] ?? 1_000_000);
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Deterministic PRNG (mulberry32) so every run benchmarks the same log. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A docker-mailserver mail.log: Postfix and Dovecot traffic with about 1 % failed logins/rejects. */
function generate(lines: number): { text: string; failures: number } {
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
  const out: string[] = [];
  let failures = 0;
  for (let i = 0; i < lines; i++) {
    const s = Math.floor((i / lines) * 86400);
    const t = `${pick(months)} 24 ${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
    if (r() < 0.01) {
      failures++;
      out.push(pick(failing)(t));
    } else out.push(pick(normal)(t));
  }
  return { text: `${out.join('\n')}\n`, failures };
}

interface Timed {
  seconds: number;
  stdout: string;
  command: string;
}

function time(cmd: string, args: string[]): Timed {
  const start = process.hrtime.bigint();
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, TZ: 'UTC' } });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (res.status !== 0) throw new Error(`${cmd} failed (${res.status}): ${res.stderr.slice(0, 500)}`);
  return { seconds, stdout: res.stdout, command: [cmd, ...args.map((a) => (/[\s[\]]/.test(a) ? `'${a}'` : a))].join(' ') };
}

const dir = mkdtempSync(join(tmpdir(), 'pc-bench-'));
const log = process.argv[3] ?? join(dir, 'mail.log');
try {
  if (existsSync(log)) {
    const n = readFileSync(log, 'utf8').split('\n').length - 1;
    if (n !== LINES) throw new Error(`${log} has ${n} lines, not ${LINES}`);
    console.log(`reusing ${log} (${LINES} lines)\n`);
  } else {
    const g = generate(LINES);
    writeFileSync(log, g.text);
    console.log(`generated ${LINES} lines (${(g.text.length / 1e6).toFixed(0)} MB, ${g.failures} failures) in ${log}\n`);
  }
  const haveF2b = spawnSync('fail2ban-regex', ['--version'], { encoding: 'utf8' }).status === 0;
  let ok = true;
  for (const filter of ['postfix[mode=extra]', 'dovecot']) {
    const ours = time(process.execPath, [
      '--enable-experimental-regexp-engine-on-excessive-backtracks',
      MAIN,
      'regex',
      '--json',
      '-c',
      '/etc/fail2ban',
      log,
      filter,
    ]);
    const builtin = time(process.execPath, [
      '--enable-experimental-regexp-engine-on-excessive-backtracks',
      MAIN,
      'regex',
      '--json',
      '-c',
      dir,
      log,
      filter,
    ]);
    const ourIps = (JSON.parse(ours.stdout) as { matches: Array<{ ip: string }> }).matches.map((m) => m.ip);
    const builtinIps = (JSON.parse(builtin.stdout) as { matches: Array<{ ip: string }> }).matches.map((m) => m.ip);
    console.log(`== ${filter}`);
    console.log(`portcullis (Fail2Ban's filter file): ${ours.seconds.toFixed(2)} s, ${Math.round(LINES / ours.seconds).toLocaleString('en')} lines/s, ${ourIps.length} matches`);
    console.log(`  ${ours.command}`);
    console.log(`portcullis (built-in filter):        ${builtin.seconds.toFixed(2)} s, ${Math.round(LINES / builtin.seconds).toLocaleString('en')} lines/s, ${builtinIps.length} matches`);
    console.log(`  ${builtin.command}`);
    if (haveF2b) {
      const f2b = time('fail2ban-regex', ['-o', 'ip', log, filter]);
      const f2bIps = f2b.stdout.split('\n').filter((l) => l.trim() !== '');
      const same = JSON.stringify(f2bIps) === JSON.stringify(ourIps);
      const sameBuiltin = JSON.stringify(f2bIps) === JSON.stringify(builtinIps);
      ok &&= same && sameBuiltin;
      console.log(`fail2ban-regex:                      ${f2b.seconds.toFixed(2)} s, ${Math.round(LINES / f2b.seconds).toLocaleString('en')} lines/s, ${f2bIps.length} matches`);
      console.log(`  ${f2b.command}`);
      console.log(`speed-up: ${(f2b.seconds / ours.seconds).toFixed(1)}x (same filter file), ${(f2b.seconds / builtin.seconds).toFixed(1)}x (built-in)`);
      console.log(`same matches: ${same ? 'yes' : 'NO'} (Fail2Ban's filter), ${sameBuiltin ? 'yes' : 'NO'} (built-in)\n`);
    } else console.log("fail2ban-regex not installed: no comparison (apt-get install fail2ban)\n");
  }
  if (!ok) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
