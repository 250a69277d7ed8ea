// docker-mailserver's own Fail2Ban test (test/tests/parallel/set1/spam_virus/fail2ban.bats) carried out
// without Docker: every assertion of that file, in its order, against portcullis running on the tree a DMS
// container has (Debian's Fail2Ban conffiles, DMS's jail.local and fixes.local, the test config volume's
// fail2ban-fail2ban.cf and fail2ban-jail.cf copied by the start-up, nftables-common.local and an empty
// custom filter), started as `--dms` with ENABLE_FAIL2BAN=1, with real Dovecot and Postfix, a real
// attacker and nftables, all in network namespaces.
//
// Translation notes: `_run_in_container CMD` is a command run here (stdout and stderr merged, as bats'
// `run` does); `fail2ban`/`setup fail2ban` is `portcullis setup fail2ban`, which reproduces DMS's script;
// fail2ban-client is portcullis's, and every read-only fail2ban-client command is also sent through
// Debian's Python client (Fail2Ban's pickle protocol), which must print the same. The second container that sends wrong passwords is the attacker
// namespace; it authenticates on submission (587) because the harness's Postfix has no TLS on 465: the
// failure lines Fail2Ban's postfix filter reads are the same. The Debian tree's sshd jail (auth.log) is off.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliPath, type DaemonDirs, type RunningDaemon, startDmsDaemon, waitFor } from '../e2e/daemon-process.js';
import { type MailServer, mailServerMissing, smtpAuth, startMailServer } from '../e2e/mailserver.js';
import { inNamespace } from '../e2e/netns.js';
import { fail2banUnavailable } from './fail2ban-server.js';

const skip =
  mailServerMissing() ??
  fail2banUnavailable() ??
  (spawnSync('nft', ['--version']).status === 0 ? null : 'nft is not installed');
const ourClient = new URL('../../src/cli/fail2ban-client.cjs', import.meta.url).pathname;

interface Run {
  status: number | null;
  /** stdout and stderr, as bats' `run` captures them, without the trailing newline. */
  output: string;
  stdout: string;
}

function run(command: string, args: readonly string[], prefix: readonly string[] = []): Run {
  const [cmd, ...rest] = [...prefix, command, ...args];
  const r = spawnSync(cmd as string, rest, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.replace(/\n$/, ''), stdout: r.stdout };
}

/** bats' assert_success. */
function success(r: Run, what: string): void {
  assert.equal(r.status, 0, `${what} failed: ${r.output}`);
}

/** DMS's jail.local (target/fail2ban/jail.local): the settings it makes. */
const dmsJailLocal = [
  '[DEFAULT]',
  'bantime = 1w',
  'findtime = 1w',
  'maxretry = 6',
  'ignoreip = 127.0.0.1/8',
  'banaction = nftables-allports',
  '',
  '[dovecot]',
  'enabled = true',
  '',
  '[postfix]',
  'enabled = true',
  'mode = extra',
  '',
  '[custom]',
  'enabled = true',
  'bantime = 180d',
  'port = smtp,pop3,pop3s,imap,imaps,submission,submissions,sieve',
  '',
].join('\n');

describe("docker-mailserver's fail2ban.bats, every assertion, without Docker", { skip: skip ?? false, timeout: 300_000 }, () => {
  let mail: MailServer;
  let daemon: RunningDaemon;
  let dirs: DaemonDirs;
  let root: string;
  let tree: string;

  const inServer = () => inNamespace(mail.net.server);
  /**
   * portcullis's fail2ban-client; a command that changes nothing is also sent through Debian's Python
   * client, which must get the same answer.
   */
  const f2b = (...args: string[]): Run => {
    const ours = run(process.execPath, [ourClient, '-c', tree, '-s', dirs.socket, ...args]);
    const changes = args[0] === 'set' && (args[2] === 'banip' || args[2] === 'unbanip');
    if (args[0] !== '-d' && !changes) {
      const python = run('fail2ban-client', ['-c', tree, '-s', dirs.socket, ...args]);
      assert.equal(python.stdout, ours.stdout, `fail2ban-client ${args.join(' ')}: Python client differs`);
      assert.equal(python.status, ours.status, `fail2ban-client ${args.join(' ')}: Python client's exit differs`);
    }
    return ours;
  };
  const setupFail2ban = (...args: string[]) => run(process.execPath, [cliPath, 'setup', 'fail2ban', '-s', dirs.socket, ...args]);
  const nft = (...args: string[]) => run('nft', args, inServer());

  before(async () => {
    mail = await startMailServer();
    root = mkdtempSync(join(tmpdir(), 'pc-dms-bats-'));
    tree = join(root, 'etc-fail2ban');
    // The image: Fail2Ban's conffiles, then DMS's Dockerfile copies jail.local and fail2ban.d/fixes.local.
    cpSync('/etc/fail2ban', tree, { recursive: true });
    writeFileSync(join(tree, 'jail.local'), dmsJailLocal);
    mkdirSync(join(tree, 'fail2ban.d'), { recursive: true });
    writeFileSync(join(tree, 'fail2ban.d', 'fixes.local'), '[Definition]\nallowipv6 = auto\n');
    // The start-up (misc.sh): blocktype drop and the empty filter of the custom jail.
    writeFileSync(join(tree, 'action.d', 'nftables-common.local'), '[Init]\nblocktype = drop\n');
    writeFileSync(join(tree, 'filter.d', 'custom.conf'), '[Definition]\n');
    // This host: the mail log the harness writes, and no sshd jail.
    writeFileSync(
      join(tree, 'jail.d', 'zz-test-host.local'),
      `[dovecot]\nlogpath = ${mail.logPath}\n\n[postfix]\nlogpath = ${mail.logPath}\n\n[custom]\nlogpath = ${mail.logPath}\n\n[sshd]\nenabled = false\n`,
    );
    // The test's config volume (DMS's test/config/fail2ban-*.cf), copied by the start-up.
    const volume = join(root, 'tmp-docker-mailserver');
    mkdirSync(volume, { recursive: true });
    writeFileSync(join(volume, 'fail2ban-fail2ban.cf'), '[Definition]\nloglevel = DEBUG\n');
    writeFileSync(
      join(volume, 'fail2ban-jail.cf'),
      '[DEFAULT]\nbantime  = 1234\nfindtime  = 321\nmaxretry = 2\nbanaction = nftables-multiport\n',
    );
    const state = join(root, 'mail-state', 'lib-fail2ban');
    mkdirSync(state, { recursive: true });
    daemon = await startDmsDaemon({ root, config: tree, volume, state }, inServer());
    dirs = daemon.dirs;
  });

  after(async () => {
    await daemon?.kill();
    await mail?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('localhost is not banned because ignored', () => {
    const status = f2b('status', 'postfix');
    success(status, 'status postfix');
    assert.doesNotMatch(status.output, /.*IP list:.*127\.0\.0\.1.*/);
    assert.ok(readFileSync(join(tree, 'jail.conf'), 'utf8').includes('ignoreip = 127.0.0.1/8'), 'grep jail.conf');
  });

  it('fail2ban-fail2ban.cf overrides', () => {
    const level = f2b('get', 'loglevel');
    success(level, 'get loglevel');
    assert.ok(level.output.includes('DEBUG'), level.output);
  });

  it('fail2ban-jail.cf overrides', () => {
    for (const jail of ['dovecot', 'postfix']) {
      assert.equal(f2b('get', jail, 'bantime').output, '1234');
      assert.equal(f2b('get', jail, 'findtime').output, '321');
      assert.equal(f2b('get', jail, 'maxretry').output, '2');
      const dump = f2b('-d');
      assert.ok(dump.output.includes("['set', 'dovecot', 'addaction', 'nftables-multiport']"), 'dovecot addaction');
      assert.ok(dump.output.includes("['set', 'postfix', 'addaction', 'nftables-multiport']"), 'postfix addaction');
    }
  });

  it('ban ip on multiple failed login', async () => {
    const attacker = mail.net.attacker;
    for (let i = 0; i < 2; i++) {
      // assert_failure + 'authentication failed' / 'No authentication type succeeded': the login is refused.
      assert.equal(await smtpAuth(attacker.ns, mail.serverAddr4, mail.user, 'wrongpassword', 5000), 'auth-failed');
    }
    const banned = await waitFor(
      'postfix bans the attacker',
      () => {
        const status = f2b('status', 'postfix');
        return status.stdout.includes(attacker.addr4) ? status : null;
      },
      10_000,
    );
    assert.ok(banned.output.includes('Banned IP list:'));
    const set = nft('list', 'set', 'inet', 'f2b-table', 'addr-set-postfix');
    success(set, 'nft list set addr-set-postfix');
    assert.ok(set.output.includes(`elements = { ${attacker.addr4} }`), set.output);
  });

  it('unban ip works', () => {
    const attacker = mail.net.attacker.addr4;
    success(f2b('set', 'postfix', 'unbanip', attacker), 'unbanip');
    const status = f2b('status', 'postfix');
    success(status, 'status postfix');
    assert.ok(!status.output.includes(attacker), status.output);
  });

  for (const [label, target, pattern] of [
    ['single IP', '192.0.66.7', /Banned in custom:.*192\.0\.66\.7/],
    ['subnet', '192.0.66.0/24', /Banned in custom:.*192\.0\.66\.0\/24/],
  ] as const) {
    it(`bans work properly (${label})`, () => {
      const ban = setupFail2ban('ban', target);
      success(ban, 'fail2ban ban');
      assert.equal(ban.output, 'Banned custom IP: 1');
      const list = setupFail2ban();
      success(list, 'fail2ban');
      assert.match(list.output, pattern);
      const set = nft('list', 'set', 'inet', 'f2b-table', 'addr-set-custom');
      success(set, 'nft list set addr-set-custom');
      assert.ok(set.output.includes(`elements = { ${target} }`), set.output);
      const unban = setupFail2ban('unban', target);
      success(unban, 'fail2ban unban');
      assert.ok(unban.output.includes('Unbanned IP from custom: 1'), unban.output);
      assert.ok(!nft('list', 'set', 'inet', 'f2b-table', 'addr-set-custom').output.includes(target));
    });
  }

  it('FAIL2BAN_BLOCKTYPE is really set to drop', () => {
    for (const jail of ['dovecot', 'custom']) success(f2b('set', jail, 'banip', '192.33.44.55'), `${jail} banip`);
    const table = nft('list', 'table', 'inet', 'f2b-table');
    success(table, 'nft list table');
    assert.ok(table.output.includes('tcp dport { 110, 143, 465, 587, 993, 995, 4190 } ip saddr @addr-set-dovecot drop'), table.output);
    assert.ok(table.output.includes('tcp dport { 25, 110, 143, 465, 587, 993, 995, 4190 } ip saddr @addr-set-custom drop'), table.output);
    for (const jail of ['dovecot', 'custom']) success(f2b('set', jail, 'unbanip', '192.33.44.55'), `${jail} unbanip`);
  });

  it('setup.sh fail2ban', () => {
    f2b('set', 'dovecot', 'banip', '192.0.66.4');
    f2b('set', 'dovecot', 'banip', '192.0.66.5');
    let list = setupFail2ban();
    assert.match(list.output, /^Banned in dovecot:.*192\.0\.66\.4/m);
    assert.match(list.output, /^Banned in dovecot:.*192\.0\.66\.5/m);
    assert.ok(setupFail2ban('unban', '192.0.66.4').output.includes('Unbanned IP from dovecot: 1'));
    list = setupFail2ban();
    assert.match(list.output, /^Banned in dovecot:.*192\.0\.66\.5/m);
    assert.ok(setupFail2ban('unban', '192.0.66.5').output.includes('Unbanned IP from dovecot: 1'));
    assert.ok(setupFail2ban('unban').output.includes('You need to specify an IP address: Run'));
  });
});
