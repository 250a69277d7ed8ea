// Benchmark (not a test): `portcullis regex` against Debian's `fail2ban-regex` on the same generated
// docker-mailserver log, with the same filter files (/etc/fail2ban) and with portcullis' built-in ones.
// Prints both times, the ratio, lines/s and the commands, and checks both find the same matches.
// Usage: node dist/bench/regex.js [LINES...]   (default 1,000,000 and 10,000,000; F2B_LIMIT=seconds caps
// each fail2ban-regex run, default 150, reported as "> limit")
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report } from './report.js';

/** Line counts to run; fail2ban-regex is stopped after F2B_LIMIT seconds and reported as "> limit". */
const SIZES = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [1_000_000, 10_000_000];
const F2B_LIMIT = Number(process.env.F2B_LIMIT ?? 150);
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

/**
 * Writes a docker-mailserver mail.log to `path`: Postfix and Dovecot traffic with about 1 % failed
 * logins/rejects. Written in chunks: 10,000,000 lines do not fit in one string.
 */
function generate(lines: number, path: string): { failures: number } {
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

interface Timed {
  seconds: number;
  stdout: string;
  command: string;
}

/** Runs a command to completion; `limitSeconds` stops it and returns null (it took longer). */
function time(cmd: string, args: string[], limitSeconds?: number): Timed | null {
  const start = process.hrtime.bigint();
  const res = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, TZ: 'UTC' },
    timeout: limitSeconds === undefined ? undefined : limitSeconds * 1000,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (res.error && (res.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return null;
  if (res.status !== 0) throw new Error(`${cmd} failed (${res.status}): ${res.stderr.slice(0, 500)}`);
  return { seconds, stdout: res.stdout, command: [cmd, ...args.map((a) => (/[\s[\]]/.test(a) ? `'${a}'` : a))].join(' ') };
}

function ours(log: string, config: string, filter: string): Timed {
  const run = time(process.execPath, ['--enable-experimental-regexp-engine-on-excessive-backtracks', MAIN, 'regex', '--json', '-c', config, log, filter]);
  if (run === null) throw new Error('unreachable: no limit');
  return run;
}

const ips = (run: Timed) => (JSON.parse(run.stdout) as { matches: Array<{ ip: string }> }).matches.map((m) => m.ip);
const rate = (lines: number, seconds: number) => `${Math.round(lines / seconds).toLocaleString('en')} lines/s`;
const haveF2b = spawnSync('fail2ban-regex', ['--version'], { encoding: 'utf8' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'pc-bench-'));
let ok = true;
try {
  for (const lines of SIZES) {
    const log = join(dir, `mail-${lines}.log`);
    const { failures } = generate(lines, log);
    const size = `${(lines / 1e6).toLocaleString('en')}M lines`;
    console.log(`generated ${lines.toLocaleString('en')} lines (${failures.toLocaleString('en')} failures)`);
    for (const filter of ['postfix[mode=extra]', 'dovecot']) {
      const builtin = ours(log, dir, filter);
      const f2bFiles = ours(log, '/etc/fail2ban', filter);
      console.log(`  ${builtin.command}\n  ${f2bFiles.command}`);
      const f2b = haveF2b ? time('fail2ban-regex', ['-o', 'ip', log, filter], F2B_LIMIT) : undefined;
      let versus = 'fail2ban-regex not installed';
      if (f2b === null) versus = `fail2ban-regex > ${F2B_LIMIT} s: ≥ ${(F2B_LIMIT / builtin.seconds).toFixed(1)}×`;
      else if (f2b) {
        console.log(`  ${f2b.command}`);
        const theirs = f2b.stdout.split('\n').filter((l) => l.trim() !== '');
        const same = JSON.stringify(theirs) === JSON.stringify(ips(builtin)) && JSON.stringify(theirs) === JSON.stringify(ips(f2bFiles));
        ok &&= same;
        versus = `fail2ban-regex ${f2b.seconds.toFixed(1)} s (${rate(lines, f2b.seconds)}): ${(f2b.seconds / builtin.seconds).toFixed(1)}×, same ${theirs.length} matches: ${same ? 'yes' : 'NO'}`;
      }
      report(`regex ${filter}, ${size}, built-in filter`, `${builtin.seconds.toFixed(2)} s, ${rate(lines, builtin.seconds)}; ${versus}`, '≥ 20× fail2ban-regex, ≥ 1 M lines/s');
      report(`regex ${filter}, ${size}, Fail2Ban's filter file`, `${f2bFiles.seconds.toFixed(2)} s, ${rate(lines, f2bFiles.seconds)}`);
    }
    rmSync(log, { force: true });
  }
  if (!ok) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
