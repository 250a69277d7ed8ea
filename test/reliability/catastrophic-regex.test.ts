// Catastrophic regexes: V8's linear-time fallback does not cover regexes with lookarounds or
// backreferences, and `failregex = ^<HOST> (?=a)(a+)+$` fed 29 × `a` froze the whole daemon for about
// 36 s. Such a regex is flagged at load (file:line) and matched with a per-line deadline in a thread of
// its own: a hostile line is logged and skipped, `ping` and a ban in another jail are not held up by more
// than a second, and `portcullis regex` with the filter finishes promptly.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cliPath, control, type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { allBans, dovecotFailure, mailSetup } from '../e2e/mail-log.js';

const FILTER = '[Definition]\nfailregex = ^<HOST> (?=a)(a+)+$\n';
const hostile = (n: number) => `203.0.113.90 ${'a'.repeat(n)}b\n`;

describe('reliability: catastrophic regexes', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  it('a hostile line delays neither ping nor a ban in another jail by more than 1 s; it is logged and skipped', { timeout: 60_000 }, async (t) => {
    const { dirs, mailLog } = mailSetup({ 'filter.d/cat.conf': FILTER });
    trees.push(dirs);
    const catLog = join(dirs.root, 'cat.log');
    writeFileSync(catLog, '');
    appendFileSync(
      join(dirs.config, 'jail.d/test.local'),
      `\n[cat]\nenabled = true\nfilter = cat\nlogpath = ${catLog}\nmaxretry = 1\ndatepattern = {NONE}\n`,
    );
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    assert.match(daemon.log(), /\[cat\] .*cat\.conf:2: failregex can backtrack catastrophically at \(a\+\)\+/);
    const pings: number[] = [];
    let pinging = true;
    const pinger = (async () => {
      while (pinging) {
        const t0 = Date.now();
        await control(dirs).request({ cmd: 'ping' });
        pings.push(Date.now() - t0);
        await sleep(20);
      }
    })();
    // 29 × `a` took 36 s unguarded (doubling with each `a`); 40 would take hours.
    appendFileSync(catLog, hostile(29) + hostile(40) + hostile(35) + hostile(50));
    await sleep(50);
    const t0 = Date.now();
    appendFileSync(mailLog, dovecotFailure('203.0.113.91').repeat(3));
    await waitFor('the dovecot attacker banned', async () => (await allBans(dirs)).includes('dovecot 203.0.113.91') || null, 10_000);
    const banAfter = Date.now() - t0;
    appendFileSync(catLog, '203.0.113.92 aaa\n');
    await waitFor('an honest line of the guarded jail still matched', async () => (await allBans(dirs)).includes('cat 203.0.113.92') || null, 10_000);
    pinging = false;
    await pinger;
    const worst = Math.max(...pings);
    t.diagnostic(`ban in the other jail ${banAfter} ms after its lines; worst ping ${worst} ms over ${pings.length} pings`);
    assert.ok(banAfter < 1000, `the dovecot ban took ${banAfter} ms`);
    assert.ok(worst < 1000, `a ping took ${worst} ms`);
    assert.deepEqual(await allBans(dirs), ['cat 203.0.113.92', 'dovecot 203.0.113.91'], 'the hostile lines matched nothing');
    const skipped = daemon.log().split('\n').filter((l) => l.includes('[cat] Line skipped unmatched (too slow)'));
    assert.equal(skipped.length, 4, 'each hostile line logged as skipped');
    assert.equal(await daemon.stop(), 0);
  });

  it('portcullis regex with the filter finishes promptly and says which lines it skipped', { timeout: 30_000 }, async () => {
    const { dirs } = mailSetup({ 'filter.d/cat.conf': FILTER });
    trees.push(dirs);
    const log = join(dirs.root, 'hostile.log');
    writeFileSync(log, hostile(29) + hostile(40) + '203.0.113.93 aaa\n');
    const t0 = Date.now();
    const run = spawnSync(
      process.execPath,
      ['--enable-experimental-regexp-engine-on-excessive-backtracks', cliPath, 'regex', '--json', log, join(dirs.config, 'filter.d/cat.conf')],
      { encoding: 'utf8', timeout: 20_000 },
    );
    const took = Date.now() - t0;
    assert.equal(run.status, 0, run.stderr);
    assert.ok(took < 5000, `took ${took} ms`);
    assert.deepEqual(
      (JSON.parse(run.stdout) as { matches: Array<{ ip: string }> }).matches.map((m) => m.ip),
      ['203.0.113.93'],
    );
    assert.match(run.stderr, /cat\.conf:2: failregex can backtrack catastrophically/);
    assert.match(run.stderr, /2 line\(s\) skipped: matching took over \d+ ms/);
  });
});
