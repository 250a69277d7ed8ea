// Swapping an existing docker-mailserver install over to portcullis, as a user would: the container's
// paths are laid out in a private mount namespace (see dms-container.ts), the state volume holds a
// database written by Debian's real fail2ban-server with running bans, and portcullis is started through
// `/usr/bin/fail2ban-server -xf start` exactly as DMS's supervisord does, with FAIL2BAN_BLOCKTYPE=reject.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fail2banUnavailable, noopAction, startRealFail2ban } from '../compat/fail2ban-server.js';
import { cliPath, waitFor } from './daemon-process.js';
import { type DmsContainer, dmsContainer, type ServerProcess } from './dms-container.js';
import { createPair, netnsUnavailable } from './netns.js';

const skip = netnsUnavailable(['nft', 'unshare', 'nsenter', 'logrotate']) ?? fail2banUnavailable();

/** Debian's fail2ban-server writes the state volume's database: three jails, four running bans. */
async function fail2banWritesDatabase(c: DmsContainer, netns: string): Promise<void> {
  const tree = join(c.root, 'debian-fail2ban');
  for (const d of ['filter.d', 'action.d']) mkdirSync(join(tree, d), { recursive: true });
  writeFileSync(join(tree, 'fail2ban.conf'), `[Definition]\nloglevel = INFO\nlogtarget = ${join(tree, 'f2b.log')}\nallowipv6 = auto\ndbfile = ${join(c.stateFail2ban, 'fail2ban.sqlite3')}\ndbpurgeage = 1d\n`);
  writeFileSync(join(tree, 'filter.d', 'none.conf'), '[Definition]\nfailregex = ^never matches <HOST>$\n');
  writeFileSync(join(tree, 'action.d', `${noopAction}.conf`), '[Definition]\nactionstart =\nactionstop =\nactioncheck =\nactionban =\nactionunban =\n');
  writeFileSync(join(tree, 'empty.log'), '');
  const jails = ['custom', 'dovecot', 'postfix'].flatMap((j) => [`[${j}]`, 'enabled = true']);
  writeFileSync(
    join(tree, 'jail.conf'),
    ['[DEFAULT]', 'backend = polling', `action = ${noopAction}`, 'filter = none', `logpath = ${join(tree, 'empty.log')}`, 'bantime = 1w', ...jails, ''].join('\n'),
  );
  const real = await startRealFail2ban({ configDir: tree, prefix: ['ip', 'netns', 'exec', netns] });
  try {
    for (const [jail, ip] of [
      ['custom', '192.0.66.7'],
      ['custom', '192.0.66.0/24'],
      ['dovecot', '198.51.100.9'],
      ['postfix', '2001:db8::77'],
    ] as const) {
      const r = real.client('set', jail, 'banip', ip);
      assert.equal(r.code, 0, `Debian fail2ban-client set ${jail} banip ${ip}: ${r.stderr}`);
    }
  } finally {
    await real.stop();
  }
}

describe('docker-mailserver: an existing Fail2Ban install moves to portcullis', { skip: skip ?? false }, () => {
  const pair = skip ? null : createPair('dms');
  const c = skip ? null : dmsContainer(pair!.server);
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
      await s.exited;
    }
    c?.cleanup();
    pair?.destroy();
  });

  const client = (s: ServerProcess, ...args: string[]) => c!.exec(s.child.pid!, ['fail2ban-client', ...args]);
  const nft = (...args: string[]) => spawnSync('ip', ['netns', 'exec', pair!.server, 'nft', ...args], { encoding: 'utf8' });
  const daemonLog = () => {
    const file = join(c!.varLog, 'mail', 'fail2ban.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  };
  async function startServer(): Promise<ServerProcess> {
    const s = c!.start({ FAIL2BAN_BLOCKTYPE: 'reject' });
    servers.push(s);
    await waitFor('fail2ban-server to answer', () => s.child.exitCode === null && /Server ready/.test(s.stdout()) ? true : s.child.exitCode !== null ? assert.fail(`server exited ${s.child.exitCode}: ${s.stderr()}`) : null, 20_000);
    return s;
  }
  async function stopServer(s: ServerProcess): Promise<void> {
    if (s.child.exitCode !== null) return;
    assert.equal(client(s, 'stop').status, 0);
    assert.equal(await s.exited, 0, s.stderr());
  }
  /** Runs `body` against a fresh server, which is stopped (cleanly, with checks) whatever happens. */
  async function withServer(body: (s: ServerProcess) => Promise<void> | void): Promise<void> {
    const s = await startServer();
    try {
      await body(s);
    } finally {
      await stopServer(s);
    }
  }

  it('migrates the database at first start, restores its bans into nftables with reject rules, and keeps the original', async () => {
    await fail2banWritesDatabase(c!, pair!.server);
    await withServer((s) => {
      assert.equal(s.stdout(), 'Server ready\n', 'supervisord logs exactly what fail2ban-server -xf start prints');
      assert.match(daemonLog(), /Migrated Fail2Ban database \/var\/lib\/fail2ban\/fail2ban\.sqlite3: 4 running ban\(s\) and 4 ban record\(s\) imported; the original is kept as \/var\/lib\/fail2ban\/fail2ban\.sqlite3\.fail2ban\.\d{8}-\d{6}/);
      assert.equal(readdirSync(c!.stateFail2ban).filter((f) => /^fail2ban\.sqlite3\.fail2ban\.\d{8}-\d{6}$/.test(f)).length, 1, 'the original is on the state volume');

      const custom = client(s, 'status', 'custom');
      assert.equal(custom.status, 0, custom.stderr);
      assert.match(custom.stdout, /Banned IP list:\t(192\.0\.66\.7 192\.0\.66\.0\/24|192\.0\.66\.0\/24 192\.0\.66\.7)\n/);
      assert.match(client(s, 'status', 'dovecot').stdout, /Banned IP list:\t198\.51\.100\.9\n/);
      assert.match(client(s, 'status', 'postfix').stdout, /Banned IP list:\t2001:db8::77\n/);

      const sets = nft('list', 'table', 'inet', 'f2b-table');
      assert.equal(sets.status, 0, sets.stderr);
      assert.match(sets.stdout, /addr-set-custom[\s\S]*?elements = \{ [^}]*192\.0\.66\.0\/24[ ,}]/);
      assert.match(sets.stdout, /addr-set-dovecot[\s\S]*?elements = \{ 198\.51\.100\.9[ ,}]/);
      assert.match(sets.stdout, /addr6-set-postfix[\s\S]*?elements = \{ 2001:db8::77[ ,}]/);
      // FAIL2BAN_BLOCKTYPE=reject: DMS writes no nftables-common.local, so Fail2Ban's default (reject) applies.
      const chain = nft('list', 'chain', 'inet', 'f2b-table', 'f2b-chain');
      assert.match(chain.stdout, /ip saddr @addr-set-custom reject/);
      assert.doesNotMatch(chain.stdout, / drop\n/);
    });
  });

  it('fail2ban-client flushlogs works under logrotate: the log is rotated and the daemon writes to the new file', async () => {
    await withServer(async (s) => {
      // logrotate's postrotate step runs `fail2ban-client flushlogs` itself (and tolerates its failure, as
      // the file it replaces did); the command is also checked on its own below.
      const rotate = c!.exec(s.child.pid!, ['logrotate', '-f', '-s', '/var/log/logrotate.status', '/etc/logrotate.d/fail2ban']);
      assert.equal(rotate.status, 0, `logrotate: ${rotate.stderr}`);
      assert.ok(existsSync(join(c!.varLog, 'mail', 'fail2ban.log.1')), 'rotated');
      assert.equal(client(s, 'set', 'custom', 'banip', '203.0.113.44').status, 0);
      await waitFor('the ban logged in the new file', () => /\[custom\] Ban 203\.0\.113\.44/.test(daemonLog()));
      assert.doesNotMatch(readFileSync(join(c!.varLog, 'mail', 'fail2ban.log.1'), 'utf8'), /203\.0\.113\.44/);
      const flush = client(s, 'flushlogs');
      assert.equal(flush.status, 0, `fail2ban-client flushlogs: ${flush.stderr}`);
      assert.match(flush.stdout, /^logs: (rolled over|flushed)\n$/);
    });
  });

  it('survives a corrupt database: moved aside, a fresh one, and the admin is told in the log and in status', async () => {
    const db = join(c!.stateFail2ban, 'fail2ban.sqlite3');
    writeFileSync(db, Buffer.alloc(16_384, 0x42));
    await withServer((s) => {
      assert.match(daemonLog(), /ERROR +database \/var\/lib\/fail2ban\/fail2ban\.sqlite3 is corrupt \(.*\); moved it aside to \/var\/lib\/fail2ban\/fail2ban\.sqlite3\.\d{8}-\d{6}/);
      assert.equal(readdirSync(c!.stateFail2ban).filter((f) => /^fail2ban\.sqlite3\.\d{8}-\d{6}$/.test(f)).length, 1);
      const status = c!.exec(s.child.pid!, [process.execPath, cliPath, 'status', 'custom', '-s', '/var/run/fail2ban/fail2ban.sock']);
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stdout, /\nProblems:\n {2}database: database \/var\/lib\/fail2ban\/fail2ban\.sqlite3 is corrupt/);
      assert.equal(client(s, 'set', 'custom', 'banip', '203.0.113.45').status, 0, 'bans work on the fresh database');
    });
  });
});
