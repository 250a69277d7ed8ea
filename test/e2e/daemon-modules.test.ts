// What the idle daemon keeps in memory: every module it loads stays there. With docker-mailserver's mail
// jails and nothing else configured, the fleet (ioredis), the policy servers, the metrics endpoint and
// Fail2Ban's pickle protocol must not be loaded (ioredis alone was ~7 MB of idle RSS); configured, or
// when Fail2Ban's own client calls, they are.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { type RunningDaemon, removeDirs, startDaemon, waitFor } from './daemon-process.js';
import { mailSetup } from './mail-log.js';

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
