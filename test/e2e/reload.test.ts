// `reload` as Fail2Ban does it, against the real daemon (log backend): jails keep their failure counts
// and read positions, changed ones too; `--restart` rebuilds them with their bans only; reloads run one
// at a time (SIGHUP included), and a broken configuration is refused with exit 3 and file:line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ServerReplyError } from '../../src/cli/client.js';
import { cli, cliPath, control, type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor, writeConfig } from './daemon-process.js';
import { dovecotFailure, jailStatus, mailSetup, postfixSaslFailure } from './mail-log.js';

describe('reload', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  async function start(args: string[] = []) {
    const setup = mailSetup();
    trees.push(setup.dirs);
    const daemon = await startDaemon(setup.dirs, { args: ['--dry-run', ...args] });
    running.push(daemon);
    return { ...setup, daemon };
  }

  const failed = async (dirs: DaemonDirs, n: number) =>
    waitFor(`${n} failure(s) counted`, async () => (await jailStatus(dirs, 'dovecot')).totalFailed === n || null);

  it('keeps an unchanged jail’s failures: two failures, reload, a third failure bans', async () => {
    const { dirs, mailLog, daemon } = await start();
    appendFileSync(mailLog, dovecotFailure('198.51.100.1') + dovecotFailure('198.51.100.1'));
    await failed(dirs, 2);
    const reload = cli(dirs, ['reload']);
    assert.deepEqual([reload.status, reload.stdout, reload.stderr], [0, 'reloaded\n', '']);
    assert.equal((await jailStatus(dirs, 'dovecot')).currentlyFailed, 1, 'the count survived');
    appendFileSync(mailLog, dovecotFailure('198.51.100.1'));
    await waitFor('ban after the third failure', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.1'));
    assert.match(daemon.log(), /Reload all jails\n[\s\S]*Reload finished\./);
    assert.equal(await daemon.stop(), 0);
  });

  it('keeps a changed jail’s failures, as Fail2Ban reconfigures it in place: two failures, reload, a third bans', async () => {
    const { dirs, mailLog, daemon } = await start();
    appendFileSync(mailLog, dovecotFailure('198.51.100.5') + dovecotFailure('198.51.100.5'));
    await failed(dirs, 2);
    writeConfig(dirs, { 'jail.d/z.local': '[dovecot]\nfindtime = 20m\n' });
    assert.equal(cli(dirs, ['reload']).status, 0);
    assert.equal(await control(dirs).request({ cmd: 'get', jail: 'dovecot', key: 'findtime' }), 1200, 'the jail was rebuilt');
    assert.equal((await jailStatus(dirs, 'dovecot')).currentlyFailed, 1, 'the count survived the rebuild');
    appendFileSync(mailLog, dovecotFailure('198.51.100.5'));
    await waitFor('ban after the third failure', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.5'));
    assert.equal(await daemon.stop(), 0);
  });

  it('reload --restart rebuilds the jails: failures are forgotten, bans kept', async () => {
    const { dirs, mailLog, daemon } = await start();
    assert.equal(await control(dirs).request({ cmd: 'ban', jail: 'dovecot', ips: ['192.0.2.9'] }), 1);
    appendFileSync(mailLog, dovecotFailure('198.51.100.2') + dovecotFailure('198.51.100.2'));
    await failed(dirs, 2);
    const reload = cli(dirs, ['reload', '--restart']);
    assert.deepEqual([reload.status, reload.stdout], [0, 'reloaded (jails restarted)\n']);
    const status = await jailStatus(dirs, 'dovecot');
    assert.equal(status.currentlyFailed, 0);
    assert.deepEqual(status.bannedIps, ['192.0.2.9']);
    // The rebuilt jail resumed after the lines it had read: the old two are not counted again.
    appendFileSync(mailLog, dovecotFailure('198.51.100.2'));
    await failed(dirs, 1);
    await sleep(300);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, ['192.0.2.9']);
    assert.equal(await daemon.stop(), 0);
  });

  it('reload --unban JAIL lifts that jail’s bans first and leaves the others', async () => {
    const { dirs, daemon } = await start();
    await control(dirs).request({ cmd: 'ban', jail: 'dovecot', ips: ['192.0.2.10'] });
    await control(dirs).request({ cmd: 'ban', jail: 'custom', ips: ['192.0.2.11'] });
    const f2b = spawnSync(process.execPath, [cliPath, 'client', '-s', dirs.socket, 'reload', '--unban', 'dovecot'], { encoding: 'utf8' });
    assert.deepEqual([f2b.status, f2b.stdout], [0, 'OK\n']);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, []);
    assert.deepEqual((await jailStatus(dirs, 'custom')).bannedIps, ['192.0.2.11']);
    assert.equal(await daemon.stop(), 0);
  });

  it('with dbfile = None a changed jail is rebuilt without re-reading its whole log', async () => {
    const { dirs, mailLog, daemon } = await start(['--dbfile', 'None']);
    appendFileSync(mailLog, dovecotFailure('198.51.100.3').repeat(3));
    await waitFor('ban', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.3'));
    await control(dirs).request({ cmd: 'unban', ips: ['198.51.100.3'] });
    writeConfig(dirs, { 'jail.d/z.local': '[dovecot]\nfindtime = 20m\n' });
    await control(dirs).request({ cmd: 'reload' });
    assert.equal(await control(dirs).request({ cmd: 'get', jail: 'dovecot', key: 'findtime' }), 1200, 'the jail was rebuilt');
    appendFileSync(mailLog, dovecotFailure('198.51.100.4'));
    // Totals carry over a reload, as in Fail2Ban: 3 before, this one makes 4 (7 had the log been re-read).
    await failed(dirs, 4);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, [], 'the old lines were not read again');
    assert.equal(await daemon.stop(), 0);
  });

  it('with dbfile = None every jail shares one ban history: overalljails increments across jails, and a reload keeps it', async () => {
    const setup = mailSetup({}, 'bantime = 600\nbantime.increment = true\nbantime.overalljails = true\n');
    trees.push(setup.dirs);
    const daemon = await startDaemon(setup.dirs, { args: ['--dry-run', '--dbfile', 'None'] });
    running.push(daemon);
    const { dirs, mailLog } = setup;
    const bantime = (jail: string) => {
      const run = spawnSync(process.execPath, [cliPath, 'client', '-s', dirs.socket, 'get', jail, 'banip', '--with-time'], { encoding: 'utf8' });
      return Number(/ \+ (\d+) = /.exec(run.stdout)?.[1]);
    };
    appendFileSync(mailLog, dovecotFailure('198.51.100.6').repeat(3));
    await waitFor('dovecot ban', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.6'));
    assert.equal(bantime('dovecot'), 600, 'a first ban');
    writeConfig(dirs, { 'jail.d/z.local': '[postfix]\nfindtime = 20m\n' });
    await control(dirs).request({ cmd: 'reload' });
    appendFileSync(mailLog, postfixSaslFailure('198.51.100.6').repeat(3));
    await waitFor('postfix ban', async () => (await jailStatus(dirs, 'postfix')).bannedIps.includes('198.51.100.6'));
    assert.equal(bantime('postfix'), 1200, "the dovecot ban counts in postfix's increment, over the reload");
    assert.equal(await daemon.stop(), 0);
  });

  it('jails removed from the configuration stop, new ones start', async () => {
    const { dirs, mailLog, daemon } = await start();
    writeConfig(dirs, { 'jail.d/test.local': `[dovecot]\nlogpath = ${mailLog}\n\n[postfix]\nenabled = false\n` });
    await control(dirs).request({ cmd: 'reload' });
    assert.deepEqual([...(await control(dirs).request({ cmd: 'jails' }))].sort(), ['custom', 'dovecot']);
    writeConfig(dirs, { 'jail.d/test.local': `[dovecot]\nlogpath = ${mailLog}\n\n[postfix]\nlogpath = ${mailLog}\n` });
    await control(dirs).request({ cmd: 'reload' });
    assert.deepEqual([...(await control(dirs).request({ cmd: 'jails' }))].sort(), ['custom', 'dovecot', 'postfix']);
    assert.match(daemon.log(), /Jail 'postfix' stopped[\s\S]*Jail 'postfix' started/);
    assert.equal(await daemon.stop(), 0);
  });

  it('concurrent reloads run one at a time and never leave a jail running twice', async () => {
    const { dirs, mailLog, daemon } = await start();
    const replies = await Promise.all(
      Array.from({ length: 8 }, () =>
        control(dirs)
          .request({ cmd: 'reload', restart: true })
          .then(
            () => 'ok',
            (err: ServerReplyError) => err.message,
          ),
      ),
    );
    assert.ok(replies.includes('ok'), replies.join(', '));
    for (const r of replies) assert.ok(r === 'ok' || r === 'Reload already in progress', r);
    assert.ok(replies.includes('Reload already in progress'), `overlapping reloads were refused: ${replies.join(', ')}`);
    // SIGHUP goes through the same gate.
    const busy = control(dirs).request({ cmd: 'reload', restart: true });
    daemon.child.kill('SIGHUP');
    await busy.catch(() => {});
    await waitFor('the SIGHUP reload', () => /SIGHUP received/.test(daemon.log()) || null);
    await sleep(200);
    // A jail running twice would count (and log) every line twice.
    appendFileSync(mailLog, dovecotFailure('198.51.100.5'));
    await failed(dirs, 1);
    await sleep(500);
    assert.equal(daemon.log().match(/\[dovecot\] Found 198\.51\.100\.5/g)?.length, 1, 'one dovecot jail read the line');
    assert.equal(await daemon.stop(), 0);
  });

  it('a broken configuration is refused with exit 3 and file:line; the running jails keep working', async () => {
    const { dirs, mailLog, daemon } = await start();
    appendFileSync(mailLog, dovecotFailure('198.51.100.6') + dovecotFailure('198.51.100.6'));
    await failed(dirs, 2);
    writeConfig(dirs, { 'jail.d/broken.local': '[dovecot]\nmaxretry = 3\n  bantime 1h\n[postfix\n' });
    const reload = cli(dirs, ['reload']);
    assert.equal(reload.status, 3, reload.stderr);
    assert.match(reload.stderr, /^portcullis: reload failed, the running configuration is kept: .*broken\.local:\d+/);
    const f2b = spawnSync(process.execPath, [cliPath, 'client', '-s', dirs.socket, 'reload'], { encoding: 'utf8' });
    assert.equal(f2b.status, 255);
    assert.match(f2b.stdout, /broken\.local:\d+/);
    appendFileSync(mailLog, dovecotFailure('198.51.100.6'));
    await waitFor('ban with the running configuration', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.6'));
    assert.match(readFileSync(join(dirs.logfile), 'utf8'), /ERROR +reload failed, keeping the running configuration/);
    assert.equal(await daemon.stop(), 0);
  });

  it('unknown jails are worded as Fail2Ban words them, for every command', () => {
    return (async () => {
      const { dirs, daemon } = await start();
      for (const args of [['reload', 'nosuch'], ['ban', 'nosuch', '192.0.2.1'], ['status', 'nosuch']]) {
        const r = cli(dirs, args);
        assert.deepEqual([r.status, r.stderr], [2, "portcullis: Sorry but the jail 'nosuch' does not exist (see 'portcullis status' for the jails)\n"], args.join(' '));
      }
      assert.equal(await daemon.stop(), 0);
    })();
  });
});
