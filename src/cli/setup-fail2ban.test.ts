import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { captureIo } from '../../test/compat/capture-io.js';
import { FakeControlHandler, fakeJail } from '../../test/compat/fake-control-handler.js';
import { type ControlServer, startControlServer } from '../server/control-server.js';
import { ControlClient } from './client.js';
import { runSetupFail2ban } from './setup-fail2ban.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-setup-'));
const socket = join(dir, 'f2b.sock');

async function setup(...args: string[]) {
  const io = captureIo();
  const code = await runSetupFail2ban(args, new ControlClient(socket), io);
  return { code, out: io.stdout, err: io.stderr };
}

describe('setup fail2ban', () => {
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
  });

  it('lists nothing, then the bans of each jail (IPv6 too), in jail-name order', async () => {
    assert.deepEqual(await setup(), { code: 0, out: 'No IPs have been banned\n', err: '' });
    fake.ban('postfix', ['1.2.3.4', '2001:db8::1']);
    fake.ban('dovecot', ['5.6.7.8']);
    const listing = { code: 0, out: 'Banned in dovecot: 5.6.7.8\nBanned in postfix: 1.2.3.4 2001:db8::1\n', err: '' };
    assert.deepEqual(await setup(), listing);
  });

  it('ban bans in custom and prints the count; a repeat fails with a hint', async () => {
    assert.deepEqual(await setup('ban', '192.0.66.4', '2001:db8::/64'), {
      code: 0,
      out: 'Banned custom IP: 2\n',
      err: '',
    });
    assert.deepEqual(fake.jails[2]?.bans, ['192.0.66.4', '2001:db8::/64']);
    assert.deepEqual(await setup('ban', '192.0.66.4'), {
      code: 0,
      out: '',
      err: "Banning '192.0.66.4' failed. Already banned?\n",
    });
  });

  it('ban and unban without an address explain what to run', async () => {
    assert.deepEqual(await setup('ban'), {
      code: 0,
      out: '',
      err: "You need to specify an IP address: Run './setup.sh fail2ban ban <IP>'\n",
    });
    assert.deepEqual(await setup('unban'), {
      code: 0,
      out: '',
      err: "You need to specify an IP address: Run './setup.sh fail2ban' to get a list of banned IP addresses\n",
    });
  });

  it("unban prints one line per jail, as DMS's script does with Fail2Ban (0 where nothing was banned)", async () => {
    fake.ban('postfix', ['1.2.3.4']);
    fake.ban('custom', ['1.2.3.4', '5.6.7.8']);
    assert.deepEqual(await setup('unban', '1.2.3.4', '5.6.7.8'), {
      code: 0,
      out: 'Unbanned IP from custom: 2\nUnbanned IP from dovecot: 0\nUnbanned IP from postfix: 1\n',
      err: '',
    });
    assert.deepEqual(await setup('unban', '1.2.3.4'), {
      code: 0,
      out: 'Unbanned IP from custom: 0\nUnbanned IP from dovecot: 0\nUnbanned IP from postfix: 0\n',
      err: '',
    });
  });

  it('invalid addresses change nothing', async () => {
    assert.deepEqual(await setup('ban', '1.2.3.4', '1.2.3.4.5'), {
      code: 1,
      out: '',
      err: "'1.2.3.4.5' is not an IP address or CIDR network\nAborting\n",
    });
    assert.deepEqual(fake.jails[2]?.bans, []);
    fake.ban('postfix', ['1.2.3.4']);
    assert.equal((await setup('unban', '1.2.3.4', 'x; rm -rf /')).code, 1);
    assert.deepEqual(fake.jails[0]?.bans, ['1.2.3.4']);
  });

  it('status prints every jail separated by blank lines', async () => {
    const r = await setup('status');
    assert.equal(r.code, 0);
    const blocks = r.out.split('\n\n');
    assert.deepEqual(
      blocks.map((b) => b.split('\n')[0]),
      ['Status for the jail: custom', 'Status for the jail: dovecot', 'Status for the jail: postfix'],
    );
    assert.ok(r.out.endsWith('`- Banned IP list:\t\n'));
  });

  it('log prints the daemon log file', async () => {
    fake.logFile = join(dir, 'fail2ban.log');
    writeFileSync(fake.logFile, 'line 1\nline 2\n');
    assert.deepEqual(await setup('log'), { code: 0, out: 'line 1\nline 2\n', err: '' });
    fake.logFile = 'STDOUT';
    assert.deepEqual(await setup('log'), { code: 1, out: '', err: 'The server logs to STDOUT, not to a file\nAborting\n' });
  });

  it('help prints the usage; an unknown command adds an error and exits 1', async () => {
    const help = await setup('help');
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: setup fail2ban /);
    const bad = await setup('frobnicate');
    assert.deepEqual(bad, { code: 1, out: help.out, err: "Unknown command 'frobnicate'\nAborting\n" });
  });

  it('unknown custom jail is reported, not hidden', async () => {
    fake.jails.splice(2, 1);
    assert.deepEqual(await setup('ban', '1.2.3.4'), { code: 1, out: '', err: "Sorry but the jail 'custom' does not exist\nAborting\n" });
  });
});

describe('setup fail2ban without a server', () => {
  it('says Fail2ban not running, Aborting, exit 1, whatever the form', async () => {
    for (const args of [[], ['ban', '1.2.3.4'], ['help'], ['bogus']]) {
      const io = captureIo();
      const code = await runSetupFail2ban(args, new ControlClient(join(tmpdir(), 'pc-none.sock')), io);
      assert.deepEqual({ code, out: io.stdout, err: io.stderr }, {
        code: 1,
        out: '',
        err: 'Fail2ban not running\nAborting\n',
      });
    }
  });
});
