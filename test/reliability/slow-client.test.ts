// A client that trickles its request a byte at a time (one every 2 s here, so each byte beats the 30 s
// idle timeout, as one every 20 s would) is cut off by the request deadline (10 s), and the daemon keeps
// answering everyone else meanwhile.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { after, describe, it } from 'node:test';
import { control, type DaemonDirs, removeDirs, type RunningDaemon, startDaemon } from '../e2e/daemon-process.js';
import { mailSetup } from '../e2e/mail-log.js';

describe('reliability: a trickling control client', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it('is disconnected within the request deadline, not kept forever', { timeout: 60_000 }, async () => {
    const { dirs } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const socket = createConnection(dirs.socket);
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    const started = Date.now();
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
    const payload = '{"cmd":"ping"}';
    let i = 0;
    socket.write(payload[i++]!);
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write(payload[i++ % payload.length]!);
    }, 2000);
    // Meanwhile everyone else is answered.
    for (let k = 0; k < 3; k++) {
      assert.equal(await control(dirs).request({ cmd: 'ping' }), 'pong');
      await new Promise((r) => setTimeout(r, 1000));
    }
    const ms = await closed;
    clearInterval(timer);
    assert.ok(ms >= 9000 && ms < 13_000, `closed after ${ms} ms (deadline 10 s)`);
    assert.equal(await control(dirs).request({ cmd: 'ping' }), 'pong');
    assert.equal(await daemon.stop(), 0);
  });
});
