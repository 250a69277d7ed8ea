// The commands as users run them: the real entry points in a child process, against a control server
// backed by the in-memory handler. Proves the wiring (commander, exit codes, stderr) end to end.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FakeControlHandler, fakeJail } from '../../test/compat/fake-control-handler.js';
import { type ControlServer, startControlServer } from '../server/control-server.js';

const main = fileURLToPath(new URL('./main.js', import.meta.url));
const f2bMain = fileURLToPath(new URL('./fail2ban-client-main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pc-cli-'));
const socket = join(dir, 'f2b.sock');

function run(entry: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [entry, ...args], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

describe('portcullis and fail2ban-client entry points', () => {
  let server: ControlServer;
  let fake: FakeControlHandler;
  before(async () => {
    fake = new FakeControlHandler([fakeJail('postfix'), fakeJail('custom')]);
    server = await startControlServer({ path: socket, handler: fake });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('portcullis ban / banned --json / unban --all', async () => {
    assert.deepEqual(await run(main, ['ban', 'postfix', '1.2.3.4', '-s', socket]), {
      code: 0,
      out: 'postfix: 1 of 1 newly banned\n',
      err: '',
    });
    assert.deepEqual(await run(main, ['banned', '--json', '--socket', socket]), {
      code: 0,
      out: '{"banned":[{"jail":"postfix","ips":["1.2.3.4"]}]}\n',
      err: '',
    });
    assert.deepEqual(await run(main, ['unban', '--all', '-s', socket]), { code: 0, out: 'postfix: 1 unbanned\n', err: '' });
  });

  it('portcullis: invalid input exits 2, server not running exits 1, one line on stderr', async () => {
    assert.deepEqual(await run(main, ['ban', 'postfix', 'evil;reboot', '-s', socket]), {
      code: 2,
      out: '',
      err: "portcullis: 'evil;reboot' is not an IP address or CIDR network\n",
    });
    assert.deepEqual(await run(main, ['status', 'nope', '-s', socket]), {
      code: 2,
      out: '',
      err: "portcullis: Sorry but the jail 'nope' does not exist (see 'portcullis status' for the jails)\n",
    });
    const absent = join(dir, 'absent.sock');
    assert.deepEqual(await run(main, ['ping', '-s', absent]), {
      code: 1,
      out: '',
      err: `portcullis: server not running: no socket at ${absent}; start it with 'portcullis server' (or pass -s SOCKET)\n`,
    });
  });

  it('portcullis client and the fail2ban-client entry speak Fail2Ban', async () => {
    const status = 'Status\n|- Number of jail:\t2\n`- Jail list:\tcustom, postfix\n';
    assert.deepEqual(await run(main, ['client', '-s', socket, 'status']), { code: 0, out: status, err: '' });
    assert.deepEqual(await run(f2bMain, ['-s', socket, 'status']), { code: 0, out: status, err: '' });
    const absent = await run(f2bMain, ['-s', join(dir, 'absent.sock'), 'ping']);
    assert.equal(absent.code, 255);
    assert.match(absent.err, /ERROR {3}Failed to access socket path: .*absent\.sock\. Is fail2ban running\?\n$/);
  });
});
