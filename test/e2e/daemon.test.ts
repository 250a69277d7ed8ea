// The daemon end to end on the built-in defaults, with the `log` firewall backend (no root needed):
// docker-mailserver style lines appended to a mail log become bans that `status` lists, survive a
// restart (including kill -9), and are not re-counted from lines already read.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { cliPath, control, type DaemonDirs, removeDirs, type RunningDaemon, startDaemon, waitFor, writeConfig } from './daemon-process.js';
import { dovecotFailure, jailStatus, mailSetup, postfixSaslFailure } from './mail-log.js';

describe('portcullis server on the built-in defaults (log backend)', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it('bans a Dovecot attacker within one second of the third failure, and a Postfix SASL one', async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    appendFileSync(mailLog, dovecotFailure('203.0.113.5'));
    appendFileSync(mailLog, dovecotFailure('203.0.113.5'));
    await waitFor('two failures counted', async () => (await jailStatus(dirs, 'dovecot')).currentlyFailed === 1 || null);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, [], 'two failures must not ban');
    const third = Date.now();
    appendFileSync(mailLog, dovecotFailure('203.0.113.5'));
    await waitFor('dovecot ban', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('203.0.113.5'), 1000);
    const latency = Date.now() - third;
    assert.ok(latency < 1000, `ban took ${latency} ms`);

    for (let i = 0; i < 3; i++) appendFileSync(mailLog, postfixSaslFailure('2001:db8::66', new Date().toISOString()));
    await waitFor('postfix ban', async () => (await jailStatus(dirs, 'postfix')).bannedIps.includes('2001:db8::66'), 1000);
    assert.match(daemon.log(), /fail2ban\.actions\s+\[\d+\]: NOTICE {2}\[dovecot\] Ban 203\.0\.113\.5\n/);
    assert.equal(await daemon.stop(), 0);
  });

  it('keeps bans over a restart and does not re-read lines it already counted', async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    let daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    for (let i = 0; i < 3; i++) appendFileSync(mailLog, dovecotFailure('198.51.100.20'));
    appendFileSync(mailLog, dovecotFailure('198.51.100.21'));
    appendFileSync(mailLog, dovecotFailure('198.51.100.21'));
    await waitFor('ban before restart', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.20'));
    await waitFor('failures counted', async () => (await jailStatus(dirs, 'dovecot')).totalFailed === 5 || null);
    assert.equal(await daemon.stop(), 0);

    daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, ['198.51.100.20'], 'restored before any line');
    // One more failure of .21: had the old lines been re-read, this third one would ban it.
    appendFileSync(mailLog, dovecotFailure('198.51.100.21'));
    await waitFor('new line counted', async () => (await jailStatus(dirs, 'dovecot')).totalFailed === 1 || null);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, ['198.51.100.20']);
    assert.equal(await daemon.stop(), 0);
  });

  it('kill -9 during a burst loses no ban it logged', async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    let daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const attackers = Array.from({ length: 200 }, (_, i) => `203.0.113.${i + 1}`);
    let burst = '';
    for (let round = 0; round < 3; round++) for (const ip of attackers) burst += dovecotFailure(ip);
    appendFileSync(mailLog, burst);
    await waitFor('some bans', () => (daemon.log().match(/\] Ban /g)?.length ?? 0) >= 20 || null);
    await daemon.kill();
    const logged = new Set([...daemon.log().matchAll(/\[dovecot\] Ban (\S+)/g)].map((m) => m[1]));

    daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    // Everything the burst holds ends up banned: lines read before the crash or re-read after it.
    const banned = await waitFor(
      'all 200 attackers banned',
      async () => {
        const ips = (await jailStatus(dirs, 'dovecot')).bannedIps;
        return ips.length === attackers.length ? ips : null;
      },
      10_000,
    );
    for (const ip of logged) assert.ok(banned.includes(ip!), `${ip} was banned before the crash`);
    assert.equal(new Set(banned).size, banned.length, 'no address banned twice');
    assert.equal(await daemon.stop(), 0);
  });

  it('reload applies a changed jail and keeps every active ban', async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    assert.equal(await control(dirs).request({ cmd: 'ban', jail: 'custom', ips: ['192.0.2.77'] }), 1);
    for (let i = 0; i < 3; i++) appendFileSync(mailLog, dovecotFailure('198.51.100.30'));
    await waitFor('dovecot ban', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.30'));
    writeConfig(dirs, {
      'jail.d/test.local': `[dovecot]\nlogpath = ${mailLog}\nmaxretry = 5\n\n[postfix]\nlogpath = ${mailLog}\n`,
    });
    await control(dirs).request({ cmd: 'reload' });
    assert.equal(await control(dirs).request({ cmd: 'get', jail: 'dovecot', key: 'maxretry' }), 5);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, ['198.51.100.30']);
    assert.deepEqual((await jailStatus(dirs, 'custom')).bannedIps, ['192.0.2.77']);
    assert.equal(await daemon.stop(), 0);
  });

  it('a second server on the same socket refuses to start and leaves the running one alone', async () => {
    const { dirs } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const second = spawnSync(
      process.execPath,
      [cliPath, 'server', '-c', dirs.config, '-s', dirs.socket, '-p', dirs.pidfile, '--dbfile', dirs.dbfile, '--logtarget', dirs.logfile, '--dry-run', '-x'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(second.status, 1);
    assert.match(second.stderr, /^portcullis: another server is already running on \S+; stop it first/);
    assert.equal(readFileSync(dirs.pidfile, 'utf8'), `${daemon.child.pid}\n`, 'pid file kept');
    assert.equal(await control(dirs).request({ cmd: 'ping' }), 'pong');
    assert.equal(await daemon.stop(), 0);
  });
});
