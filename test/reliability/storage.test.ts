// Case 4: the database's file system read-only or full. Proves that the daemon says so in one clear
// ERROR line, keeps banning in memory, writes the queued bans once the storage is writable again, and
// that those bans then survive a kill -9. The database lives on a small tmpfs of its own (needs root).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cli, control, type DaemonDirs, removeDirs, type RunningDaemon, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { addresses, allBans, dovecotFailure, mailSetup } from '../e2e/mail-log.js';

function mount(...args: string[]): string | null {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr.trim() || `mount exited with ${r.status}`);
}

/** Why a tmpfs cannot be mounted here, or null. */
function tmpfsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mounts a tmpfs for the database)';
  const dir = join('/tmp', `pc-rel-probe-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const failed = mount('-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir);
  if (failed === null) spawnSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  return failed === null ? null : `cannot mount a tmpfs: ${failed}`;
}

const skip = tmpfsUnavailable();

/** Fills the file system holding `dir` until it is full; returns the filler's path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}

describe('reliability: database on a read-only or full file system', { skip: skip ?? false }, () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  const mounts: string[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    for (const t of trees) removeDirs(t);
  });

  function setup(size: string) {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const lib = join(dirs.root, 'lib');
    mkdirSync(lib, { recursive: true });
    const failed = mount('-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', lib);
    if (failed !== null) throw new Error(`mount tmpfs on ${lib}: ${failed}`);
    mounts.push(lib);
    return { dirs, mailLog, lib };
  }

  async function failures(mailLog: string, ips: string[]): Promise<void> {
    let text = '';
    for (let k = 0; k < 3; k++) for (const ip of ips) text += dovecotFailure(ip);
    appendFileSync(mailLog, text);
  }

  it('read-only at start: one clear ERROR line, bans restored and made in memory, written once writable again', { timeout: 60_000 }, async () => {
    const { dirs, mailLog, lib } = setup('4m');
    let daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    await failures(mailLog, ['203.0.113.1']);
    await waitFor('first ban', async () => (await allBans(dirs)).includes('dovecot 203.0.113.1') || null);
    assert.equal(await daemon.stop(), 0);

    // The kernel refuses to remount read-only while the daemon holds the database open for writing
    // (EBUSY), so the file system goes read-only between two runs.
    assert.equal(mount('-o', 'remount,ro', lib), null);
    daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const errors = await waitFor('the read-only ERROR line', () => daemon.log().match(/^.*ERROR.*read-only.*$/gm));
    assert.equal(errors.length, 1, `one ERROR line, got: ${errors.join(' | ')}`);
    assert.match(errors[0]!, /database .*fail2ban\.sqlite3 is read-only: make the file and its directory writable/);
    assert.deepEqual(await allBans(dirs), ['dovecot 203.0.113.1'], 'the stored ban is restored from a read-only database');

    const fresh = addresses('172.23', 20);
    await failures(mailLog, fresh);
    await waitFor('bans in memory', async () => (await allBans(dirs)).length === 21 || null);
    assert.equal(await control(dirs).request({ cmd: 'ping' }), 'pong');

    assert.equal(mount('-o', 'remount,rw', lib), null);
    await waitFor('"database writable again" in the log', () => /NOTICE.*database writable again/.test(daemon.log()) || null, 10_000);
    await daemon.kill();
    daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    assert.equal((await allBans(dirs)).length, 21, 'bans made while read-only survive a kill -9 once written');
    assert.equal(await daemon.stop(), 0);
  });

  it('disk full at run time: one clear ERROR line, banning goes on in memory, queued bans written when space is freed', { timeout: 60_000 }, async () => {
    const { dirs, mailLog, lib } = setup('1m');
    let daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    await failures(mailLog, ['203.0.113.1']);
    await waitFor('first ban', async () => (await allBans(dirs)).includes('dovecot 203.0.113.1') || null);

    const filler = fill(lib);
    const attackers = addresses('172.24', 500);
    await failures(mailLog, attackers);
    await waitFor('500 more bans in memory', async () => (await allBans(dirs)).length === 501 || null, 10_000);
    const errors = await waitFor('the disk-full ERROR line', () => daemon.log().match(/^.*ERROR.*disk full.*$/gm), 5000);
    assert.equal(errors.length, 1, `one ERROR line, got: ${errors.join(' | ')}`);
    assert.match(errors[0]!, /database .*fail2ban\.sqlite3: disk full; free space on its file system/);
    assert.equal(await control(dirs).request({ cmd: 'ping' }), 'pong');

    rmSync(filler);
    await waitFor('"database writable again" in the log', () => /NOTICE.*database writable again/.test(daemon.log()) || null, 10_000);
    await daemon.kill();
    daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    assert.equal((await allBans(dirs)).length, 501, 'bans made while the disk was full survive a kill -9 once written');
    assert.equal(await daemon.stop(), 0);
  });

  it('disk full: a manual ban says it is not saved (exit 1), and is saved once space is freed', { timeout: 60_000 }, async () => {
    const { dirs, lib } = setup('1m');
    let daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    const filler = fill(lib);
    const r = cli(dirs, ['ban', 'custom', '203.0.113.9']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^portcullis: custom: 1 ban\(s\) in the firewall, but not saved: database .*disk full.*; kept in memory and written once the database takes them\n$/);
    assert.equal(r.stdout, '');
    rmSync(filler);
    await waitFor('"database writable again" in the log', () => /NOTICE.*database writable again/.test(daemon.log()) || null, 10_000);
    await daemon.kill();
    daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    assert.deepEqual(await allBans(dirs), ['custom 203.0.113.9'], 'the manual ban survived a kill -9');
    assert.equal(await daemon.stop(), 0);
  });
});
