// Case 8: broken configuration trees. Proves that `portcullis server -c BAD` exits 3 with exactly one
// line `portcullis: FILE:LINE: what is wrong` (no stack trace) for every kind of error, and that a
// failed `reload` keeps the running configuration, its jails and its bans.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  cliPath,
  control,
  type DaemonDirs,
  daemonDirs,
  removeDirs,
  type RunningDaemon,
  startDaemon,
  waitFor,
  writeConfig,
} from '../e2e/daemon-process.js';
import { allBans, dovecotFailure, jailStatus, mailSetup } from '../e2e/mail-log.js';

interface Broken {
  files: Record<string, string>;
  /** The file (relative to the config dir) and line the message must name. */
  at: [string, number];
  /** What the message must say. */
  says: RegExp;
  /** A known product bug: the case runs but does not fail CI. */
  todo?: string;
}

const jail = (body: string) => `[dovecot]\nenabled = true\nlogpath = /dev/null\n${body}\n`;

const broken: Record<string, Broken> = {
  'bad duration': { files: { 'jail.local': jail('bantime = 10x') }, at: ['jail.local', 4], says: /bantime|duration|10x/ },
  'bad integer': { files: { 'jail.local': jail('maxretry = three') }, at: ['jail.local', 4], says: /maxretry|three/ },
  'unknown action': { files: { 'jail.local': jail('action = nosuchaction') }, at: ['jail.local', 4], says: /nosuchaction/ },
  'interpolation loop': {
    files: { 'jail.local': `[DEFAULT]\na = %(b)s\nb = %(a)s\n\n${jail('bantime = %(a)s')}` },
    at: ['jail.local', 8],
    says: /bantime: interpolation nests deeper than 10 levels \(a -> b -> a .*is there a loop\?/,
  },
  'unterminated section header': { files: { 'jail.local': '[dovecot\nenabled = true\n' }, at: ['jail.local', 1], says: /\[dovecot/ },
  'option before any section': { files: { 'jail.local': 'enabled = true\n[dovecot]\n' }, at: ['jail.local', 1], says: /section/ },
  'option set twice': { files: { 'jail.local': jail('maxretry = 3\nmaxretry = 4') }, at: ['jail.local', 5], says: /twice/ },
  'bad regex': {
    files: {
      'filter.d/broken.conf': '[Definition]\nfailregex = ^auth failed from (<HOST>\n',
      'jail.local': jail('filter = broken'),
    },
    at: ['filter.d/broken.conf', 2],
    says: /failregex 1: missing \)/,
  },
  'failregex without a host': {
    files: { 'filter.d/nohost.conf': '[Definition]\nfailregex = ^auth failed$\n', 'jail.local': jail('filter = nohost') },
    at: ['filter.d/nohost.conf', 2],
    says: /captures no host/,
  },
  'bad ignoreip': {
    files: { 'jail.local': jail('ignoreip = 300.1.2.3') },
    at: ['jail.local', 4],
    says: /300\.1\.2\.3/,
  },
};

/**
 * Mistakes Fail2Ban tolerates (it logs them and goes on), and so does portcullis on purpose: the server
 * starts and says so in one WARNING line.
 */
const tolerated: Record<string, { files: Record<string, string>; warning: RegExp }> = {
  'missing include': {
    files: { 'jail.local': `[INCLUDES]\nbefore = does-not-exist.conf\n\n${jail('')}` },
    warning: /WARNING .*jail\.local: included file does-not-exist\.conf does not exist; ignored/,
  },
  'unknown filter': {
    files: { 'jail.local': jail('filter = nosuchfilter') },
    warning: /WARNING .*jail "dovecot" asks for filter "nosuchfilter", but there is no filter\.d\/nosuchfilter\.conf .*the jail runs without a filter/,
  },
};

function runServer(dirs: DaemonDirs) {
  return spawnSync(
    process.execPath,
    [cliPath, 'server', '-c', dirs.config, '-s', dirs.socket, '-p', dirs.pidfile, '--dbfile', dirs.dbfile, '--logtarget', dirs.logfile, '--dry-run'],
    // A server that starts instead of refusing the configuration is stopped after 5 s (and fails the case).
    { encoding: 'utf8', timeout: 5000 },
  );
}

describe('reliability: broken configuration', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  for (const [name, { files, at, says, todo }] of Object.entries(broken)) {
    it(`${name}: server exits 3 with one "file:line: ..." line and no stack trace`, { todo: todo ?? false }, () => {
      const dirs = daemonDirs();
      trees.push(dirs);
      writeConfig(dirs, files);
      const run = runServer(dirs);
      const lines = run.stderr.split('\n').filter((l) => l !== '');
      assert.equal(run.status, 3, `exit code (stderr: ${run.stderr.trim()})`);
      assert.equal(lines.length, 1, `one line, got:\n${run.stderr}`);
      const [file, line] = at;
      assert.ok(
        lines[0]!.startsWith(`portcullis: ${join(dirs.config, file)}:${line}: `),
        `"${lines[0]}" names ${file}:${line}`,
      );
      assert.match(lines[0]!, says);
      assert.doesNotMatch(run.stderr, /\n\s+at |internal error/);
    });
  }

  for (const [name, { files, warning }] of Object.entries(tolerated)) {
    it(`${name}: tolerated as Fail2Ban does, the server starts and logs one WARNING line`, async () => {
      const dirs = daemonDirs();
      trees.push(dirs);
      writeConfig(dirs, files);
      const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
      running.push(daemon);
      assert.equal(daemon.log().match(new RegExp(warning.source, 'gm'))?.length, 1, daemon.log());
      assert.equal(await daemon.stop(), 0);
    });
  }

  it('a failed reload keeps the running jails and their bans; a fixed config then reloads', { timeout: 30_000 }, async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    appendFileSync(mailLog, dovecotFailure('203.0.113.40').repeat(3));
    await waitFor('ban', async () => (await allBans(dirs)).includes('dovecot 203.0.113.40') || null);
    const jails = await control(dirs).request({ cmd: 'jails' });

    writeConfig(dirs, { 'jail.local': '[dovecot]\nbantime = 10x\n' });
    await assert.rejects(control(dirs).request({ cmd: 'reload' }), (err: Error) => {
      assert.match(err.message, /jail\.local:2: .*10x/);
      return true;
    });
    assert.match(daemon.log(), /ERROR.*reload failed, keeping the running configuration: .*jail\.local:2:/);
    assert.deepEqual(await control(dirs).request({ cmd: 'jails' }), jails, 'same jails');
    assert.deepEqual(await allBans(dirs), ['dovecot 203.0.113.40'], 'bans intact');
    // Still counting with the old configuration.
    appendFileSync(mailLog, dovecotFailure('203.0.113.41').repeat(3));
    await waitFor('ban after the failed reload', async () => (await allBans(dirs)).includes('dovecot 203.0.113.41') || null);

    writeConfig(dirs, { 'jail.local': '[dovecot]\nbantime = 1h\n' });
    assert.equal(await control(dirs).request({ cmd: 'reload' }), null);
    assert.deepEqual(await allBans(dirs), ['dovecot 203.0.113.40', 'dovecot 203.0.113.41'], 'bans carried over the reload');
    assert.equal(await control(dirs).request({ cmd: 'get', jail: 'dovecot', key: 'bantime' }), 3600);
    assert.equal((await jailStatus(dirs, 'dovecot')).currentlyBanned, 2);
    assert.equal(await daemon.stop(), 0);
  });

  it('a reload whose filter regex does not compile keeps the running jail, its filter and its bans', { timeout: 30_000 }, async () => {
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    running.push(daemon);
    appendFileSync(mailLog, dovecotFailure('203.0.113.50').repeat(3));
    await waitFor('ban', async () => (await allBans(dirs)).includes('dovecot 203.0.113.50') || null);

    writeConfig(dirs, { 'filter.d/dovecot.local': '[Definition]\nfailregex = ^broken (<HOST>\n' });
    const reload = await control(dirs).request({ cmd: 'reload' }).then(
      () => 'accepted',
      (err: Error) => err.message,
    );
    assert.match(reload, /dovecot\.local|failregex/, 'the reload is refused with the reason');
    assert.ok((await control(dirs).request({ cmd: 'jails' })).includes('dovecot'), 'the jail still exists');
    assert.deepEqual(await allBans(dirs), ['dovecot 203.0.113.50'], 'bans intact');
    appendFileSync(mailLog, dovecotFailure('203.0.113.51').repeat(3));
    await waitFor('the old filter still bans', async () => (await allBans(dirs)).includes('dovecot 203.0.113.51') || null);
    assert.equal(daemon.child.exitCode, null);
  });
});
