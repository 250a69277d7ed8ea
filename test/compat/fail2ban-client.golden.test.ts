// Golden outputs: Debian's fail2ban-client talking to a real fail2ban-server, against portcullis's
// fail2ban-client talking to a control server in the same state. stdout must match byte for byte;
// stderr matches once the timestamp and pid of Fail2Ban's log format are masked.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runFail2banClient } from '../../src/cli/fail2ban-client.js';
import { type ControlServer, startControlServer } from '../../src/server/control-server.js';
import { captureIo } from './capture-io.js';
import { FakeControlHandler, fakeJail } from './fake-control-handler.js';
import { type RealFail2ban, fail2banUnavailable, noopAction, startRealFail2ban } from './fail2ban-server.js';

const skip = fail2banUnavailable();
const jails = ['postfix', 'dovecot', 'custom'];

const mask = (stderr: string) =>
  stderr.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+\s+)\[\d+\]:/gm, 'TIME $1[PID]:');

describe('fail2ban-client output matches Debian fail2ban 1.0', { skip: skip ?? false }, () => {
  let real: RealFail2ban;
  let ours: ControlServer;
  let fake: FakeControlHandler;
  const dir = mkdtempSync(join(tmpdir(), 'pc-golden-'));
  const socket = join(dir, 'portcullis.sock');

  before(async () => {
    real = await startRealFail2ban({ jails: jails.map((name) => ({ name })) });
    fake = new FakeControlHandler(
      jails.map((name) => fakeJail(name, { files: [real.logFile], actions: [noopAction] })),
    );
    ours = await startControlServer({ path: socket, handler: fake });
  });
  after(async () => {
    await real?.stop();
    await ours?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the same fail2ban-client command against both servers and compares. */
  async function same(...args: string[]): Promise<string> {
    const theirs = real.client(...args);
    const io = captureIo();
    const code = await runFail2banClient(['-s', socket, ...args], { io });
    const label = `fail2ban-client ${args.join(' ')}`;
    assert.equal(io.stdout, theirs.stdout, `${label}: stdout`);
    assert.equal(code, theirs.code, `${label}: exit code`);
    assert.equal(mask(io.stderr), mask(theirs.stderr), `${label}: stderr`);
    return theirs.stdout;
  }

  it('ping, status, version-independent get', async () => {
    assert.equal(await same('ping'), 'Server replied: pong\n');
    assert.match(await same('status'), /Jail list:\tcustom, dovecot, postfix\n$/);
    await same('get', 'loglevel');
    for (const key of ['bantime', 'findtime', 'maxretry', 'ignoreip', 'logpath', 'actions']) {
      await same('get', 'postfix', key);
    }
  });

  it('status JAIL with 0, 1 and several bans, IPv6 and CIDR included', async () => {
    await same('status', 'postfix');
    assert.equal(await same('set', 'postfix', 'banip', '1.2.3.4'), '1\n');
    await same('status', 'postfix');
    assert.equal(await same('set', 'postfix', 'banip', '1.2.3.4', '5.6.7.8', '2001:db8::1', '10.0.0.0/8'), '3\n');
    assert.match(await same('status', 'postfix'), /Banned IP list:\t1\.2\.3\.4 5\.6\.7\.8 2001:db8::1 10\.0\.0\.0\/8\n$/);
    await same('set', 'dovecot', 'banip', '2001:db8::1');
    await same('banned');
    await same('banned', '2001:db8::1', '9.9.9.9');
  });

  it('unbanip / unban counts', async () => {
    assert.equal(await same('set', 'postfix', 'unbanip', '9.9.9.9'), '0\n');
    assert.equal(await same('set', 'postfix', 'unbanip', '1.2.3.4'), '1\n');
    assert.equal(await same('unban', '2001:db8::1'), '2\n');
    await same('status', 'postfix');
    assert.equal(await same('unban', '--all'), '2\n');
    await same('status', 'postfix');
  });

  it('errors: unknown jail, unknown command, bad get', async () => {
    await same('status', 'nope');
    await same('set', 'nope', 'banip', '1.2.3.4');
    await same('frobnicate');
    await same('unban');
    await same('get', 'postfix');
  });

  it('-d dumps the same command stream and -t accepts the same tree', async () => {
    for (const args of [['-d'], ['-t']]) {
      const theirs = spawnSync('fail2ban-client', ['-c', real.dir, ...args], { encoding: 'utf8' });
      const io = captureIo();
      const code = await runFail2banClient(['-c', real.dir, ...args], { io });
      assert.equal(io.stdout, theirs.stdout, `fail2ban-client ${args.join(' ')}`);
      assert.equal(code, theirs.status);
    }
  });

  it('a stale socket: refused, worded as Fail2Ban does for ping and other commands', async () => {
    const stale = join(dir, 'stale.sock');
    spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale]);
    for (const cmd of ['ping', 'status']) {
      const theirs = real.client('-s', stale, cmd);
      const io = captureIo();
      const code = await runFail2banClient(['-s', stale, cmd], { io });
      assert.equal(code, theirs.code);
      assert.equal(io.stdout, theirs.stdout);
      assert.equal(mask(io.stderr), mask(theirs.stderr));
    }
  });

  it('server not running', async () => {
    const gone = join(dir, 'absent.sock');
    const theirs = real.client('-s', gone, 'status');
    const io = captureIo();
    const code = await runFail2banClient(['-s', gone, 'status'], { io });
    assert.equal(code, theirs.code);
    assert.equal(io.stdout, theirs.stdout);
    assert.equal(mask(io.stderr), mask(theirs.stderr));
  });
});
