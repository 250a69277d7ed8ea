import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { FakeControlHandler, fakeJail } from '../../test/compat/fake-control-handler.js';
import { ControlClient } from '../cli/client.js';
import { type ControlServer, startControlServer } from './control-server.js';
import { decodePickle, encodePickle, PyTuple, type PyValue } from './pickle.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-control-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const socketPath = () => join(dir, `s${n++}.sock`);
const handler = () => new FakeControlHandler([fakeJail('custom'), fakeJail('postfix')]);

/** Sends raw bytes on one connection and collects `count` reply lines (or whatever came before close). */
function exchange(path: string, payload: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let data = '';
    const done = () => {
      socket.destroy();
      resolve(data.split('\n').filter((l) => l !== ''));
    };
    socket.on('error', reject);
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.split('\n').length > count) done();
    });
    socket.on('close', done);
  });
}

/** A socket file nobody listens on, as a crashed server leaves it. */
function staleSocket(path: string): void {
  const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
  assert.equal(py.status, 0, py.stderr.toString());
}

describe('control server', () => {
  let server: ControlServer;
  let fake: FakeControlHandler;
  let path: string;
  before(async () => {
    path = socketPath();
    fake = handler();
    server = await startControlServer({ path, handler: fake, idleTimeoutMs: 2000, maxRequestBytes: 4096 });
  });
  after(() => server.close());

  it('creates the socket with mode 0600', () => {
    const st = statSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('answers malformed and unknown requests with errors and keeps serving the connection', async () => {
    const lines = await exchange(
      path,
      [
        'not json',
        '[]',
        '{"cmd":"nope"}',
        '{"cmd":"ban","jail":"postfix","ips":["1.2.3.999"]}',
        '{"cmd":"ban","jail":"postfix","ips":"1.2.3.4"}',
        '{"cmd":"status","jail":"nope"}',
        '{"cmd":"get","jail":"postfix","key":"password"}',
        '{"cmd":"ping"}',
        '',
      ].join('\n'),
      8,
    );
    const replies = lines.map((l) => JSON.parse(l));
    assert.deepEqual(
      replies.map((r) => (r.ok ? r.result : r.error.code)),
      [
        'bad-request',
        'bad-request',
        'unknown-command',
        'invalid-ip',
        'bad-request',
        'unknown-jail',
        'invalid-argument',
        'pong',
      ],
    );
    assert.equal(replies[5].error.jail, 'nope');
    assert.deepEqual(fake.jails[1]?.bans, [], 'nothing was banned by the invalid requests');
  });

  it("speaks Fail2Ban's pickle protocol on the same socket, one connection for several commands", async () => {
    const end = Buffer.from('<F2B_END_COMMAND>');
    const socket = createConnection(path);
    let received = Buffer.alloc(0);
    let closed = false;
    socket.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
    });
    socket.on('close', () => {
      closed = true;
    });
    const ask = async (command: PyValue[]): Promise<PyValue> => {
      received = Buffer.alloc(0);
      socket.write(Buffer.concat([encodePickle(command), end]));
      while (received.indexOf(end) === -1) {
        assert.ok(!closed, 'the server closed the connection');
        await new Promise((r) => setTimeout(r, 10));
      }
      return decodePickle(received.subarray(0, received.indexOf(end)));
    };
    await new Promise((r) => socket.once('connect', r));
    assert.deepEqual(await ask(['ping']), new PyTuple([0, 'pong']));
    assert.deepEqual(await ask(['set', 'postfix', 'banip', '192.0.2.7']), new PyTuple([0, 1]));
    // Idle between commands for longer than the in-message limit (2 s here): the connection stays.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await ask(['get', 'postfix', 'banip']), new PyTuple([0, ['192.0.2.7']]));
    assert.deepEqual(await ask(['unban', '--all']), new PyTuple([0, 1]));
    socket.end(Buffer.concat([Buffer.from('<F2B_CLOSE_COMMAND>'), end]));
    assert.equal(await new ControlClient(path).request({ cmd: 'ping' }), 'pong');
  });

  it('answers every line of random bytes with an error and keeps serving', async () => {
    const noise = fc.array(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1').replaceAll('\n', ' ')), {
      minLength: 1,
      maxLength: 20,
    });
    await fc.assert(
      fc.asyncProperty(noise, async (lines) => {
        const sent = lines.filter((l) => l.trim() !== '');
        // The first request decides the protocol (a leading 0x80 or `<` would mean Fail2Ban's pickles).
        const payload = `{"cmd":"ping"}\n${lines.join('\n')}\n{"cmd":"ping"}\n`;
        const replies = await exchange(path, payload, sent.length + 2);
        assert.equal(replies.length, sent.length + 2);
        for (const r of replies.slice(1, -1)) assert.equal(JSON.parse(r).ok, false);
        assert.equal(JSON.parse(replies.at(-1) as string).result, 'pong');
      }),
      { numRuns: 100 },
    );
  });

  it('answers a long pipeline on one connection in order', async () => {
    const lines = Array.from({ length: 500 }, (_, i) => JSON.stringify(i % 2 ? { cmd: 'ping' } : { cmd: 'version' }));
    const replies = await exchange(path, `${lines.join('\n')}\n`, 500);
    assert.equal(replies.length, 500);
    for (const [i, r] of replies.entries()) assert.equal(JSON.parse(r).result, i % 2 ? 'pong' : '0.1.0');
  });

  it('validates and canonicalises addresses before the handler sees them', async () => {
    const client = new ControlClient(path);
    assert.equal(await client.request({ cmd: 'ban', jail: 'postfix', ips: ['10.1.2.3/8', '2001:DB8:0::1'] }), 2);
    assert.deepEqual(fake.jails[1]?.bans, ['10.0.0.0/8', '2001:db8::1']);
    await client.request({ cmd: 'unban', ips: 'all' });
  });

  it('refuses an oversized request and still serves others', async () => {
    const lines = await exchange(path, `{"cmd":"ping","pad":"${'x'.repeat(5000)}"}\n`, 1);
    assert.equal(JSON.parse(lines[0] as string).error.code, 'too-large');
    assert.equal(await new ControlClient(path).request({ cmd: 'ping' }), 'pong');
  });

  it('answers 1,000 concurrent clients', async () => {
    const started = performance.now();
    const replies = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        new ControlClient(path).request(i % 2 ? { cmd: 'ping' } : { cmd: 'status', jail: 'custom' }),
      ),
    );
    const ms = performance.now() - started;
    assert.equal(replies.filter((r) => r === 'pong').length, 500);
    assert.equal(replies.filter((r) => typeof r === 'object').length, 500);
    console.log(`# 1000 concurrent requests answered in ${ms.toFixed(0)} ms`);
  });

  it('reports a handler failure as an internal error and survives', async () => {
    const broken = handler();
    broken.banned = () => {
      throw new TypeError('boom');
    };
    const p = socketPath();
    const s = await startControlServer({ path: p, handler: broken });
    try {
      const [line] = await exchange(p, '{"cmd":"banned"}\n', 1);
      assert.deepEqual(JSON.parse(line as string), {
        ok: false,
        error: { code: 'internal', message: 'internal error: boom' },
      });
      assert.equal(await new ControlClient(p).request({ cmd: 'ping' }), 'pong');
    } finally {
      await s.close();
    }
  });

  it('replies to stop before asking the handler to stop', async () => {
    const h = handler();
    const p = socketPath();
    const s = await startControlServer({ path: p, handler: h });
    try {
      assert.equal(await new ControlClient(p).request({ cmd: 'stop' }), null);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(h.stops, 1);
    } finally {
      await s.close();
    }
  });

  it('closes idle connections', async () => {
    const p = socketPath();
    const s = await startControlServer({ path: p, handler: handler(), idleTimeoutMs: 100 });
    try {
      const started = performance.now();
      const lines = await exchange(p, '', 1);
      assert.deepEqual(lines, []);
      assert.ok(performance.now() - started < 1500);
    } finally {
      await s.close();
    }
  });

  it('cuts off a client that trickles a request a byte at a time, while complete requests are answered', async () => {
    const p = socketPath();
    const s = await startControlServer({ path: p, handler: handler(), idleTimeoutMs: 5000, requestDeadlineMs: 300 });
    try {
      const socket = createConnection(p);
      // The server cutting it off shows up here as EPIPE or ECONNRESET.
      socket.on('error', () => {});
      let replies = '';
      socket.on('data', (b) => {
        replies += b.toString();
      });
      const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
      await new Promise((r) => socket.once('connect', r));
      // A whole request, answered; then a trickle that never ends, one byte per 100 ms (each one well
      // within the idle timeout).
      socket.write('{"cmd":"ping"}\n');
      const started = performance.now();
      const payload = '{"cmd":"status","jail":"custom"}';
      let i = 0;
      const timer = setInterval(() => {
        if (!socket.destroyed) socket.write(payload[i++ % payload.length]!);
      }, 100);
      const end = await closed;
      clearInterval(timer);
      assert.equal(replies, '{"ok":true,"result":"pong"}\n');
      assert.ok(end - started < 1500, `closed after ${end - started} ms`);
      // Fail2Ban's end marker ends a request as a newline does: no cut-off after a complete pickle.
      const other = createConnection(p);
      await new Promise((r) => other.once('connect', r));
      other.on('error', () => {});
      other.write('garbage<F2B_END');
      other.write('_COMMAND>');
      const early = await Promise.race([
        new Promise((r) => other.once('close', () => r('closed'))),
        new Promise((r) => setTimeout(() => r('open'), 600)),
      ]);
      other.destroy();
      assert.equal(early, 'open');
    } finally {
      await s.close();
    }
  });
});

describe('control socket file', () => {
  it('refuses a stale socket unless forced, then replaces it', async () => {
    const p = socketPath();
    staleSocket(p);
    await assert.rejects(startControlServer({ path: p, handler: handler() }), /stale control socket .* -x/);
    const s = await startControlServer({ path: p, handler: handler(), force: true });
    assert.equal(await new ControlClient(p).request({ cmd: 'ping' }), 'pong');
    await s.close();
    assert.equal(existsSync(p), false, 'close removes the socket file');
  });

  it('refuses to start when a live server answers, even with force, and leaves it running', async () => {
    const p = socketPath();
    const first = await startControlServer({ path: p, handler: handler() });
    try {
      await assert.rejects(
        startControlServer({ path: p, handler: handler(), force: true }),
        /another server is already running on/,
      );
      assert.equal(await new ControlClient(p).request({ cmd: 'ping' }), 'pong');
    } finally {
      await first.close();
    }
  });

  it('never removes a file that is not a socket', async () => {
    const p = socketPath();
    writeFileSync(p, 'keep me');
    await assert.rejects(startControlServer({ path: p, handler: handler(), force: true }), /is not a socket/);
    assert.equal(readFileSync(p, 'utf8'), 'keep me');
  });

  it('honours another mode and creates a missing directory', async () => {
    const p = join(dir, 'run', 'fail2ban', 'f.sock');
    const s = await startControlServer({ path: p, handler: handler(), mode: 0o660 });
    try {
      assert.equal(statSync(p).mode & 0o777, 0o660);
    } finally {
      await s.close();
    }
  });
});
