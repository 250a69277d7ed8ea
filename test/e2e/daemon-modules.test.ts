// What the idle daemon keeps in memory: every module it loads stays there. With docker-mailserver's mail
// jails and nothing else configured, the fleet (ioredis), the policy servers, the metrics endpoint and
// Fail2Ban's pickle protocol must not be loaded (ioredis alone was ~7 MB of idle RSS); configured, or
// when Fail2Ban's own client calls, they are. The same holds for node's own modules: worker_threads
// (a jail whose regex can backtrack catastrophically), dns (ignoreip names) and v8 (fail2ban-server
// started with the backtrack flag) cost 0.7 to 1.7 MB each and are loaded only where used. crypto (0.7 MB,
// for one hash per followed file: sources/sha1.ts) and fs/promises (0.4 MB with the readline interface it
// pulls in: files/callback-fs.ts) are not loaded by docker-mailserver's daemon at all.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { control, type DaemonDirs, type RunningDaemon, removeDirs, sleep, startDaemon, waitFor } from './daemon-process.js';
import { mailSetup } from './mail-log.js';
import { netnsUnavailable } from './netns.js';

const optional = [
  'fleet/fleet.js',
  'store/fleet-store.js',
  'policy/ban-lookup.js',
  'policy/postfix-policy.js',
  'policy/dovecot-policy.js',
  'server/metrics-http.js',
  'server/pickle-connection.js',
  'server/pickle.js',
];

/** Our modules and packages the daemon loaded, from Node's own module trace (NODE_DEBUG). */
function loaded(daemon: RunningDaemon): Set<string> {
  const out = new Set<string>();
  for (const [, file] of daemon.stderr().matchAll(/(?:file:\/\/|load ")([^\s'"]+\.c?js)/g)) {
    const ours = /\/dist\/src\/(.+)$/.exec(file as string);
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file as string);
    if (ours) out.add(ours[1] as string);
    else if (pkg) out.add(pkg[1] as string);
  }
  return out;
}

const hook = new URL('./module-list-hook.cjs', import.meta.url).pathname;
const serverMain = new URL('../../src/cli/fail2ban-server.cjs', import.meta.url).pathname;
const BACKTRACK_GUARD = '--enable-experimental-regexp-engine-on-excessive-backtracks';

/** Environment under which a process writes its node module list to `file` at exit (module-list-hook.cts). */
function listingTo(file: string): NodeJS.ProcessEnv {
  return { NODE_OPTIONS: `--require ${hook}`, MODULE_LIST_FILE: file };
}

/** Node's builtins (`worker_threads`, `dns/promises`…) that a process loaded, from its list at exit. */
function builtins(file: string): Set<string> {
  const lines = readFileSync(file, 'utf8').split('\n');
  return new Set(lines.flatMap((l) => (l.startsWith('NativeModule ') ? [l.slice('NativeModule '.length)] : [])));
}

/** The daemon's builtins over its whole life, once it has stopped (the list is written at exit). */
async function builtinsAtStop(running: RunningDaemon, file: string): Promise<Set<string>> {
  await running.stop();
  return builtins(file);
}

/** A loopback TCP port free right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let daemon: RunningDaemon | null = null;
afterEach(async () => {
  await daemon?.stop();
  if (daemon) removeDirs(daemon.dirs);
  daemon = null;
});

describe('daemon modules', () => {
  it("loads no fleet, policy or metrics module with docker-mailserver's jails alone", async () => {
    const { dirs } = mailSetup();
    daemon = await startDaemon(dirs, { args: ['--dry-run'], env: { NODE_DEBUG: 'esm,module' } });
    const mods = loaded(daemon);
    // The trace is read correctly: the daemon itself and the store are in it.
    assert.ok(mods.has('server/daemon.js') && mods.has('better-sqlite3'), `trace not understood: ${[...mods].slice(0, 5)}`);
    assert.deepEqual(optional.filter((m) => mods.has(m)), []);
    assert.equal(mods.has('ioredis'), false, 'ioredis is loaded');
  });

  it("loads neither worker_threads, dns nor crypto with docker-mailserver's jails alone", async () => {
    const { dirs } = mailSetup();
    const list = join(dirs.root, 'modules.txt');
    daemon = await startDaemon(dirs, { args: ['--dry-run'], env: listingTo(list) });
    const node = await builtinsAtStop(daemon, list);
    // The list is read correctly: the daemon's socket and child processes are in it.
    assert.ok(node.has('net') && node.has('child_process'), `module list not understood: ${[...node].slice(0, 5)}`);
    assert.deepEqual(['worker_threads', 'dns/promises', 'dns'].filter((m) => node.has(m)), []);
    assert.deepEqual(['crypto', 'internal/crypto/hash'].filter((m) => node.has(m)), []);
  });

  it("the fail2ban-server bin with docker-mailserver's jails loads neither crypto nor fs/promises", { skip: netnsUnavailable(['unshare']) ?? false }, async () => {
    // As docker-mailserver runs it (`fail2ban-server -xf start`), from its CommonJS bundle: `portcullis
    // server` is an ES module, and node's ES module loader loads fs/promises itself. In a network
    // namespace of its own, so the firewall it sets up is not the host's.
    const { dirs, mailLog } = mailSetup();
    const list = join(dirs.root, 'modules.txt');
    appendFileSync(join(dirs.config, 'fail2ban.local'), `\n[Definition]\ndbfile = ${dirs.dbfile}\n`);
    const argv = [BACKTRACK_GUARD, serverMain, '-xf', '-c', dirs.config, '-s', dirs.socket, '-p', dirs.pidfile, '--logtarget', dirs.logfile, 'start'];
    const child = spawn('unshare', ['--net', process.execPath, ...argv], { env: { ...process.env, ...listingTo(list) }, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor('the server to answer', async () => (await control(dirs).request({ cmd: 'ping' }).catch(() => null)) ?? null, 15_000);
      // A first line (its hash identifies the file) read, and the file source's safety net at work.
      appendFileSync(mailLog, 'Nov 29 08:00:00 mail postfix/smtpd[1]: connect from unknown[192.0.2.7]\n');
      await sleep(1500);
      child.kill('SIGTERM');
      await exited;
      const node = builtins(list);
      assert.ok(node.has('net') && node.has('child_process'), `module list not understood: ${[...node].slice(0, 5)}`);
      assert.deepEqual(['crypto', 'fs/promises', 'internal/fs/promises', 'internal/readline/interface'].filter((m) => node.has(m)), []);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      removeDirs(dirs);
    }
  });

  it('loads worker_threads and dns at start for a jail that needs them, before any line', async () => {
    const { dirs } = mailSetup({ 'filter.d/cat.conf': '[Definition]\nfailregex = ^<HOST> (?=a)(a+)+$\n' });
    const catLog = join(dirs.root, 'cat.log');
    writeFileSync(catLog, '');
    appendFileSync(join(dirs.config, 'jail.d/test.local'), `\n[cat]\nenabled = true\nfilter = cat\nlogpath = ${catLog}\nignoreip = localhost\n`);
    const list = join(dirs.root, 'modules.txt');
    daemon = await startDaemon(dirs, { args: ['--dry-run'], env: listingTo(list) });
    const node = await builtinsAtStop(daemon, list);
    assert.ok(node.has('worker_threads'), 'the jail with a catastrophic regex did not load worker_threads');
    assert.ok(node.has('dns/promises'), 'the jail with an ignoreip name did not load dns');
  });

  it('fail2ban-server loads node:v8 only when node was started without the backtrack flag', () => {
    const dirs: DaemonDirs = mailSetup().dirs;
    try {
      const list = join(dirs.root, 'modules.txt');
      const run = (flags: string[]) => {
        const r = spawnSync(process.execPath, [...flags, serverMain, '-h'], { encoding: 'utf8', env: { ...process.env, ...listingTo(list) } });
        assert.equal(r.status, 0, r.stderr);
        return builtins(list);
      };
      assert.equal(run([BACKTRACK_GUARD]).has('v8'), false, 'node:v8 loaded although node has the flag');
      assert.equal(run([]).has('v8'), true, 'node:v8 not loaded to set the flag');
    } finally {
      removeDirs(dirs);
    }
  });

  it("loads the policy servers and the metrics endpoint once configured, the pickle protocol on Fail2Ban's client", async () => {
    const { dirs } = mailSetup();
    const policy = join(dirs.root, 'policy.sock');
    daemon = await startDaemon(dirs, {
      args: ['--dry-run', '--postfix-policy', policy, '--dovecot-policy', `127.0.0.1:${await freePort()}`, '--metrics', `127.0.0.1:${await freePort()}`],
      env: { NODE_DEBUG: 'esm,module' },
    });
    const ping = spawnSync('fail2ban-client', ['-s', dirs.socket, 'ping'], { encoding: 'utf8' });
    assert.equal(ping.stdout, 'Server replied: pong\n', ping.stderr);
    // The daemon's stderr (the trace) is read as it comes: give it the moment spawnSync held back.
    const running = daemon;
    await waitFor('the pickle modules in the trace', () => loaded(running).has('server/pickle-connection.js') || null, 5000).catch(() => {});
    const mods = loaded(daemon);
    for (const m of ['policy/ban-lookup.js', 'policy/postfix-policy.js', 'policy/dovecot-policy.js', 'server/metrics-http.js', 'server/pickle-connection.js']) {
      assert.ok(mods.has(m), `${m} was not loaded`);
    }
  });
});
