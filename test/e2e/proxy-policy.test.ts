// Bans behind a PROXY-protocol proxy: clients reach a real HAProxy in a namespace of its own, which passes
// their connections with PROXY headers to real Postfix (smtpd_upstream_proxy_protocol = haproxy) and real
// Dovecot (haproxy_trusted_networks) in the server namespace. The server's kernel sees only HAProxy's
// address; Postfix and Dovecot log and ask about the real one. portcullis bans the attacker from those
// log lines (its jails record only: banaction = proxied), and its policy servers make Postfix and Dovecot
// refuse the attacker's next SMTP AUTH and IMAP login, even with the right password, while the
// legitimate user, through the same proxy, keeps working.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, control, type DaemonDirs, type RunningDaemon, startDmsDaemon, waitFor } from './daemon-process.js';
import { imapLogin, type MailServer, mailServerMissing, PROXIED_PORTS, smtpAuth, startMailServer } from './mailserver.js';
import { createMailNet, killNamespacePids, type MailNet, run } from './mailserver-netns.js';
import { inNamespace } from './netns.js';

const PROXY_ADDR = '198.51.100.30';
const POSTFIX_POLICY_PORT = 12340;
const DOVECOT_POLICY_PORT = 12341;
const T = 3000;

const skip = mailServerMissing() ?? (existsSync('/usr/sbin/haproxy') ? null : 'haproxy missing: apt-get install haproxy');

/** A namespace for HAProxy on the mail network's bridge, at PROXY_ADDR. */
async function createProxyNs(net: MailNet): Promise<string> {
  const ns = `pcprx-${process.pid}-${randomBytes(3).toString('hex')}`;
  await run('ip', ['netns', 'add', ns]);
  try {
    await run('ip', ['-n', net.server, 'link', 'add', 'v-prx', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await run('ip', ['-n', net.server, 'link', 'set', 'v-prx', 'master', 'br0', 'up']);
    await run('ip', ['-n', ns, 'addr', 'add', `${PROXY_ADDR}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    spawnSync('ip', ['netns', 'del', ns]);
    throw err;
  }
  return ns;
}

function haproxyConfig(server: string): string {
  return `global
  log stderr format short local0 warning
defaults
  mode tcp
  log global
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend submission
  bind ${PROXY_ADDR}:587
  default_backend postfix
backend postfix
  server postfix ${server}:${PROXIED_PORTS.smtp} send-proxy
frontend imap
  bind ${PROXY_ADDR}:143
  default_backend dovecot
backend dovecot
  server dovecot ${server}:${PROXIED_PORTS.imap} send-proxy
`;
}

async function waitProxyListening(ns: string, haproxy: ChildProcess): Promise<void> {
  await waitFor(
    'haproxy listening',
    async () => {
      if (haproxy.exitCode !== null) throw new Error(`haproxy exited with ${haproxy.exitCode}`);
      const out = await run('ip', ['netns', 'exec', ns, 'ss', '-Hltn']);
      return out.includes(`${PROXY_ADDR}:587`) && out.includes(`${PROXY_ADDR}:143`);
    },
    10_000,
  );
}

describe('behind HAProxy (PROXY protocol): the policy servers enforce bans the kernel cannot', { skip: skip ?? false, timeout: 180_000 }, () => {
  let net: MailNet;
  let proxyNs = '';
  let mail: MailServer;
  let haproxy: ChildProcess | undefined;
  let haproxyLog = '';
  let daemon: RunningDaemon;
  let dirs: DaemonDirs;
  let root: string;

  before(async () => {
    net = await createMailNet();
    proxyNs = await createProxyNs(net);
    mail = await startMailServer({
      net,
      proxy: {
        trusted: PROXY_ADDR,
        postfixPolicy: `inet:127.0.0.1:${POSTFIX_POLICY_PORT}`,
        dovecotPolicyUrl: `http://127.0.0.1:${DOVECOT_POLICY_PORT}/`,
      },
    });
    root = mkdtempSync(join(tmpdir(), 'pc-proxy-'));
    const volume = join(root, 'tmp-docker-mailserver');
    const state = join(root, 'state');
    mkdirSync(volume, { recursive: true });
    mkdirSync(state, { recursive: true });
    // The mail services are reached only through the proxy: the jails record bans (banaction = proxied), the
    // policy servers enforce them.
    writeFileSync(
      join(volume, 'fail2ban-jail.cf'),
      `[dovecot]\nlogpath = ${mail.logPath}\nbanaction = proxied\n\n[postfix]\nlogpath = ${mail.logPath}\nbanaction = proxied\n`,
    );
    writeFileSync(
      join(volume, 'fail2ban-fail2ban.cf'),
      `[Definition]\npostfixpolicy = 127.0.0.1:${POSTFIX_POLICY_PORT}\ndovecotpolicy = 127.0.0.1:${DOVECOT_POLICY_PORT}\n`,
    );
    daemon = await startDmsDaemon({ root, config: join(root, 'etc-fail2ban'), volume, state }, inNamespace(net.server));
    dirs = daemon.dirs;
    const cfg = join(root, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(net.serverAddr4));
    haproxy = spawn('ip', ['netns', 'exec', proxyNs, 'haproxy', '-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stderr?.on('data', (d: Buffer) => {
      haproxyLog += d.toString();
    });
    await waitProxyListening(proxyNs, haproxy);
  });

  after(async () => {
    haproxy?.kill('SIGKILL');
    await daemon?.kill();
    await mail?.stop();
    if (proxyNs) {
      killNamespacePids(proxyNs);
      spawnSync('ip', ['netns', 'del', proxyNs]);
    }
    await net?.destroy();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const banned = async (jail: string, ip: string) => (await control(dirs).request({ cmd: 'status', jail })).bannedIps.includes(ip) as boolean;
  /** The server namespace's whole ruleset: the proxied jails must have put nothing there. */
  const ruleset = () => spawnSync('ip', ['netns', 'exec', net.server, 'nft', 'list', 'ruleset'], { encoding: 'utf8' }).stdout;

  it('the legitimate user logs in through the proxy; Postfix and Dovecot see its real address', async () => {
    const { legit } = net;
    assert.equal(await imapLogin(legit.ns, PROXY_ADDR, mail.user, mail.password, T), 'ok', haproxyLog);
    assert.equal(await smtpAuth(legit.ns, PROXY_ADDR, mail.user, mail.password, T), 'ok', haproxyLog);
    await mail.waitForLog(new RegExp(`imap-login: Login: .*rip=${legit.addr4.replaceAll('.', '\\.')}`), 3000);
    await mail.waitForLog(new RegExp(`postfix/submission/smtpd\\[\\d+\\]: connect from unknown\\[${legit.addr4.replaceAll('.', '\\.')}\\]`), 3000);
  });

  it('IMAP brute force through the proxy: banned by its real address, refused by Dovecot even with the right password', async () => {
    const { attacker, legit } = net;
    for (let i = 0; i < 3; i++) {
      assert.equal(await imapLogin(attacker.ns, PROXY_ADDR, mail.user, `wrong-${i}`, T), 'auth-failed', `attempt ${i + 1}`);
    }
    await waitFor('dovecot ban', () => banned('dovecot', attacker.addr4), 3000);
    assert.ok(!(await banned('dovecot', PROXY_ADDR)), 'the proxy itself is not banned');
    assert.ok(!ruleset().includes(attacker.addr4), 'nothing in the kernel: it would never see this address');

    assert.equal(await imapLogin(attacker.ns, PROXY_ADDR, mail.user, mail.password, T), 'auth-failed', 'IMAP login refused');
    await mail.waitForLog(/policy\(.*\): .*(refused|Authentication failure due to policy server)/i, 3000);
    assert.equal(await smtpAuth(attacker.ns, PROXY_ADDR, mail.user, mail.password, T), 'error', 'SMTP refused by the Postfix policy');
    await mail.waitForLog(new RegExp(`reject: CONNECT from unknown\\[${attacker.addr4.replaceAll('.', '\\.')}\\]: .*Your address is banned`), 3000);

    assert.equal(await imapLogin(legit.ns, PROXY_ADDR, mail.user, mail.password, T), 'ok', 'legit IMAP unaffected');
    assert.equal(await smtpAuth(legit.ns, PROXY_ADDR, mail.user, mail.password, T), 'ok', 'legit SMTP unaffected');

    const unbanned = cli(dirs, ['setup', 'fail2ban', 'unban', attacker.addr4]);
    assert.equal(unbanned.status, 0, unbanned.stderr);
    assert.equal(await imapLogin(attacker.ns, PROXY_ADDR, mail.user, mail.password, T), 'ok', 'allowed again once unbanned');
  });

  it('SMTP AUTH brute force through the proxy: the postfix jail bans it, and Postfix refuses its next AUTH', async () => {
    const { attacker, legit } = net;
    for (let i = 0; i < 3; i++) {
      const outcome = await smtpAuth(attacker.ns, PROXY_ADDR, mail.user, `bad-${i}`, T);
      // The ban may already refuse the third attempt at connect.
      assert.ok(outcome === 'auth-failed' || (i === 2 && outcome === 'error'), `attempt ${i + 1}: ${outcome}`);
    }
    await waitFor('postfix ban', () => banned('postfix', attacker.addr4), 3000);
    assert.ok(!ruleset().includes(attacker.addr4));
    assert.equal(await smtpAuth(attacker.ns, PROXY_ADDR, mail.user, mail.password, T), 'error', 'SMTP AUTH refused');
    assert.equal(await imapLogin(attacker.ns, PROXY_ADDR, mail.user, mail.password, T), 'auth-failed', 'IMAP refused too');
    assert.equal(await smtpAuth(legit.ns, PROXY_ADDR, mail.user, mail.password, T), 'ok', 'legit SMTP unaffected');
  });

  it('fails open: with portcullis gone, Postfix (default_action=DUNNO) and Dovecot (auth_policy_reject_on_fail = no) go on', async () => {
    await daemon.kill();
    const { legit } = net;
    assert.equal(await imapLogin(legit.ns, PROXY_ADDR, mail.user, mail.password, T), 'ok', 'IMAP without the policy server');
    // Postfix retries the refused policy connection once, a second later, before taking default_action.
    assert.equal(await smtpAuth(legit.ns, PROXY_ADDR, mail.user, mail.password, 10_000), 'ok', 'SMTP without the policy server');
  });
});
