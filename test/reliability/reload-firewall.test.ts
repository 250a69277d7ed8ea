// A reload whose changed jail cannot be set up in the firewall (real nftables in a network namespace,
// every nft command carrying the new port refused) must not leave the host without that jail: the
// previous one runs again with its bans in the kernel, and the other jails are untouched.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { commandRunner } from '../../src/firewall/runner.js';
import { Daemon } from '../../src/server/daemon.js';
import { type DaemonDirs, removeDirs, waitFor, writeConfig } from '../e2e/daemon-process.js';
import { dovecotFailure, mailSetup } from '../e2e/mail-log.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from '../e2e/netns.js';

const skip = netnsUnavailable(['nft']);

describe('reliability: a reload the firewall refuses', { skip: skip ?? false }, () => {
  let pair: Pair;
  let dirs: DaemonDirs;
  let mailLog: string;
  let daemon: Daemon | null = null;
  before(() => {
    pair = createPair('relr');
    ({ dirs, mailLog } = mailSetup());
  });
  after(async () => {
    await daemon?.shutdown();
    pair?.destroy();
    if (dirs) removeDirs(dirs);
  });

  const set = (jail: string) =>
    spawnSync('ip', ['netns', 'exec', pair.server, 'nft', 'list', 'set', 'inet', 'f2b-table', `addr-set-${jail}`], { encoding: 'utf8' }).stdout;

  it('keeps the previous jail running with its bans', { timeout: 30_000 }, async () => {
    const real = commandRunner(inNamespace(pair.server));
    daemon = Daemon.open({
      configDir: dirs.config,
      socket: dirs.socket,
      pidfile: dirs.pidfile,
      dbfile: dirs.dbfile,
      logtarget: dirs.logfile,
      firewallRunner: (argv, stdin) =>
        stdin?.includes('2525') ? Promise.resolve({ code: 1, stdout: '', stderr: 'Error: injected refusal' }) : real(argv, stdin),
    });
    await daemon.start();
    appendFileSync(mailLog, dovecotFailure('203.0.113.70').repeat(3));
    await waitFor('ban in the kernel', () => set('dovecot').includes('203.0.113.70') || null, 5000);
    writeConfig(dirs, { 'jail.d/port.local': '[dovecot]\nport = 2525\n' });
    await daemon.reload(undefined);
    assert.ok(daemon.jailNames().includes('dovecot'), 'dovecot still runs');
    assert.match(
      spawnSync('ip', ['netns', 'exec', pair.server, 'nft', 'list', 'chain', 'inet', 'f2b-table', 'f2b-chain'], { encoding: 'utf8' }).stdout,
      /addr-set-dovecot/,
      'the rule is back',
    );
    assert.match(readFileSync(dirs.logfile, 'utf8'), /jail 'dovecot' could not start after the reload: .*injected refusal[\s\S]*jail 'dovecot' keeps its previous configuration/);
    assert.match(set('dovecot'), /203\.0\.113\.70/);
    // And it still bans.
    appendFileSync(mailLog, dovecotFailure('203.0.113.71').repeat(3));
    await waitFor('a new ban by the previous jail', () => set('dovecot').includes('203.0.113.71') || null, 5000);
  });
});
