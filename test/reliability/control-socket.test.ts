// Case 7: the control socket under 10,000 concurrent clients (spread over several client processes)
// while garbage is thrown at it: random bytes, malformed JSON, a huge line, half-open connections that
// never finish a request. Proves that every well-formed request is answered, the server stays up, and
// its memory stays bounded.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { control, type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { mailSetup, rng, runSeed } from '../e2e/mail-log.js';

const CLIENTS = Number(process.env.CONTROL_CLIENTS ?? 10_000);
const PROCESSES = 4;
const clientScript = new URL('./control-clients.js', import.meta.url).pathname;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

function runClients(socket: string, count: number): Promise<{ ok: number; errors: Record<string, number> }> {
  const child = spawn(process.execPath, [clientScript, socket, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`client process exited with ${code}: ${out}`));
      }
    });
  });
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends on `s` until it closes (or `ms` pass). */
function replies(s: Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (b: Buffer) => {
      text += b.toString();
    });
    s.on('error', () => {});
    const done = () => resolve(text);
    s.once('close', done);
    setTimeout(done, ms);
  });
}

describe('reliability: control socket flood and garbage', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  const sockets: Socket[] = [];
  after(async () => {
    for (const s of sockets) s.destroy();
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it(`${CLIENTS} concurrent clients in ${PROCESSES} processes amid garbage: every request answered, server up, memory bounded`, { timeout: 180_000 }, async (t) => {
    const seed = runSeed();
    t.diagnostic(`seed ${seed} (RELIABILITY_SEED=${seed} replays it)`);
    const random = rng(seed);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    const { dirs } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const pid = daemon.child.pid!;
    const rssBefore = rssMiB(pid);

    // Garbage first, held open through the flood.
    const halfOpen = await Promise.all(Array.from({ length: 500 }, () => connect(dirs.socket)));
    sockets.push(...halfOpen);
    const partial = await Promise.all(Array.from({ length: 100 }, () => connect(dirs.socket)));
    for (const s of partial) s.write('{"cmd":"pi');
    sockets.push(...partial);
    const junk = await Promise.all(Array.from({ length: 200 }, () => connect(dirs.socket)));
    const junkReplies = junk.map((s) => replies(s, 5000));
    for (const [i, s] of junk.entries()) {
      s.write(bytes(64 + (i % 7) * 300));
      if (i % 2 === 0) s.write('\n{not json}\n"just a string"\n{"cmd":"nosuch"}\n');
      s.end();
    }
    const huge = await connect(dirs.socket);
    const hugeReply = replies(huge, 10_000);
    const mib = Buffer.alloc(1024 * 1024, 'a');
    for (let i = 0; i < 64 && !huge.destroyed; i++) {
      huge.write(mib);
      await sleep(1);
    }

    const start = Date.now();
    const per = Math.ceil(CLIENTS / PROCESSES);
    const results = await Promise.all(Array.from({ length: PROCESSES }, () => runClients(dirs.socket, per)));
    const seconds = (Date.now() - start) / 1000;
    const ok = results.reduce((n, r) => n + r.ok, 0);
    const errors = results.flatMap((r) => Object.entries(r.errors));
    const rssAfter = rssMiB(pid);
    t.diagnostic(
      `${ok}/${per * PROCESSES} answered in ${seconds.toFixed(1)} s (${Math.round(ok / seconds)} requests/s); ` +
        `daemon RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB`,
    );
    assert.deepEqual(errors, [], 'no client got an error');
    assert.equal(ok, per * PROCESSES, 'every well-formed request answered');

    const hugeText = await hugeReply;
    assert.match(hugeText, /"too-large"/, 'the huge line is refused with too-large');
    const junkText = (await Promise.all(junkReplies)).join('');
    assert.ok(!junkText.includes('"ok":true'), 'garbage is never taken for a request');
    assert.match(junkText, /"ok":false/, 'malformed lines get an error reply');

    assert.equal(await control(dirs).request({ cmd: 'ping' }), 'pong');
    assert.equal(daemon.child.exitCode, null, 'server alive');
    assert.ok(rssAfter < rssBefore + 200, `daemon RSS grew from ${rssBefore.toFixed(0)} to ${rssAfter.toFixed(0)} MiB`);
    for (const s of [...halfOpen, ...partial]) s.destroy();
    await waitFor('ping after the garbage is gone', async () => (await control(dirs).request({ cmd: 'ping' })) === 'pong');
    assert.ok(!/internal error|TypeError|RangeError/.test(daemon.log() + daemon.stderr()), 'no internal error logged');
    assert.equal(await daemon.stop(), 0);
  });
});
