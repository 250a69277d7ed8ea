// The way in and the way back, with Debian's real Fail2Ban at both ends: a database written by Fail2Ban
// migrates when portcullis starts on it, portcullis adds a ban, `export-fail2ban-db --in-place` turns the
// file back into Fail2Ban's, and Debian's fail2ban-server (in a network namespace) restores every ban.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fail2banPythonUnavailable, makeFail2BanDb } from '../fixtures/fail2ban-db.js';
import { cli, daemonDirs, startDaemon, writeConfig } from '../e2e/daemon-process.js';
import { createPair, netnsUnavailable } from '../e2e/netns.js';
import { fail2banUnavailable, noopAction, startRealFail2ban } from './fail2ban-server.js';

const skip = netnsUnavailable() ?? fail2banUnavailable() ?? fail2banPythonUnavailable();
const jails = ['custom', 'dovecot', 'postfix'];

describe('Fail2Ban database round trip', { skip: skip ?? false }, () => {
  const dirs = daemonDirs();
  const pair = skip ? null : createPair('rt');
  after(() => pair?.destroy());

  it('Fail2Ban → portcullis → Fail2Ban keeps every running ban, those portcullis made included', async () => {
    const now = Math.floor(Date.now() / 1000);
    mkdirSync(join(dirs.dbfile, '..'), { recursive: true });
    makeFail2BanDb(dirs.dbfile, now);
    writeConfig(dirs, {
      'fail2ban.conf': `[Definition]\nloglevel = INFO\nlogtarget = ${dirs.logfile}\nallowipv6 = auto\ndbfile = ${dirs.dbfile}\ndbpurgeage = 1d\n`,
      'filter.d/portcullis-test.conf': '[Definition]\nfailregex = ^auth failure from <HOST>$\n',
      [`action.d/${noopAction}.conf`]: '[Definition]\nactionstart =\nactionstop =\nactioncheck =\nactionban =\nactionunban =\n',
      'test.log': '',
      'jail.conf': [
        '[DEFAULT]',
        'backend = polling',
        `action = ${noopAction}`,
        'filter = portcullis-test',
        `logpath = ${join(dirs.config, 'test.log')}`,
        'bantime = 180d',
        ...jails.flatMap((j) => [`[${j}]`, 'enabled = true']),
        '',
      ].join('\n'),
    });

    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    try {
      assert.match(daemon.log(), /Migrated Fail2Ban database .*: 4 running ban\(s\) and 6 ban record\(s\) imported/);
      assert.equal(cli(dirs, ['ban', 'postfix', '203.0.113.5']).status, 0);
      const banned = cli(dirs, ['banned', '--json']);
      assert.equal(banned.status, 0, banned.stderr);
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    const exported = cli(dirs, ['export-fail2ban-db', '--in-place', '--db', dirs.dbfile, '-c', dirs.config]);
    assert.equal(exported.status, 0, exported.stderr);
    assert.match(exported.stdout, /^Exported 5 running ban\(s\) and 7 ban record\(s\) to .* \(Fail2Ban schema version 4\); portcullis's database kept as /);
    assert.equal(readdirSync(join(dirs.dbfile, '..')).filter((f) => f.includes('.fail2ban.') || f.includes('.portcullis.')).length, 2);

    const real = await startRealFail2ban({ configDir: dirs.config, prefix: ['ip', 'netns', 'exec', pair!.server] });
    try {
      const list = (jail: string) => /Banned IP list:\s*(.*)/.exec(real.client('status', jail).stdout)?.[1]?.trim().split(/\s+/).filter(Boolean).sort() ?? [];
      // Fail2Ban restores each jail's bans in that jail's actions thread, just after the socket answers.
      const restored = () => ['dovecot', 'postfix', 'custom'].every((j) => list(j).length > 0);
      for (let waited = 0; !restored() && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(list('dovecot'), ['192.0.2.1', '2001:db8::1']);
      assert.deepEqual(list('postfix'), ['192.0.2.1', '203.0.113.5']);
      assert.deepEqual(list('custom'), ['192.0.66.0/24']);
    } finally {
      await real.stop();
    }
  });
});
