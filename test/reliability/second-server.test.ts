// A second `portcullis server` in the network namespace of a running one (real nftables, inside a
// namespace): whatever its -s points at (a regular file, a symlink to the live socket, a dangling
// symlink, or another path with another pid file), it refuses with one line naming the running
// instance before any firewall command, and the first daemon's bans stay in the kernel throughout.
// Once the first one dies (even by kill -9) the kernel frees the lock and a new server starts.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliPath, control, type DaemonDirs, removeDirs, type RunningDaemon, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { dovecotFailure, mailSetup } from '../e2e/mail-log.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from '../e2e/netns.js';

const skip = netnsUnavailable(['nft']);

function nftIn(ns: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, 'nft', ...args], (err, stdout) => resolve(err ? null : stdout));
  });
}

/** Runs `server` with `args` in the namespace and returns its exit code and stderr. */
function secondServer(ns: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, cliPath, 'server', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

describe('reliability: a second server in the same network namespace', { skip: skip ?? false }, () => {
  let pair: Pair;
  let first: RunningDaemon | null = null;
  let dirs: DaemonDirs;
  let other: DaemonDirs;
  before(async () => {
    pair = createPair('rel2');
    let mailLog: string;
    ({ dirs, mailLog } = mailSetup());
    ({ dirs: other } = mailSetup());
    first = await startDaemon(dirs, { prefix: inNamespace(pair.server) });
    writeFileSync(mailLog, dovecotFailure('203.0.113.50').repeat(3));
    await control(dirs).request({ cmd: 'ban', jail: 'postfix', ips: ['198.51.100.50'] });
    await waitFor('bans in the kernel', async () => {
      const d = await nftIn(pair.server, ['list', 'set', 'inet', 'f2b-table', 'addr-set-dovecot']);
      const p = await nftIn(pair.server, ['list', 'set', 'inet', 'f2b-table', 'addr-set-postfix']);
      return (d?.includes('203.0.113.50') && p?.includes('198.51.100.50')) || null;
    });
  });
  after(async () => {
    await first?.kill();
    pair?.destroy();
    if (dirs) removeDirs(dirs);
    if (other) removeDirs(other);
  });

  const rules = async () => (await nftIn(pair.server, ['list', 'chain', 'inet', 'f2b-table', 'f2b-chain'])) ?? 'missing';

  /** Runs the second server while sampling the kernel every 20 ms; returns what it said and any gap. */
  async function refusedWhileWatching(args: string[]) {
    const before = await rules();
    let gaps = 0;
    let samples = 0;
    let done = false;
    const sampler = (async () => {
      while (!done) {
        const d = await nftIn(pair.server, ['list', 'set', 'inet', 'f2b-table', 'addr-set-dovecot']);
        const p = await nftIn(pair.server, ['list', 'set', 'inet', 'f2b-table', 'addr-set-postfix']);
        samples++;
        if (!d?.includes('203.0.113.50') || !p?.includes('198.51.100.50')) gaps++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const result = await secondServer(pair.server, args);
    done = true;
    await sampler;
    assert.ok(samples > 0);
    assert.equal(gaps, 0, `the first daemon's bans were missing from the kernel in ${gaps} of ${samples} samples`);
    assert.equal(await rules(), before, 'the chain was not touched');
    return result;
  }

  const base = () => ['-c', dirs.config, '--dbfile', other.dbfile, '--logtarget', other.logfile];
  const refusal = () =>
    new RegExp(
      `^portcullis: portcullis server pid \\d+ \\(socket ${dirs.socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) already manages the firewall of this network namespace; stop it first[^\\n]*\\n$`,
    );

  it('-s pointing at a regular file: refused, the file and the first daemon untouched', { timeout: 60_000 }, async () => {
    const path = join(other.root, 'regular');
    writeFileSync(path, 'not a socket\n');
    const r = await refusedWhileWatching([...base(), '-s', path, '-p', join(other.root, 'a.pid'), '-x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, refusal());
    assert.equal(readFileSync(path, 'utf8'), 'not a socket\n');
  });

  it('-s a symlink to the live socket, and a dangling symlink: refused', { timeout: 60_000 }, async () => {
    const link = join(other.root, 'link.sock');
    symlinkSync(dirs.socket, link);
    const dangling = join(other.root, 'dangling.sock');
    symlinkSync(join(other.root, 'nowhere'), dangling);
    for (const path of [link, dangling]) {
      const r = await refusedWhileWatching([...base(), '-s', path, '-p', join(other.root, 'b.pid'), '-x']);
      assert.equal(r.code, 1, path);
      assert.match(r.stderr, refusal());
      assert.ok(lstatSync(path).isSymbolicLink(), `${path} left as it was`);
    }
  });

  it('another socket and pid file: refused, nothing created', { timeout: 60_000 }, async () => {
    const socket = join(other.root, 'run', 'other.sock');
    const pidfile = join(other.root, 'run', 'other.pid');
    const r = await refusedWhileWatching([...base(), '-s', socket, '-p', pidfile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, refusal());
    assert.equal(existsSync(socket) || existsSync(pidfile), false);
    assert.equal(await control(dirs).request({ cmd: 'ping' }), 'pong');
  });

  it('after kill -9 of the first, the kernel has freed the lock: a new server starts and restores the bans', { timeout: 60_000 }, async () => {
    await first?.kill();
    first = await startDaemon(dirs, { prefix: inNamespace(pair.server) });
    const set = await nftIn(pair.server, ['list', 'set', 'inet', 'f2b-table', 'addr-set-dovecot']);
    assert.match(set ?? '', /203\.0\.113\.50/);
  });
});
