// An idle daemon runs no JavaScript: nothing is polled or ticked from JS while no line arrives, no ban
// is due to end and nobody calls. Besides CPU wakeups, this keeps V8 from optimising node's own small
// functions (a 1 s tick did within a minute), whose first optimising compile leaves ~3.3 MB of node's
// compiler code resident (bench/daemon.ts's idle RSS over time). Node's own timer trace
// (NODE_DEBUG=timer) shows every JS timer that fires; files are watched by inotify and libuv's stat
// poll, which call JS only when something changed.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { type RunningDaemon, removeDirs, sleep, startDaemon, waitFor } from './daemon-process.js';
import { allBans, dovecotFailure, mailSetup } from './mail-log.js';

/** Timer lists node processed (each is JS run from the event loop's timer phase). */
const timerRuns = (stderr: string) => stderr.split('\n').filter((l) => /^TIMER \d+: process timer lists/.test(l)).length;

describe('idle daemon', () => {
  let daemon: RunningDaemon | null = null;
  afterEach(async () => {
    await daemon?.stop();
    if (daemon) removeDirs(daemon.dirs);
    daemon = null;
  });

  it('fires no JS timer while idle, and still bans on a new line and lifts the ban on time', async () => {
    const { dirs, mailLog } = mailSetup({}, 'bantime = 4\nmaxretry = 3\n');
    daemon = await startDaemon(dirs, { args: ['--dry-run'], env: { NODE_DEBUG: 'timer' } });
    const running = daemon;
    // Start-up's own timers (the first trim of freed C heap at 3 s, the first flush 2 s after the first
    // read) are over by then, with room for a loaded machine.
    await sleep(6000);
    const before = timerRuns(running.stderr());
    await sleep(5000);
    assert.equal(timerRuns(running.stderr()) - before, 0, 'no JS timer fired in 5 s of idleness');

    const ip = '198.51.100.7';
    appendFileSync(mailLog, [1, 2, 3].map(() => dovecotFailure(ip)).join(''));
    await waitFor('the ban', async () => ((await allBans(dirs)).includes(`dovecot ${ip}`) ? true : null), 5000);
    const banned = Date.now();
    await waitFor('the ban lifted', async () => ((await allBans(dirs)).includes(`dovecot ${ip}`) ? null : true), 10_000);
    const lifted = Date.now() - banned;
    assert.ok(lifted >= 3000 && lifted < 6500, `lifted ${lifted} ms after the ban, bantime 4 s`);
  });
});
