// Debian's real fail2ban-server and portcullis run side by side, each in its own network namespace
// (their nftables actions are real but cannot touch the host), on the same configuration tree: Debian's
// /etc/fail2ban plus docker-mailserver's jails. The same commands go to each through its own
// fail2ban-client, and stdout and exit codes must be identical byte for byte. Then Debian's own Python
// client talks to both servers (to portcullis through Fail2Ban's pickle protocol) with the same result.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningDaemon, startDaemon } from '../e2e/daemon-process.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from '../e2e/netns.js';
import { debianTree, fail2banUnavailable, type RealFail2ban, startRealFail2ban } from './fail2ban-server.js';

const skip = netnsUnavailable(['nft']) ?? fail2banUnavailable() ?? (spawnSync('test', ['-d', '/etc/fail2ban']).status !== 0 ? 'no /etc/fail2ban' : null);
const ourClient = new URL('../../src/cli/fail2ban-client.cjs', import.meta.url).pathname;

/** Debian's tree, the DMS jails as docker-mailserver's fail2ban-jail.cf sets them, a temp mail log. */
function sharedTree(root: string): string {
  const mailLog = join(root, 'mail.log');
  writeFileSync(mailLog, '');
  mkdirSync(join(root, 'real'), { recursive: true });
  return debianTree(join(root, 'fail2ban'), {
    'filter.d/custom.conf': '[Definition]\n',
    'jail.d/user-jail.local': [
      '[DEFAULT]',
      'bantime = 3h',
      'findtime = 10m',
      'maxretry = 3',
      'banaction = nftables-allports',
      'ignoreip = 127.0.0.1/8 ::1 10.1.2.3/8',
      'backend = polling',
      '',
      '[dovecot]',
      'enabled = true',
      `logpath = ${mailLog}`,
      '',
      '[postfix]',
      'enabled = true',
      'mode = extra',
      `logpath = ${mailLog}`,
      '',
      '[custom]',
      'enabled = true',
      'bantime = 180d',
      `logpath = ${mailLog}`,
      '',
      '[sshd]',
      'enabled = false',
      '',
    ].join('\n'),
    'fail2ban.local': `[Definition]\ndbfile = ${join(root, 'real', 'fail2ban.sqlite3')}\n`,
  });
}

const script: string[][] = [
  ['ping'],
  ['status'],
  ['set', 'custom', 'banip', '192.0.2.10', '192.0.2.11', '2001:db8::5'],
  ['set', 'custom', 'banip', '192.0.2.10'],
  ['set', 'dovecot', 'banip', '203.0.113.9'],
  ['status', 'custom'],
  ['status', 'dovecot'],
  ['status', 'postfix'],
  ['set', 'custom', 'unbanip', '192.0.2.11'],
  ['status', 'custom'],
  ['get', 'custom', 'bantime'],
  ['get', 'dovecot', 'bantime'],
  ['get', 'dovecot', 'findtime'],
  ['get', 'postfix', 'maxretry'],
  ['get', 'loglevel'],
];

describe('fail2ban-client output: portcullis vs Debian fail2ban-server on the same tree', { skip: skip ?? false }, () => {
  let root: string;
  let tree: string;
  let theirs: Pair;
  let ours: Pair;
  let real: RealFail2ban;
  let daemon: RunningDaemon;
  let ourSocket: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pc-compare-'));
    tree = sharedTree(root);
    theirs = createPair('cmpf');
    ours = createPair('cmpp');
    real = await startRealFail2ban({ configDir: tree, prefix: inNamespace(theirs.server) });
    ourSocket = join(root, 'ours', 'fail2ban.sock');
    daemon = await startDaemon(
      {
        root,
        config: tree,
        socket: ourSocket,
        pidfile: join(root, 'ours', 'fail2ban.pid'),
        dbfile: join(root, 'ours', 'fail2ban.sqlite3'),
        logfile: join(root, 'ours', 'fail2ban.log'),
      },
      { prefix: inNamespace(ours.server) },
    );
  });

  after(async () => {
    await daemon?.kill();
    await real?.stop();
    theirs?.destroy();
    ours?.destroy();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Debian's Python fail2ban-client against portcullis's socket. */
  const pythonClient = (...command: string[]) => {
    const run = spawnSync('fail2ban-client', ['-c', tree, '-s', ourSocket, ...command], { encoding: 'utf8' });
    return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
  };

  /** Both servers' answer to the same Python client command; the bans land in the same second. */
  const both = async (...command: string[]) => {
    const run = (socket: string) =>
      new Promise<{ code: number; stdout: string }>((resolve) => {
        const child = spawn('fail2ban-client', ['-c', tree, '-s', socket, ...command]);
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
        });
        child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
      });
    const [theirs, ours] = await Promise.all([run(real.socket), run(ourSocket)]);
    return { theirs, ours };
  };

  it("Debian's Python client gets the same answers from portcullis (pickle protocol) as from fail2ban-server", async () => {
    const sameAnswer = (command: string[]) => {
      const expected = real.client(...command);
      const got = pythonClient(...command);
      const label = `fail2ban-client ${command.join(' ')}`;
      assert.equal(got.stdout, expected.stdout, `${label}: stdout differs`);
      assert.equal(got.code, expected.code, `${label}: exit code differs`);
      return expected.stdout;
    };
    for (const command of [['unban', '--all'], ['ping'], ['status'], ['status', 'custom'], ['status', 'nojail']]) {
      sameAnswer(command);
    }
    // Bans at the start of a second on both servers at once, so `--with-time` shows the same times.
    for (let attempt = 0; ; attempt++) {
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
      const banned = await both('set', 'custom', 'banip', '192.0.2.10', '192.0.2.11', '2001:db8::5');
      assert.deepEqual(banned.ours, banned.theirs);
      assert.equal(banned.ours.stdout, '3\n');
      const a = real.client('get', 'custom', 'banip', '--with-time');
      const b = pythonClient('get', 'custom', 'banip', '--with-time');
      if (a.stdout === b.stdout || attempt === 2) {
        assert.equal(b.stdout, a.stdout, 'get custom banip --with-time: stdout differs');
        assert.equal(b.code, a.code);
        assert.match(a.stdout, /^192\.0\.2\.10 \t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+ 15552000 = /);
        break;
      }
      sameAnswer(['unban', '--all']);
    }
    const script: string[][] = [
      // Banned again: not new (0), but prolonged, which moves it to the end of `get banip`'s order.
      ['set', 'custom', 'banip', '192.0.2.10'],
      ['get', 'custom', 'banip'],
      ['set', 'dovecot', 'banip', '203.0.113.9'],
      ['status', 'custom'],
      ['status', 'dovecot'],
      ['set', 'custom', 'unbanip', '192.0.2.11'],
      ['set', 'custom', 'unbanip', '192.0.2.99'],
      ['set', 'custom', 'unbanip', '--report-absent', '192.0.2.99'],
      ['set', 'nojail', 'banip', '192.0.2.1'],
      ['get', 'custom', 'bantime'],
      ['get', 'dovecot', 'bantime'],
      ['get', 'dovecot', 'findtime'],
      ['get', 'postfix', 'maxretry'],
      ['get', 'custom', 'ignoreip'],
      ['get', 'loglevel'],
      ['banned'],
      ['banned', '192.0.2.10', '203.0.113.9'],
      ['reload'],
      ['banned'],
      ['reload', 'custom'],
      ['banned'],
      ['status'],
      ['unban', '--all'],
      ['banned'],
      ['bogus-command'],
      // Totals survive the reloads above, as Fail2Ban's reload keeps its jails.
      ['status', 'custom'],
      // Reloading one jail keeps the jail order of `banned` (each jail restarted moves nowhere).
      ['set', 'dovecot', 'banip', '203.0.113.9'],
      ['set', 'postfix', 'banip', '203.0.113.10'],
      ['reload', 'dovecot'],
      ['reload', 'postfix'],
      ['banned'],
      ['unban', '--all'],
      ['flushlogs'],
    ];
    const reference = script.map(sameAnswer);
    assert.equal(reference[0], '0\n');
    assert.equal(reference[1], '192.0.2.11 2001:db8::5 192.0.2.10\n');
    assert.match(reference[3] as string, /`- Banned IP list:\t192\.0\.2\.10 192\.0\.2\.11 2001:db8::5\n/);
    assert.equal(reference[13], 'These IP addresses/networks are ignored:\n|- 127.0.0.0/8\n|- 10.0.0.0/8\n`- ::1\n');
    assert.match(reference[15] as string, /'custom': \['192\.0\.2\.10', '2001:db8::5'\]/);
    assert.equal(reference[17], 'OK\n');
    assert.equal(reference[18], reference[15], 'banned is the same after reload');
    assert.equal(reference[22], '3\n');
    assert.equal(reference.at(-1), 'logs: rolled over\n');
    assert.match(reference.at(-3) as string, /'dovecot': \['203\.0\.113\.9'\].*'postfix': \['203\.0\.113\.10'\]|'postfix': \['203\.0\.113\.10'\].*'dovecot': \['203\.0\.113\.9'\]/);
  });

  it('prints the same bytes and exit codes for ping, status, banip/unbanip, status JAIL and get', () => {
    // The reference really is in the state the comparison claims (not two empty outputs).
    const reference: string[] = [];
    for (const command of script) {
      const expected = real.client(...command);
      const got = spawnSync(process.execPath, [ourClient, '-c', tree, '-s', ourSocket, ...command], { encoding: 'utf8' });
      const label = `fail2ban-client ${command.join(' ')}`;
      assert.equal(got.stdout, expected.stdout, `${label}: stdout differs`);
      assert.equal(got.status, expected.code, `${label}: exit code differs`);
      reference.push(expected.stdout);
    }
    assert.equal(reference[0], 'Server replied: pong\n');
    assert.equal(reference[2], '3\n');
    assert.equal(reference[3], '0\n');
    assert.match(reference[5]!, /`- Banned IP list:\t192\.0\.2\.10 192\.0\.2\.11 2001:db8::5\n/);
    assert.equal(reference[10], '15552000\n');
  });
});
