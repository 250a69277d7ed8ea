// What a new admin meets in the first ten minutes: every message as one exact line, with its exit code.
// The real entry points run in a child process, against a control server backed by the in-memory handler.
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
const dir = mkdtempSync(join(tmpdir(), 'pc-msg-'));
const socket = join(dir, 'f2b.sock');

function run(entry: string, args: string[], cwd?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [entry, ...args], { cwd }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

describe('first-run messages', () => {
  let server: ControlServer;
  before(async () => {
    const fake = new FakeControlHandler([fakeJail('postfix'), fakeJail('custom'), fakeJail('dovecot')]);
    server = await startControlServer({ path: socket, handler: fake });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an unknown command is one line with a suggestion, exit 2', async () => {
    assert.deepEqual(await run(main, ['statsu']), {
      code: 2,
      out: '',
      err: "portcullis: unknown command 'statsu'; did you mean 'status'?\n",
    });
    assert.deepEqual(await run(main, ['bogus']), {
      code: 2,
      out: '',
      err: "portcullis: unknown command 'bogus'; see 'portcullis --help'\n",
    });
  });

  it('fail2ban-client -h run by its file path is still fail2ban-client', async () => {
    const r = await run(f2bMain, ['-h']);
    assert.equal(r.code, 0);
    assert.equal(r.out.split('\n')[0], 'Usage: fail2ban-client [OPTIONS] <COMMAND>');
  });

  it('replay of a missing file says so in one line, exit 2', async () => {
    const missing = join(dir, 'nope.log');
    assert.deepEqual(await run(main, ['replay', missing]), {
      code: 2,
      out: '',
      err: `portcullis: replay: cannot read ${missing}: no such file\n`,
    });
  });

  it('status and banned list jails in the same order as text and as JSON', async () => {
    assert.deepEqual(await run(main, ['status', '--json', '-s', socket]), {
      code: 0,
      out: '{"jails":["custom","dovecot","postfix"]}\n',
      err: '',
    });
    await run(main, ['ban', 'postfix', '192.0.2.1', '-s', socket]);
    await run(main, ['ban', 'dovecot', '192.0.2.2', '-s', socket]);
    assert.deepEqual(await run(main, ['banned', '-s', socket]), {
      code: 0,
      out: 'dovecot: 192.0.2.2\npostfix: 192.0.2.1\n',
      err: '',
    });
    assert.deepEqual(await run(main, ['banned', '--json', '-s', socket]), {
      code: 0,
      out: '{"banned":[{"jail":"dovecot","ips":["192.0.2.2"]},{"jail":"postfix","ips":["192.0.2.1"]}]}\n',
      err: '',
    });
  });

  it('setup fail2ban takes -s before or after fail2ban, and --json', async () => {
    assert.deepEqual(await run(main, ['setup', '-s', socket, 'fail2ban']), {
      code: 0,
      out: 'Banned in dovecot: 192.0.2.2\nBanned in postfix: 192.0.2.1\n',
      err: '',
    });
    assert.deepEqual(await run(main, ['setup', 'fail2ban', '--json', '-s', socket]), {
      code: 0,
      out: '{"banned":[{"jail":"dovecot","ips":["192.0.2.2"]},{"jail":"postfix","ips":["192.0.2.1"]}]}\n',
      err: '',
    });
    const status = await run(main, ['setup', '-s', socket, 'fail2ban', 'status', '--json']);
    assert.equal(status.code, 0);
    assert.deepEqual(
      JSON.parse(status.out).jails.map((j: { jail: string }) => j.jail),
      ['custom', 'dovecot', 'postfix'],
    );
    assert.deepEqual(await run(main, ['setup', 'fail2ban', 'log', '--json', '-s', socket]), {
      code: 2,
      out: '',
      err: 'portcullis: setup fail2ban log: no --json form (it has: setup fail2ban [status|ban IP...|unban IP...] --json)\n',
    });
  });
});
