// An action.d script run by the live daemon gets Fail2Ban's ticket tags: the real failure count, the
// ban's time and bantime, the bancount, the matched lines and the user the filter captured, all as
// text the shell never interprets.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type DaemonDirs, removeDirs, type RunningDaemon, startDaemon, waitFor, writeConfig } from './daemon-process.js';
import { dovecotLoginFailure, mailSetup, syslogStamp } from './mail-log.js';

describe('action.d tags in the live daemon', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it('<failures>, <time>, <bantime>, <bancount>, <F-USER>, <matches> come from the ban', async () => {
    const record = '/RECORD/';
    const action = `[Definition]\nactionban = printf '%%s|' <ip> <failures> <time> <bantime> <bancount> <fid> "<F-USER>" >> ${record}\n           printf '%%s\\n--\\n' "<matches>" >> ${record}\nactionunban = true\n`;
    const { dirs, mailLog } = mailSetup(
      { 'jail.d/zz-off.local': '[custom]\nenabled = false\n' },
      'action = record\n',
    );
    trees.push(dirs);
    const out = join(dirs.root, 'record.txt');
    const pwned = join(dirs.root, 'pwned');
    writeConfig(dirs, { 'action.d/record.conf': action.replaceAll(record, out) });
    const daemon = await startDaemon(dirs);
    running.push(daemon);
    const user = `x'; touch ${pwned}; '`;
    const when = new Date(Date.now() - 5000);
    when.setMilliseconds(0);
    const lines = [0, 1, 2].map(() => dovecotLoginFailure('203.0.113.9', syslogStamp(when), user));
    for (const line of lines) appendFileSync(mailLog, line);
    await waitFor('the action ran', async () => existsSync(out) && readFileSync(out, 'utf8').includes('--') ? true : null);
    const [head] = readFileSync(out, 'utf8').split('\n');
    const [ip, failures, time, bantime, bancount, fid, ...rest] = (head as string).split('|');
    assert.deepEqual([ip, failures, bantime, bancount, fid], ['203.0.113.9', '3', '10800', '1', '203.0.113.9']);
    // The ban's time is the log's time of the failures (5 s ago), not the moment the action ran.
    assert.ok(Math.abs(Number(time) - when.getTime() / 1000) <= 1, `time ${time} vs ${when.getTime() / 1000}`);
    assert.equal(rest.join('|'), `${user}|${lines[0]?.trimEnd()}`);
    assert.equal(readFileSync(out, 'utf8'), `${head}\n${lines.slice(1).join('')}--\n`);
    assert.equal(existsSync(pwned), false);
    assert.equal(await daemon.stop(), 0);
    // Restored from the database at the next start, the ban's script gets its matched lines again
    // (start-up reads them only for jails with action.d scripts).
    writeFileSync(out, '');
    const again = await startDaemon(dirs);
    running.push(again);
    await waitFor('the action ran for the restored ban', async () => (readFileSync(out, 'utf8').includes('--') ? true : null));
    assert.equal(readFileSync(out, 'utf8').split('\n').slice(1).join('\n'), `${lines.slice(1).join('')}--\n`);
    assert.equal(await again.stop(), 0);
  });
});
