// Issue 16, "acknowledged bans are lost": the database file deleted while the daemon runs. The daemon
// must say so (WARNING in the log, a problem in `status`), recreate the file with every ban it holds,
// and keep writing there, so that bans made before and after survive a kill -9.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { cli, type DaemonDirs, removeDirs, type RunningDaemon, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { addresses, allBans, dovecotFailure, mailSetup } from '../e2e/mail-log.js';

describe('reliability: the database file deleted while running', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it('warns, recreates the file with every ban, and loses nothing over a kill -9', { timeout: 60_000 }, async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    let daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const before = addresses('172.25', 50);
    appendFileSync(mailLog, before.flatMap((ip) => [ip, ip, ip]).map((ip) => dovecotFailure(ip)).join(''));
    await waitFor('50 bans', async () => (await allBans(dirs)).length === 50 || null, 10_000);

    rmSync(dirs.dbfile);
    for (const suffix of ['-wal', '-shm']) rmSync(dirs.dbfile + suffix, { force: true });
    const warnings = await waitFor('the WARNING line', () => daemon.log().match(/^.*WARNING.*deleted while running.*$/gm), 10_000);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /database .*fail2ban\.sqlite3 was deleted while running; recreated it with its 50 last-ban record\(s\)/);
    assert.ok(existsSync(dirs.dbfile));
    const status = cli(dirs, ['status', 'dovecot']);
    assert.match(status.stdout, /Problems:\n {2}database: database .* was deleted while running/);

    const later = addresses('172.26', 10);
    appendFileSync(mailLog, later.flatMap((ip) => [ip, ip, ip]).map((ip) => dovecotFailure(ip)).join(''));
    await waitFor('60 bans', async () => (await allBans(dirs)).length === 60 || null, 10_000);
    await daemon.kill();
    daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    assert.equal((await allBans(dirs)).length, 60, 'every acknowledged ban, before and after the deletion, is restored');
    assert.equal(await daemon.stop(), 0);
  });
});
