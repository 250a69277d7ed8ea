// A log shrunk in place keeping its head (its tail cut off by an editor or `truncate -s`) was read again
// from the start, so an address with 2 failures (a near miss at maxretry 3) had them counted twice and
// was banned. A real daemon: the near miss stays unbanned, and lines written after the shrink are read.
import assert from 'node:assert/strict';
import { appendFileSync, statSync, truncateSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { allBans, dovecotFailure, jailStatus, mailSetup } from '../e2e/mail-log.js';

describe('reliability: a log shrunk in place', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it('keeps its head: nothing is read twice, a near miss with 2 failures is not banned, later lines are read', { timeout: 30_000 }, async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const near = '203.0.113.80';
    appendFileSync(mailLog, 'Nov 28 00:00:00 mail postfix/smtpd[1]: connect from unknown[192.0.2.1]\n');
    appendFileSync(mailLog, dovecotFailure(near).repeat(2));
    const keep = statSync(mailLog).size;
    appendFileSync(mailLog, 'Nov 28 00:00:01 mail postfix/smtpd[1]: disconnect from unknown[192.0.2.1]\n'.repeat(5));
    await waitFor('2 failures counted', async () => ((await jailStatus(dirs, 'dovecot')).totalFailed === 2 ? true : null), 10_000);
    truncateSync(mailLog, keep);
    await sleep(1500); // more than a poll: the shrink is seen before anything new is written
    appendFileSync(mailLog, dovecotFailure('203.0.113.81').repeat(3));
    await waitFor('the attacker after the shrink banned', async () => (await allBans(dirs)).includes('dovecot 203.0.113.81') || null, 10_000);
    await sleep(300);
    assert.deepEqual(await allBans(dirs), ['dovecot 203.0.113.81'], 'the near miss is not banned');
    assert.equal((await jailStatus(dirs, 'dovecot')).totalFailed, 5, 'the 2 old failures counted once');
    assert.equal(await daemon.stop(), 0);
  });
});
