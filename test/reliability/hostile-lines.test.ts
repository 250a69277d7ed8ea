// Case 9: hostile log lines against the real built-in filters in a running daemon: 1 MB lines, NUL
// bytes and invalid UTF-8, lines crafted for catastrophic backtracking, and injection (a user name,
// HELO or sender carrying a victim's address, loopback, or this host's own address). Proves that none
// of those addresses is banned, that the real attacker of the same line is, and that the daemon stays
// responsive while it reads them.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { after, describe, it } from 'node:test';
import { control, type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { allBans, dovecotFailure, dovecotLoginFailure, mailSetup, postfixRelayReject, postfixSaslFailure, syslogStamp } from '../e2e/mail-log.js';

/** A non-loopback IPv4 address of this host (ignoreself must protect it), or null. */
function ownAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (!i.internal && i.family === 'IPv4') return i.address;
  }
  return null;
}

const VICTIM = '198.51.100.99';
const protectedAddresses = [VICTIM, '127.0.0.1', '::1', '::ffff:127.0.0.1', ...(ownAddress() ? [ownAddress()!] : [])];

describe('reliability: hostile log lines', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it('1 MB lines, NUL and invalid UTF-8: read past, nothing in them banned, the attacker in a mangled line is', { timeout: 30_000 }, async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const s = syslogStamp();
    for (let k = 0; k < 3; k++) {
      // A megabyte of garbage, then one that looks like a failure naming a victim after the length cap.
      appendFileSync(mailLog, `${s} mail dovecot: ${'A'.repeat(1024 * 1024)}\n`);
      appendFileSync(mailLog, `${s} mail dovecot: auth: passwd-file(${'u'.repeat(1024 * 1024)},${VICTIM},<x>): unknown user\n`);
      // NUL, invalid UTF-8 and control characters in the client-chosen user name; the address is real.
      appendFileSync(
        mailLog,
        Buffer.concat([
          Buffer.from(`${s} mail dovecot: auth: passwd-file(ad`),
          Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x1b, 0x5b, 0x32, 0x4a, 0xed, 0xa0, 0x80]),
          Buffer.from('min,203.0.113.60,<Xy1AbC2dEfG>): unknown user\n'),
        ]),
      );
      appendFileSync(mailLog, Buffer.from([0x00, 0x00, 0xff, 0x0a, 0xc0, 0xaf, 0x0a]));
    }
    appendFileSync(mailLog, dovecotFailure('203.0.113.61').repeat(3));
    await waitFor('the attacker after the garbage banned', async () => (await allBans(dirs)).includes('dovecot 203.0.113.61') || null, 10_000);
    assert.deepEqual(await allBans(dirs), ['dovecot 203.0.113.60', 'dovecot 203.0.113.61']);
    assert.equal(await daemon.stop(), 0);
  });

  it('ReDoS bait against the built-in dovecot and postfix filters: the daemon stays responsive and keeps banning', { timeout: 60_000 }, async (t) => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const s = syslogStamp();
    const n = 30_000;
    const baits = [
      // `_fields`: `.* rip=<HOST>` with an IPv6-looking run that never ends in a valid address.
      `${s} mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>,${' rip=1:'.repeat(n / 6)}${'1:'.repeat(n)}!`,
      // `_auth`: `\(<F-USER>.*</F-USER>,<HOST>` with many commas and address-like pieces and no `):`.
      `${s} mail dovecot: auth: passwd-file(${',1:2'.repeat(n / 4)},${'1:'.repeat(n / 2)} unknown user`,
      // `_why`: nested groups of the closing reason.
      `${s} mail dovecot: imap-login: Disconnected: ${'(a)'.repeat(n / 3)}( (auth failed, 1 attempts): user=<x>, rip=`,
      // `_client` with a DNS-looking name that never closes its bracket.
      `${s} mail postfix/smtpd[1]: warning: unknown[${'a.'.repeat(n)}: SASL LOGIN authentication failed:`,
      `${s} mail postfix/smtpd[1]: disconnect from x[1.2.3.4]${' ehlo=1'.repeat(n / 7)} auth=0/x`,
      `${s} mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from ${'['.repeat(n)}1.2.3.4]: 554 5.7.1 <a>: Relay access denied;`,
      // IPv6 groups with ambiguous colons, addresses repeated inside the user field, a pam rhost run.
      `${s} mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, rip=${'1:::'.repeat(n / 4)}!`,
      `${s} mail dovecot: auth: passwd-file(${',1.2.3.4,<a>'.repeat(n / 12)}: unknown user`,
      `${s} mail auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser= rhost=${'a'.repeat(n / 2)}${' '.repeat(n / 2)}x`,
    ];
    const pingsMs: number[] = [];
    let pinging = true;
    const pinger = (async () => {
      while (pinging) {
        const t0 = Date.now();
        await control(dirs).request({ cmd: 'ping' });
        pingsMs.push(Date.now() - t0);
        await sleep(50);
      }
    })();
    const t0 = Date.now();
    for (let k = 0; k < 5; k++) appendFileSync(mailLog, `${baits.join('\n')}\n`);
    appendFileSync(mailLog, dovecotFailure('203.0.113.70').repeat(3) + postfixSaslFailure('203.0.113.71').repeat(3));
    await waitFor(
      'the attackers after the bait banned',
      async () => {
        const bans = await allBans(dirs);
        return (bans.includes('dovecot 203.0.113.70') && bans.includes('postfix 203.0.113.71')) || null;
      },
      30_000,
    );
    const elapsed = Date.now() - t0;
    pinging = false;
    await pinger;
    const worstPing = Math.max(...pingsMs);
    t.diagnostic(`${baits.length * 5} bait lines (~${n} chars each) read and the next attackers banned in ${elapsed} ms; worst ping ${worstPing} ms`);
    assert.deepEqual(await allBans(dirs), ['dovecot 203.0.113.70', 'postfix 203.0.113.71'], 'nothing in the bait banned');
    assert.ok(elapsed < 5000, `bait took ${elapsed} ms`);
    assert.ok(worstPing < 1000, `a ping took ${worstPing} ms while the bait was read`);
    assert.equal(await daemon.stop(), 0);
  });

  it(`injection: victims in user names, HELO and senders, loopback and own address (${protectedAddresses.join(', ')}) never banned; the real attacker is`, { timeout: 30_000 }, async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const attackers = { dovecot: new Set<string>(), postfix: new Set<string>() };
    let text = '';
    let a = 0;
    for (const victim of protectedAddresses) {
      const s = syslogStamp();
      const ip = () => `203.0.113.${100 + a++}`;
      const d1 = ip();
      const d2 = ip();
      const p1 = ip();
      const p2 = ip();
      attackers.dovecot.add(d1).add(d2);
      attackers.postfix.add(p1).add(p2);
      for (let k = 0; k < 3; k++) {
        // The user name closes the field early and names the victim; the real address comes last.
        text += dovecotFailure(d1, s, `x,${victim},<a>): unknown user`);
        text += dovecotLoginFailure(d2, s, `a>, method=PLAIN, rip=${victim}, lip=7.7.7.7`);
        text += postfixRelayReject(p1, `[${victim}]`, `a@[${victim}]`, s);
        text += postfixRelayReject(p2, `unknown[${victim}]`, `<unknown[${victim}]>: x`, s);
        // The victim as the real client: loopback and own addresses are ignored, the plain victim is not
        // protected (it really failed), so it is only sent in injection positions.
        if (victim !== VICTIM) {
          text += dovecotFailure(victim, s);
          text += postfixSaslFailure(victim, s);
        }
      }
    }
    appendFileSync(mailLog, text);
    const want = [...[...attackers.dovecot].map((ip) => `dovecot ${ip}`), ...[...attackers.postfix].map((ip) => `postfix ${ip}`)].sort();
    await waitFor('every real attacker banned', async () => (await allBans(dirs)).length >= want.length || null, 10_000).catch(() => {});
    await sleep(300);
    const bans = await allBans(dirs);
    const missing = want.filter((b) => !bans.includes(b));
    const extra = bans.filter((b) => !want.includes(b));
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
    assert.equal(await daemon.stop(), 0);
  });
});
