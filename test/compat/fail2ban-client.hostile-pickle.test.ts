// Hostile input on Fail2Ban's pickle protocol, against a real portcullis banning in nftables inside a
// network namespace: a payload that would run os.system, truncated pickles, 100 MB without a terminator,
// deep nesting and random bytes. Each gets an error reply and a closed connection; nothing runs; the
// daemon keeps answering Debian's real fail2ban-client, and a ban still reaches the kernel.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningDaemon, startDaemon } from '../e2e/daemon-process.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from '../e2e/netns.js';
import { debianTree, fail2banUnavailable } from './fail2ban-server.js';

const skip = netnsUnavailable(['nft', 'python3']) ?? fail2banUnavailable();
const end = Buffer.from('<F2B_END_COMMAND>');

/** A pickle written by Python (`expr` is evaluated with os and pickle imported). */
function pythonPickle(setup: string, expr: string): Buffer {
  const code = `import os, pickle, sys\n${setup}\nsys.stdout.buffer.write(${expr})`;
  const run = spawnSync('python3', ['-c', code]);
  assert.equal(run.status, 0, run.stderr.toString());
  return run.stdout;
}

/** What Python reads from a reply pickle: `repr` of the object. */
function pythonRepr(reply: Buffer): string {
  const run = spawnSync('python3', ['-c', 'import pickle,sys; print(repr(pickle.loads(sys.stdin.buffer.read())))'], {
    input: reply,
  });
  assert.equal(run.status, 0, run.stderr.toString());
  return run.stdout.toString().trim();
}

interface Exchange {
  /** The reply pickle without its terminator (empty when none came). */
  reply: Buffer;
  /** The server closed the connection. */
  closed: boolean;
}

/**
 * Sends `chunks` (written one after the other, each when the socket drains) and waits for a reply
 * terminator and then the close, or for `waitMs`.
 */
function exchange(socket: string, chunks: Iterable<Buffer>, waitMs = 10_000): Promise<Exchange> {
  return new Promise((resolve) => {
    const conn = createConnection(socket);
    let received = Buffer.alloc(0);
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      conn.destroy();
      const at = received.indexOf(end);
      resolve({ reply: at === -1 ? Buffer.alloc(0) : received.subarray(0, at), closed });
    };
    const timer = setTimeout(finish, waitMs);
    conn.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
    });
    conn.on('error', () => {});
    conn.on('close', () => {
      closed = true;
      finish();
    });
    const iterator = chunks[Symbol.iterator]();
    const pump = () => {
      for (let next = iterator.next(); !next.done; next = iterator.next()) {
        if (conn.destroyed) return;
        if (!conn.write(next.value)) {
          conn.once('drain', pump);
          return;
        }
      }
    };
    conn.on('connect', pump);
  });
}

function* repeat(chunk: Buffer, times: number, head: Buffer): Generator<Buffer> {
  yield head;
  for (let i = 0; i < times; i++) yield chunk;
}

/** Peak resident memory of a process, in MiB. */
function peakMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+) kB/m);
  return Number(line?.[1] ?? 0) / 1024;
}

describe('hostile pickles on the control socket', { skip: skip ?? false }, () => {
  let root: string;
  let tree: string;
  let pair: Pair;
  let daemon: RunningDaemon;
  let socket: string;
  const marker = join(tmpdir(), `pc-pickle-pwned-${process.pid}`);

  const client = (...command: string[]) =>
    spawnSync('fail2ban-client', ['-c', tree, '-s', socket, ...command], { encoding: 'utf8', timeout: 30_000 });
  const nftSet = () =>
    spawnSync(inNamespace(pair.server)[0] as string, [...inNamespace(pair.server).slice(1), 'nft', 'list', 'set', 'inet', 'f2b-table', 'addr-set-custom'], {
      encoding: 'utf8',
    }).stdout;

  /** The daemon still serves: Debian's client pings, and a ban reaches nftables. */
  const stillServing = (ip: string) => {
    assert.equal(client('ping').stdout, 'Server replied: pong\n');
    const ban = client('set', 'custom', 'banip', ip);
    assert.equal(ban.stdout, '1\n', ban.stderr);
    assert.match(nftSet(), new RegExp(ip.replaceAll('.', '\\.')));
    assert.equal(daemon.child.exitCode, null, 'the daemon is still running');
  };

  const assertRefused = (x: Exchange, pattern: RegExp) => {
    assert.ok(x.reply.length > 0, 'an error reply came back');
    const shown = pythonRepr(x.reply);
    assert.match(shown, /^\(1, Exception\('refused request: /, shown);
    assert.match(shown, pattern);
    assert.ok(x.closed, 'the connection is closed after the error');
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pc-hostile-'));
    const mailLog = join(root, 'mail.log');
    writeFileSync(mailLog, '');
    tree = debianTree(join(root, 'fail2ban'), {
      'filter.d/custom.conf': '[Definition]\n',
      'jail.d/hostile.local': `[DEFAULT]\nbanaction = nftables-allports\nbackend = polling\n\n[custom]\nenabled = true\nlogpath = ${mailLog}\n\n[sshd]\nenabled = false\n`,
    });
    mkdirSync(join(root, 'run'));
    socket = join(root, 'run', 'fail2ban.sock');
    pair = createPair('pkl');
    daemon = await startDaemon(
      {
        root,
        config: tree,
        socket,
        pidfile: join(root, 'run', 'fail2ban.pid'),
        dbfile: join(root, 'fail2ban.sqlite3'),
        logfile: join(root, 'fail2ban.log'),
      },
      { prefix: inNamespace(pair.server) },
    );
    stillServing('198.18.0.1');
  });

  after(async () => {
    await daemon?.kill();
    pair?.destroy();
    rmSync(marker, { force: true });
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('refuses a GLOBAL/REDUCE or STACK_GLOBAL payload that would run os.system, and runs nothing', async () => {
    const setup = `class P:\n  def __reduce__(self): return (os.system, ('touch ${marker}',))`;
    for (const protocol of [0, 2, 5]) {
      const payload = pythonPickle(setup, `pickle.dumps(['ping', P()], ${protocol})`);
      assertRefused(await exchange(socket, [payload, end]), /GLOBAL|INST/);
    }
    assert.equal(existsSync(marker), false, 'nothing was executed');
    stillServing('198.18.0.2');
  });

  it('refuses truncated pickles and random bytes', async () => {
    const good = pythonPickle('', "pickle.dumps(['set', 'custom', 'banip', '192.0.2.99'], 5)");
    for (const cut of [3, 12, good.length - 1]) {
      assertRefused(await exchange(socket, [good.subarray(0, cut), end]), /truncated|malformed|empty/);
    }
    assertRefused(await exchange(socket, [Buffer.from([0x80, 0x05, 0xfe, 0x01, 0x02]), end]), /0xfe/);
    assert.doesNotMatch(nftSet(), /192\.0\.2\.99/);
    stillServing('198.18.0.3');
  });

  it('refuses deep nesting, through lists and through MARKs', async () => {
    const nested = pythonPickle('x = ["ping"]\nfor _ in range(200): x = [x]', 'pickle.dumps(x, 5)');
    assertRefused(await exchange(socket, [nested, end]), /deeper/);
    const marks = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(100_000, 0x28), Buffer.from([0x2e])]);
    assertRefused(await exchange(socket, [marks, end]), /deeper/);
    stillServing('198.18.0.4');
  });

  it('refuses 100 MB without a terminator while other clients are served, memory bounded', async (t) => {
    const pid = daemon.child.pid as number;
    const before = peakMiB(pid);
    const chunk = Buffer.alloc(1024 * 1024, 0x4e);
    const flood = exchange(socket, repeat(chunk, 100, Buffer.from([0x80, 0x02])), 60_000);
    // Served meanwhile: another client's ping.
    assert.equal(client('ping').stdout, 'Server replied: pong\n');
    const x = await flood;
    assertRefused(x, /longer than \d+ bytes/);
    const growth = peakMiB(pid) - before;
    t.diagnostic(`daemon peak RSS grew by ${growth.toFixed(1)} MiB`);
    assert.ok(growth < 64, `peak memory grew by ${growth.toFixed(1)} MiB`);
    stillServing('198.18.0.5');
  });
});
