// docker-mailserver end to end: Debian's real Dovecot and Postfix (SASL through Dovecot) in a server
// namespace, portcullis started the way DMS starts it (ENABLE_FAIL2BAN=1, the config volume copied, the
// database on the state volume) on the built-in defaults with real nftables, an attacker and a
// legitimate client in their own namespaces.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, control, type DaemonDirs, type RunningDaemon, startDmsDaemon, waitFor } from './daemon-process.js';
import { imapLogin, type MailServer, mailServerMissing, smtpAuth, startMailServer } from './mailserver.js';
import { inNamespace } from './netns.js';

/** True once the kernel set of the jail holds the address (the ban is enforced, not only recorded). */
function inKernel(ns: string, jail: string, ip: string): boolean {
  const set = ip.includes(':') ? `addr6-set-${jail}` : `addr-set-${jail}`;
  const listed = spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'set', 'inet', 'f2b-table', set], { encoding: 'utf8' });
  return listed.stdout.includes(ip);
}

const skip = mailServerMissing() ?? (spawnSync('nft', ['--version']).status === 0 ? null : 'nft is not installed');
const T = 3000;

describe('real Dovecot and Postfix: portcullis bans attackers and spares the legitimate user', { skip: skip ?? false, timeout: 180_000 }, () => {
  let mail: MailServer;
  let daemon: RunningDaemon;
  let dirs: DaemonDirs;
  let root: string;

  before(async () => {
    mail = await startMailServer();
    root = mkdtempSync(join(tmpdir(), 'pc-dms-'));
    const volume = join(root, 'tmp-docker-mailserver');
    const state = join(root, 'mail-state', 'lib-fail2ban');
    mkdirSync(volume, { recursive: true });
    mkdirSync(state, { recursive: true });
    // The admin's fail2ban-jail.cf only points the mail jails at this mail log; everything else is built in.
    writeFileSync(
      join(volume, 'fail2ban-jail.cf'),
      `[dovecot]\nlogpath = ${mail.logPath}\n\n[postfix]\nlogpath = ${mail.logPath}\n`,
    );
    daemon = await startDmsDaemon({ root, config: join(root, 'etc-fail2ban'), volume, state }, inNamespace(mail.net.server));
    dirs = daemon.dirs;
  });

  after(async () => {
    await daemon?.kill();
    await mail?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('copied the config volume and keeps the database on the state volume', () => {
    assert.ok(existsSync(join(dirs.config, 'jail.d', 'user-jail.local')));
    assert.ok(existsSync(dirs.dbfile));
  });

  it('bans an IMAP brute-forcer within 2 s of its third failure; it cannot connect until unbanned', async () => {
    const { attacker, legit } = mail.net;
    assert.equal(await imapLogin(legit.ns, mail.serverAddr4, mail.user, mail.password, T), 'ok');
    let third = 0;
    for (let i = 0; i < 3; i++) {
      const outcome = await imapLogin(attacker.ns, mail.serverAddr4, mail.user, `wrong-${i}`, T);
      // Each failed LOGIN logs two failure lines (auth: and imap-login:), as Fail2Ban counts them too, so
      // the ban may already stop the third attempt.
      assert.ok(outcome === 'auth-failed' || (i === 2 && outcome === 'timeout'), `attempt ${i + 1}: ${outcome}`);
      third = Date.now();
    }
    await waitFor(
      'dovecot ban',
      async () => (await control(dirs).request({ cmd: 'status', jail: 'dovecot' })).bannedIps.includes(attacker.addr4),
      2000,
    );
    await waitFor('dovecot ban in the kernel', () => inKernel(mail.net.server, 'dovecot', attacker.addr4), 2000);
    assert.ok(Date.now() - third <= 2000, `enforced ${Date.now() - third} ms after the third failure`);
    assert.equal(await imapLogin(attacker.ns, mail.serverAddr4, mail.user, 'wrong-again', 1500), 'timeout', 'dropped');
    assert.equal(await imapLogin(legit.ns, mail.serverAddr4, mail.user, mail.password, T), 'ok', 'legit user unaffected');

    const listed = cli(dirs, ['setup', 'fail2ban']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^Banned in dovecot: .*\\b${attacker.addr4.replaceAll('.', '\\.')}\\b`, 'm'));

    const unbanned = cli(dirs, ['setup', 'fail2ban', 'unban', attacker.addr4]);
    assert.equal(unbanned.status, 0, unbanned.stderr);
    assert.match(unbanned.stdout, /^Unbanned IP from dovecot: 1$/m);
    assert.equal(await imapLogin(attacker.ns, mail.serverAddr4, mail.user, mail.password, T), 'ok', 'reachable again');
  });

  it('bans an SMTP AUTH brute-forcer on the submission port (IPv6) in the postfix jail', async () => {
    const { attacker, legit } = mail.net;
    let third = 0;
    for (let i = 0; i < 3; i++) {
      const outcome = await smtpAuth(attacker.ns, mail.serverAddr6, mail.user, `bad-${i}`, T);
      assert.ok(outcome === 'auth-failed' || (i === 2 && outcome === 'timeout'), `attempt ${i + 1}: ${outcome}`);
      third = Date.now();
    }
    await waitFor(
      'postfix ban',
      async () => (await control(dirs).request({ cmd: 'status', jail: 'postfix' })).bannedIps.includes(attacker.addr6),
      2000,
    );
    await waitFor('postfix ban in the kernel', () => inKernel(mail.net.server, 'postfix', attacker.addr6), 2000);
    assert.ok(Date.now() - third <= 2000, `enforced ${Date.now() - third} ms after the third failure`);
    assert.equal(await smtpAuth(attacker.ns, mail.serverAddr6, mail.user, 'bad-again', 1500), 'timeout', 'dropped');
    assert.equal(await smtpAuth(legit.ns, mail.serverAddr6, mail.user, mail.password, T), 'ok', 'legit user unaffected');

    const listed = cli(dirs, ['setup', 'fail2ban']);
    assert.match(listed.stdout, new RegExp(`^Banned in postfix: .*${attacker.addr6.replaceAll(':', '\\:')}`, 'm'));
    const unbanned = cli(dirs, ['setup', 'fail2ban', 'unban', attacker.addr6]);
    assert.equal(unbanned.status, 0, unbanned.stderr);
    assert.equal(await smtpAuth(attacker.ns, mail.serverAddr6, mail.user, mail.password, T), 'ok', 'reachable again');
  });
});
