import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { captureIo } from '../../test/compat/capture-io.js';
import { FakeControlHandler, fakeJail } from '../../test/compat/fake-control-handler.js';
import { ExitCode, UserError } from '../errors.js';
import { type ControlServer, startControlServer } from '../server/control-server.js';
import { ControlClient } from './client.js';
import * as cmd from './control-commands.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-cmds-'));
const socket = join(dir, 'f2b.sock');
const client = () => new ControlClient(socket);

async function out(run: (io: ReturnType<typeof captureIo>) => Promise<void>): Promise<string> {
  const io = captureIo();
  await run(io);
  assert.equal(io.stderr, '');
  return io.stdout;
}

function userError(code: ExitCode, message: RegExp) {
  return (err: unknown) => err instanceof UserError && err.exitCode === code && message.test(err.message);
}

describe('portcullis client commands', () => {
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
    fake.jails.splice(0, fake.jails.length, fakeJail('postfix'), fakeJail('custom'));
  });

  it('status and status JAIL, text and JSON', async () => {
    assert.equal(
      await out((io) => cmd.status(client(), io, undefined, {})),
      'Status\n|- Number of jail:\t2\n`- Jail list:\tcustom, postfix\n',
    );
    assert.equal(await out((io) => cmd.status(client(), io, undefined, { json: true })), '{"jails":["custom","postfix"]}\n');
    fake.ban('postfix', ['1.2.3.4']);
    const json = JSON.parse(await out((io) => cmd.status(client(), io, 'postfix', { json: true })));
    assert.deepEqual(json, {
      jail: 'postfix',
      currentlyFailed: 0,
      totalFailed: 0,
      files: ['/var/log/mail.log'],
      currentlyBanned: 1,
      totalBanned: 1,
      bannedIps: ['1.2.3.4'],
    });
    assert.match(await out((io) => cmd.status(client(), io, 'postfix', {})), /`- Banned IP list:\t1\.2\.3\.4\n$/);
  });

  it('status JAIL lists firewall and database problems after the Fail2Ban tree', async () => {
    fake.jails.splice(0, fake.jails.length, fakeJail('postfix', { problems: ['00:00:01 nftables ban failed: nft: Operation not permitted'] }));
    assert.match(
      await out((io) => cmd.status(client(), io, 'postfix', {})),
      /`- Banned IP list:\t\nProblems:\n {2}00:00:01 nftables ban failed: nft: Operation not permitted\n$/,
    );
  });

  it('ban, banned, unban, unban --all', async () => {
    assert.equal(
      await out((io) => cmd.ban(client(), io, 'postfix', ['1.2.3.4', '2001:db8::/64'], {})),
      'postfix: 2 of 2 newly banned\n',
    );
    assert.equal(await out((io) => cmd.ban(client(), io, 'custom', ['1.2.3.4'], { json: true })), '{"jail":"custom","banned":1}\n');
    assert.equal(await out((io) => cmd.banned(client(), io, {})), 'custom: 1.2.3.4\npostfix: 1.2.3.4 2001:db8::/64\n');
    assert.equal(
      await out((io) => cmd.banned(client(), io, { json: true })),
      '{"banned":[{"jail":"custom","ips":["1.2.3.4"]},{"jail":"postfix","ips":["1.2.3.4","2001:db8::/64"]}]}\n',
    );
    assert.equal(await out((io) => cmd.unban(client(), io, ['1.2.3.4'], {})), 'postfix: 1 unbanned\ncustom: 1 unbanned\n');
    assert.equal(await out((io) => cmd.unban(client(), io, ['1.2.3.4'], {})), 'nothing was banned\n');
    assert.equal(
      await out((io) => cmd.unban(client(), io, [], { all: true, json: true })),
      '{"unbanned":[{"jail":"postfix","count":1},{"jail":"custom","count":0}]}\n',
    );
    assert.equal(await out((io) => cmd.banned(client(), io, {})), 'no addresses are banned\n');
  });

  it('reload, ping, stop', async () => {
    assert.equal(await out((io) => cmd.reload(client(), io, undefined, {})), 'reloaded\n');
    assert.equal(await out((io) => cmd.reload(client(), io, 'postfix', { json: true })), '{"reloaded":"postfix"}\n');
    assert.equal(await out((io) => cmd.ping(client(), io, {})), `pong from ${socket}\n`);
    assert.equal(await out((io) => cmd.stop(client(), io, { json: true })), '{"stopped":true}\n');
  });

  it('invalid addresses and unknown jails are usage errors (exit 2), and change nothing', async () => {
    const io = captureIo();
    await assert.rejects(
      cmd.ban(client(), io, 'postfix', ['1.2.3.4', '300.1.1.1'], {}),
      userError(ExitCode.usage, /^'300\.1\.1\.1' is not an IP address or CIDR network$/),
    );
    await assert.rejects(cmd.unban(client(), io, ['::g'], {}), userError(ExitCode.usage, /'::g' is not an IP/));
    await assert.rejects(
      cmd.ban(client(), io, 'nope', ['1.2.3.4'], {}),
      userError(ExitCode.usage, /^Sorry but the jail 'nope' does not exist \(see 'portcullis status' for the jails\)$/),
    );
    await assert.rejects(cmd.status(client(), io, 'nope', {}), userError(ExitCode.usage, /Sorry but the jail 'nope' does not exist/));
    await assert.rejects(cmd.unban(client(), io, [], {}), userError(ExitCode.usage, /give addresses or --all/));
    await assert.rejects(cmd.unban(client(), io, ['1.2.3.4'], { all: true }), userError(ExitCode.usage, /not both/));
    assert.deepEqual(fake.banned(), [
      { jail: 'postfix', ips: [] },
      { jail: 'custom', ips: [] },
    ]);
    assert.equal(io.stdout, '');
  });

  it('server not running: one line naming the socket and how to start it, exit 1', async () => {
    const path = join(dir, 'absent.sock');
    await assert.rejects(
      cmd.ping(new ControlClient(path), captureIo(), {}),
      userError(
        ExitCode.failure,
        new RegExp(`^server not running: no socket at ${path}; start it with 'portcullis server' \\(or pass -s SOCKET\\)$`),
      ),
    );
  });
});
