import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { captureIo } from '../../test/compat/capture-io.js';
import { FakeControlHandler, fakeJail } from '../../test/compat/fake-control-handler.js';
import { FAIL2BAN_VERSION } from '../config/jail-reader.js';
import { formatAsctime, formatLocalTime } from '../server/daemon-log.js';
import { type ControlServer, startControlServer } from '../server/control-server.js';
import { runFail2banClient } from './fail2ban-client.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-f2bc-'));
const socket = join(dir, 'f2b.sock');
const now = 1_700_000_000_123;
const errLine = (msg: string) => `${formatAsctime(now)} fail2ban                [4242]: ERROR   ${msg}\n`;

async function f2b(...args: string[]) {
  const io = captureIo();
  const code = await runFail2banClient(['-s', socket, ...args], { io, now: () => now, pid: 4242 });
  return { code, out: io.stdout, err: io.stderr };
}

describe('fail2ban-client against a running server', () => {
  let server: ControlServer;
  let fake: FakeControlHandler;
  before(async () => {
    fake = new FakeControlHandler([]);
    server = await startControlServer({ path: socket, handler: fake });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    fake.jails.splice(0, fake.jails.length, fakeJail('postfix'), fakeJail('dovecot'), fakeJail('custom'));
    fake.level = 'INFO';
  });

  it('ping', async () => {
    assert.deepEqual(await f2b('ping'), { code: 0, out: 'Server replied: pong\n', err: '' });
  });

  it('status lists the jails sorted', async () => {
    assert.deepEqual(await f2b('status'), {
      code: 0,
      out: 'Status\n|- Number of jail:\t3\n`- Jail list:\tcustom, dovecot, postfix\n',
      err: '',
    });
  });

  it('status JAIL with no, one and several bans (IPv6 included)', async () => {
    const expected = (cur: number, total: number, list: string) =>
      'Status for the jail: postfix\n|- Filter\n|  |- Currently failed:\t0\n|  |- Total failed:\t0\n' +
      '|  `- File list:\t/var/log/mail.log\n`- Actions\n' +
      `   |- Currently banned:\t${cur}\n   |- Total banned:\t${total}\n   \`- Banned IP list:\t${list}\n`;
    assert.deepEqual(await f2b('status', 'postfix'), { code: 0, out: expected(0, 0, ''), err: '' });
    assert.deepEqual(await f2b('set', 'postfix', 'banip', '1.2.3.4'), { code: 0, out: '1\n', err: '' });
    assert.deepEqual(await f2b('status', 'postfix'), { code: 0, out: expected(1, 1, '1.2.3.4'), err: '' });
    assert.deepEqual(await f2b('set', 'postfix', 'banip', '1.2.3.4', '2001:db8::1', '10.0.0.0/8'), {
      code: 0,
      out: '2\n',
      err: '',
    });
    assert.deepEqual(await f2b('status', 'postfix', 'basic'), {
      code: 0,
      out: expected(3, 3, '1.2.3.4 2001:db8::1 10.0.0.0/8'),
      err: '',
    });
  });

  it('set JAIL unbanip prints the count, 0 when not banned; --report-absent fails', async () => {
    await f2b('set', 'postfix', 'banip', '1.2.3.4');
    assert.deepEqual(await f2b('set', 'postfix', 'unbanip', '9.9.9.9'), { code: 0, out: '0\n', err: '' });
    assert.deepEqual(await f2b('set', 'postfix', 'unbanip', '--report-absent', '9.9.9.9'), {
      code: 255,
      out: "not banned: ['9.9.9.9']\n",
      err: errLine(`NOK: ("not banned: ['9.9.9.9']",)`),
    });
    assert.deepEqual(await f2b('set', 'postfix', 'unbanip', '1.2.3.4'), { code: 0, out: '1\n', err: '' });
    assert.deepEqual(await f2b('set', 'postfix', 'banip'), { code: 0, out: '0\n', err: '' });
  });

  it('unban IP... and unban --all print the total count', async () => {
    await f2b('set', 'postfix', 'banip', '1.2.3.4', '5.6.7.8');
    await f2b('set', 'custom', 'banip', '1.2.3.4');
    assert.deepEqual(await f2b('unban', '1.2.3.4'), { code: 0, out: '2\n', err: '' });
    assert.deepEqual(await f2b('unban', '1.1.1.1'), { code: 0, out: '0\n', err: '' });
    assert.deepEqual(await f2b('unban', '--all'), { code: 0, out: '1\n', err: '' });
    assert.deepEqual(await f2b('unban'), { code: 255, out: 'Invalid command\n', err: errLine("NOK: ('Invalid command',)") });
  });

  it('banned prints Python lists in jail order', async () => {
    await f2b('set', 'dovecot', 'banip', '5.6.7.8', '2001:db8::1');
    assert.deepEqual(await f2b('banned'), {
      code: 0,
      out: "[{'postfix': []}, {'dovecot': ['5.6.7.8', '2001:db8::1']}, {'custom': []}]\n",
      err: '',
    });
    assert.deepEqual(await f2b('banned', '5.6.7.8', '9.9.9.9'), { code: 0, out: "[['dovecot'], []]\n", err: '' });
  });

  it('get JAIL KEY', async () => {
    assert.deepEqual(await f2b('get', 'postfix', 'bantime'), { code: 0, out: '10800\n', err: '' });
    assert.deepEqual(await f2b('get', 'postfix', 'findtime'), { code: 0, out: '600\n', err: '' });
    assert.deepEqual(await f2b('get', 'postfix', 'maxretry'), { code: 0, out: '3\n', err: '' });
    assert.deepEqual(await f2b('get', 'postfix', 'ignoreip'), {
      code: 0,
      out: 'These IP addresses/networks are ignored:\n|- 127.0.0.0/8\n`- ::1\n',
      err: '',
    });
    assert.deepEqual(await f2b('get', 'postfix', 'logpath'), {
      code: 0,
      out: 'Current monitored log file(s):\n`- /var/log/mail.log\n',
      err: '',
    });
    assert.deepEqual(await f2b('get', 'postfix', 'actions'), {
      code: 0,
      out: 'The jail postfix has the following actions:\nnftables-multiport\n',
      err: '',
    });
    (fake.jails[0] as { ignoreip: string[] }).ignoreip = [];
    assert.deepEqual(await f2b('get', 'postfix', 'ignoreip'), {
      code: 0,
      out: 'No IP address/network is ignored\n',
      err: '',
    });
    assert.deepEqual(await f2b('get', 'postfix'), {
      code: 255,
      out: 'Sorry but the command is invalid\n',
      err: errLine("NOK: ('list index out of range',)"),
    });
  });

  it('get and set loglevel', async () => {
    assert.deepEqual(await f2b('get', 'loglevel'), { code: 0, out: "Current logging level is 'INFO'\n", err: '' });
    assert.deepEqual(await f2b('set', 'loglevel', 'debug'), {
      code: 0,
      out: "Current logging level is 'DEBUG'\n",
      err: '',
    });
    assert.equal(fake.level, 'DEBUG');
  });

  it('version, reload, reload JAIL, stop', async () => {
    assert.deepEqual(await f2b('version'), { code: 0, out: '0.1.0\n', err: '' });
    assert.deepEqual(await f2b('reload'), { code: 0, out: 'OK\n', err: '' });
    assert.deepEqual(await f2b('reload', '--unban', 'postfix'), { code: 0, out: 'OK\n', err: '' });
    assert.deepEqual(fake.reloads, [undefined, 'postfix']);
    assert.deepEqual(await f2b('reload', 'nope'), {
      code: 255,
      out: '',
      err: errLine("Failed during configuration: No section: 'nope'"),
    });
    const stops = fake.stops;
    assert.deepEqual(await f2b('stop'), { code: 0, out: 'Shutdown successful\n', err: '' });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(fake.stops, stops + 1);
  });

  it('unknown jail, unknown command, invalid address', async () => {
    const unknown = { code: 255, out: "Sorry but the jail 'nope' does not exist\n", err: errLine("NOK: ('nope',)") };
    assert.deepEqual(await f2b('status', 'nope'), unknown);
    assert.deepEqual(await f2b('set', 'nope', 'banip', '1.2.3.4'), unknown);
    assert.deepEqual(await f2b('get', 'nope', 'bantime'), unknown);
    assert.deepEqual(await f2b('foo'), { code: 255, out: 'Invalid command\n', err: errLine("NOK: ('Invalid command',)") });
    const bad = await f2b('set', 'postfix', 'banip', '1.2.3.4', '1.2.3.999');
    assert.equal(bad.code, 255);
    // A count on stdout (DMS's script compares it numerically), the reason on stderr.
    assert.equal(bad.out, '0\n');
    assert.equal(bad.err, errLine("'1.2.3.999' is not an IP address or CIDR network"));
    assert.deepEqual(await f2b('set', 'postfix', 'unbanip', '999.1.1.1'), { code: 0, out: '0\n', err: '' });
    assert.deepEqual(await f2b('unban', '999.1.1.1'), { code: 0, out: '0\n', err: '' });
    assert.deepEqual(fake.jails[0]?.bans, [], 'nothing banned when one address is invalid');
  });

  // Expected texts are Fail2Ban 1.1.0's client output, captured from its beautifier.
  it('1.1 commands: flushlogs, server settings, status --all, stats, banip --with-time, -V', async () => {
    assert.deepEqual(await f2b('flushlogs'), { code: 0, out: 'logs: rolled over\n', err: '' });
    assert.equal(fake.flushes, 1);
    assert.equal((await f2b('get', 'logtarget')).out, 'Current logging target is:\n`- /var/log/fail2ban.log\n');
    assert.equal((await f2b('get', 'syslogsocket')).out, 'Current syslog socket is:\n`- auto\n');
    assert.equal((await f2b('get', 'dbfile')).out, 'Database currently disabled\n');
    assert.equal((await f2b('get', 'dbpurgeage')).out, 'Database currently disabled\n');
    assert.equal((await f2b('get', 'dbmaxmatches')).out, 'None\n');
    fake.jails.splice(1);
    fake.jails.push(fakeJail('custom', { bans: ['192.0.2.1'], totalBanned: 4 }));
    const all = await f2b('status', '--all');
    assert.equal(
      all.out,
      'Status\n|- Number of jail:\t2\n|- Jail list:\tcustom, postfix\n`- Status for the jails:\n' +
        '   |- Jail: custom\n   |  |- Filter\n   |  |  |- Currently failed:\t0\n   |  |  |- Total failed:\t0\n' +
        '   |  |  `- File list:\t/var/log/mail.log\n   |  `- Actions\n   |     |- Currently banned:\t1\n' +
        '   |     |- Total banned:\t4\n   |     `- Banned IP list:\t192.0.2.1\n' +
        '   `- Jail: postfix\n      |- Filter\n      |  |- Currently failed:\t0\n      |  |- Total failed:\t0\n' +
        '      |  `- File list:\t/var/log/mail.log\n      `- Actions\n         |- Currently banned:\t0\n' +
        '         |- Total banned:\t0\n         `- Banned IP list:\t\n',
    );
    assert.equal(
      (await f2b('stats')).out,
      [
        '         ║          ║ Filter    ║ Actions  ',
        'Jail     ║ Backend  ╟───────────╫───────────',
        '         ║          ║ cur │ tot ║ cur │ tot',
        '═════════╬══════════╬═══════════╬═══════════',
        'custom   ║ polling  ║   0 │   0 ║   1 │   4',
        'postfix  ║ polling  ║   0 │   0 ║   0 │   0',
        '═════════╩══════════╩═══════════╩═══════════',
        '',
      ].join('\n'),
    );
    const start = formatLocalTime(fake.banTime * 1000);
    const end = formatLocalTime((fake.banTime + 10800) * 1000);
    assert.equal((await f2b('get', 'custom', 'banip', '--with-time')).out, `192.0.2.1 \t${start} + 10800 = ${end}\n`);
    assert.deepEqual(await f2b('-V'), { code: 0, out: `${FAIL2BAN_VERSION}\n`, err: '' });
    assert.deepEqual(await f2b('--version'), { code: 0, out: `Fail2Ban v${FAIL2BAN_VERSION}\n`, err: '' });
  });

  it('usage on no command or a bad option', async () => {
    const none = await f2b();
    assert.equal(none.code, 255);
    assert.match(none.out, /^Usage: fail2ban-client \[OPTIONS\] <COMMAND>\n/);
    const bad = await f2b('--bogus', 'ping');
    assert.equal(bad.code, 255);
    assert.match(bad.out, /^Usage: /);
    const help = await f2b('-h');
    assert.equal(help.code, 0);
  });
});

describe('fail2ban-client without a server', () => {
  it('names a missing socket as Fail2Ban does, exit 255', async () => {
    const io = captureIo();
    const path = join(tmpdir(), 'pc-nothing-here.sock');
    const code = await runFail2banClient(['-s', path, 'status'], { io, now: () => now, pid: 4242 });
    assert.equal(code, 255);
    assert.equal(io.stdout, '');
    assert.equal(io.stderr, errLine(`Failed to access socket path: ${path}. Is fail2ban running?`));
  });

  it('reload says it could not find the server', async () => {
    const io = captureIo();
    const code = await runFail2banClient(['-s', '/nonexistent/x.sock', 'reload'], { io, now: () => now, pid: 4242 });
    assert.equal(code, 255);
    assert.equal(io.stderr, errLine('Could not find server'));
  });
});
