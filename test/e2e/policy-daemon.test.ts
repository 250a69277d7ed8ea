// The policy servers wired into the real daemon by its command-line flags: they answer from the running
// jails' bans (manual bans included), follow unbans and reloads, and do not hold up the daemon's stop
// while Postfix keeps a connection open.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { control, daemonDirs, removeDirs, startDaemon } from './daemon-process.js';

/** One policy request per call on a kept connection, as Postfix does. */
class PolicyClient {
  private buffer = '';
  private waiting: ((answer: string) => void) | null = null;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      const end = this.buffer.indexOf('\n\n');
      if (end !== -1 && this.waiting !== null) {
        const answer = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        this.waiting(answer);
        this.waiting = null;
      }
    });
  }

  static open(path: string): Promise<PolicyClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path, () => resolve(new PolicyClient(socket)));
      socket.once('error', reject);
    });
  }

  ask(client: string): Promise<string> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(`request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=${client}\nclient_name=unknown\n\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('policy servers in the running daemon (--postfix-policy, --dovecot-policy)', () => {
  const dirs = daemonDirs();
  after(() => removeDirs(dirs));

  it('refuse a banned address until it is unbanned, across a reload; stop does not wait for Postfix', async () => {
    const path = join(dirs.root, 'postfix', 'policy.sock'); // its folder does not exist yet
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const daemon = await startDaemon(dirs, { args: ['--dry-run', '--postfix-policy', path, '--dovecot-policy', `127.0.0.1:${port}`] });
    try {
      const dovecot = async (remote: string) => {
        const res = await fetch(`http://127.0.0.1:${port}/?command=allow`, { method: 'POST', body: JSON.stringify({ login: 'u', remote, protocol: 'imap' }) });
        return ((await res.json()) as { status: number }).status;
      };
      const postfix = await PolicyClient.open(path);
      assert.equal(await postfix.ask('192.0.2.77'), 'action=DUNNO');
      assert.equal(await dovecot('192.0.2.77'), 0);

      assert.equal(await control(dirs).request({ cmd: 'ban', jail: 'dovecot', ips: ['192.0.2.77'] }), 1);
      assert.equal(await postfix.ask('192.0.2.77'), 'action=REJECT 5.7.1 Your address is banned');
      assert.equal(await dovecot('192.0.2.77'), -1);
      assert.equal(await postfix.ask('192.0.2.78'), 'action=DUNNO', 'its neighbour is not banned');

      await control(dirs).request({ cmd: 'reload' });
      assert.equal(await postfix.ask('192.0.2.77'), 'action=REJECT 5.7.1 Your address is banned', 'after a reload');

      await control(dirs).request({ cmd: 'unban', ips: ['192.0.2.77'] });
      assert.equal(await postfix.ask('192.0.2.77'), 'action=DUNNO');
      assert.equal(await dovecot('192.0.2.77'), 0);
      assert.match(daemon.log(), /Postfix policy server at unix:.*policy\.sock/);
      assert.match(daemon.log(), new RegExp(`Dovecot policy server at inet:127\\.0\\.0\\.1:${port}`));

      // Postfix's connection is still open: stop must not wait for it.
      const started = Date.now();
      assert.equal(await daemon.stop(), 0);
      assert.ok(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms`);
      postfix.close();
    } finally {
      await daemon.kill();
    }
  });
});
