// Injection at the line cap: lines are cut at 64 KiB, and a cut line matched as if whole let an attacker
// pad a client-chosen field so that a victim's address ends exactly at the cut, where the filter's `$`
// then matched. A real daemon reads such lines: the victim must not be banned, the cut lines are logged
// as skipped, and the attacker's ordinary failures afterwards are still banned.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { allBans, dovecotFailure, dovecotLoginFailure, mailSetup, syslogStamp } from '../e2e/mail-log.js';

const CAP = 64 * 1024;
const VICTIM = '198.51.100.77';
const ATTACKER = '203.0.113.77';

describe('reliability: injection at the line cap', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it('a victim address placed to end exactly at the 64 KiB cut is never banned; the cut lines are logged as skipped', { timeout: 30_000 }, async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    let text = '';
    for (let k = 0; k < 4; k++) {
      // The user name the client chose ends in "…>, method=PLAIN, rip=VICTIM"; padding puts the victim's
      // last byte at the cap, so the cut line reads like a complete failure from the victim.
      const stamp = syslogStamp();
      const head = dovecotLoginFailure(ATTACKER, stamp, '').split('user=<')[0] as string;
      const fake = `>, method=PLAIN, rip=${VICTIM}`;
      const pad = CAP - Buffer.byteLength(`${head}user=<`) - fake.length;
      const line = dovecotLoginFailure(ATTACKER, stamp, `${'A'.repeat(pad)}${fake}`);
      assert.equal(line.indexOf(VICTIM) + VICTIM.length, CAP, 'the victim ends at the cut');
      text += line;
    }
    appendFileSync(mailLog, text);
    appendFileSync(mailLog, dovecotFailure('203.0.113.78').repeat(3));
    await waitFor('the ordinary attacker banned', async () => (await allBans(dirs)).includes('dovecot 203.0.113.78') || null, 10_000);
    await sleep(200);
    assert.deepEqual(await allBans(dirs), ['dovecot 203.0.113.78'], 'neither the victim nor the cut lines banned');
    const skipped = daemon.log().split('\n').filter((l) => l.includes('[dovecot] Line skipped unmatched (too long)'));
    assert.equal(skipped.length, 4, 'each cut line logged once');
    assert.equal(await daemon.stop(), 0);
  });
});
