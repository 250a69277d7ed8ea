// The kernel side under faults (issue 16) and DMS's listing (issue 10), with the real daemon, real nft,
// each daemon in its own network namespace. Every case checks that nothing acknowledged is lost, that
// only the right addresses are in the kernel, and what the admin sees.
//  - bans longer than nft's element timeouts accept (4 years), with and without element_timeouts;
//  - one jail's firewall refusing: the other jails, a reload and start-up go on;
//  - kernel elements the database lacks are adopted at start; those it records as over are lifted;
//  - the periodic check repairs `nft flush set` / `nft delete element`, reports an `accept` before ours;
//  - FAIL2BAN_BLOCKTYPE through action.d/nftables-common.local, started as `fail2ban-server -xf start`;
//  - a hanging nft at start is reported as a timeout.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { commandRunner } from '../../src/firewall/runner.js';
import { Daemon } from '../../src/server/daemon.js';
import { cli, type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor, writeConfig } from '../e2e/daemon-process.js';
import { dovecotFailure, jailStatus, mailSetup } from '../e2e/mail-log.js';
import { createPair, inNamespace, type Listener, listen, netnsUnavailable, type Pair, tryConnect } from '../e2e/netns.js';

const skip = netnsUnavailable(['nft']) ?? false;
const realNft = spawnSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).stdout.trim();

function nftIn(ns: string, args: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', `${realNft} ${args}`], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The elements of a jail's IPv4 set as nft lists them, or null when the set does not exist. */
function kernelSet(ns: string, jail: string): string | null {
  const r = nftIn(ns, `list set inet f2b-table addr-set-${jail}`);
  return r.status === 0 ? r.stdout : null;
}

/** Every IPv4 element of a jail's set (parsed from `nft -j`). */
function kernelElements(ns: string, jail: string): string[] {
  const r = nftIn(ns, `-j list set inet f2b-table addr-set-${jail}`);
  if (r.status !== 0) return [];
  const parsed = JSON.parse(r.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  const out: string[] = [];
  for (const item of parsed.nftables) {
    for (const e of item.set?.elem ?? []) {
      if (typeof e === 'string') out.push(e);
      else if (typeof e === 'object' && e !== null && 'prefix' in e) {
        const p = (e as { prefix: { addr: string; len: number } }).prefix;
        out.push(`${p.addr}/${p.len}`);
      } else if (typeof e === 'object' && e !== null && 'elem' in e) out.push(String((e as { elem: { val: unknown } }).elem.val));
    }
  }
  return out.sort();
}

/** A fake `nft` first on PATH: passes through to the real one unless the mode file says otherwise. */
function fakeNft(dirs: DaemonDirs): { env: NodeJS.ProcessEnv; mode: (m: string) => void } {
  const bin = join(dirs.root, 'bin');
  mkdirSync(bin, { recursive: true });
  const modeFile = join(dirs.root, 'nft-mode');
  writeFileSync(modeFile, 'pass');
  writeFileSync(
    join(bin, 'nft'),
    `#!/bin/sh
input=$(cat)
case "$(cat '${modeFile}')" in
  hang) exec sleep 60 ;;
  refuse-postfix) case "$* $input" in *set-postfix*) echo "Error: Could not process rule: No buffer space available (injected for postfix)" >&2; exit 1 ;; esac ;;
  refuse-66) case "$input" in *198.51.100.66*) echo "Error: Could not process rule: Numerical result out of range (injected for 198.51.100.66)" >&2; exit 1 ;; esac ;;
esac
printf '%s\\n' "$input" | exec '${realNft}' "$@"
`,
  );
  chmodSync(join(bin, 'nft'), 0o755);
  // The fake nft sees element writes only on the nft path: netlink (the default) goes around it.
  return { env: { PATH: `${bin}:${process.env.PATH}`, PORTCULLIS_NETLINK: 'off' }, mode: (m) => writeFileSync(modeFile, m) };
}

describe('reliability: the kernel side of bans (real nft, network namespaces)', { skip, concurrency: false }, () => {
  let pair: Pair | null = null;
  let daemon: RunningDaemon | null = null;
  let inProcess: Daemon | null = null;
  const trees: DaemonDirs[] = [];
  let listener: Listener | null = null;

  afterEach(async () => {
    await daemon?.kill();
    daemon = null;
    await inProcess?.shutdown();
    inProcess = null;
    await listener?.close();
    listener = null;
    pair?.destroy();
    pair = null;
  });
  after(() => {
    for (const t of trees) removeDirs(t);
  });

  function setup(files: Record<string, string> = {}, jailExtra = '') {
    pair = createPair('fk');
    const s = mailSetup(files, jailExtra);
    trees.push(s.dirs);
    return { ...s, ns: pair.server };
  }

  it('a 4-year ban is in the kernel and survives a restart, with and without element_timeouts', { timeout: 60_000 }, async () => {
    for (const timeouts of [false, true]) {
      const files: Record<string, string> = timeouts ? { 'action.d/nftables-common.local': '[Init]\nelement_timeouts = true\n' } : {};
      const { dirs, ns } = setup(files, 'bantime = 4y\n');
      daemon = await startDaemon(dirs, { prefix: inNamespace(ns) });
      const r = cli(dirs, ['ban', 'dovecot', '203.0.113.40', '203.0.113.41']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(kernelElements(ns, 'dovecot'), ['203.0.113.40', '203.0.113.41']);
      const listing = kernelSet(ns, 'dovecot') ?? '';
      assert.match(listing, timeouts ? /flags interval,timeout/ : /flags interval\n/);
      assert.doesNotMatch(listing, /expires/, 'a ban beyond what nft accepts carries no kernel timeout');
      assert.equal(await daemon.stop(), 0);
      daemon = await startDaemon(dirs, { prefix: inNamespace(ns) });
      assert.deepEqual(kernelElements(ns, 'dovecot'), ['203.0.113.40', '203.0.113.41'], `after restart (element_timeouts ${timeouts})`);
      assert.doesNotMatch(daemon.log(), /value too large|ERROR/);
      await daemon.stop();
      daemon = null;
      pair?.destroy();
    }
  });

  it('without element timeouts the daemon itself deletes ended bans from the kernel, in one batch', { timeout: 60_000 }, async () => {
    const { dirs, ns } = setup({}, 'bantime = 2\n');
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns) });
    const ips = Array.from({ length: 200 }, (_, i) => `198.51.100.${i + 1}`);
    assert.equal(cli(dirs, ['ban', 'dovecot', ...ips]).status, 0);
    assert.equal(kernelElements(ns, 'dovecot').length, 200);
    assert.doesNotMatch(kernelSet(ns, 'dovecot') ?? '', /timeout|expires/);
    await waitFor('the ended bans gone from the kernel', () => kernelElements(ns, 'dovecot').length === 0 || null, 10_000);
    assert.equal((await jailStatus(dirs, 'dovecot')).currentlyBanned, 0);
    await waitFor('200 Unban lines', () => daemon!.log().match(/NOTICE.*\[dovecot\] Unban /g)?.length === 200 || null, 5000);
    assert.doesNotMatch(daemon.log(), /ERROR/);
  });

  it('a flood of 20,000 new addresses: every ban reaches the kernel in a few batches, a manual ban gets through, nothing else is banned', { timeout: 120_000 }, async () => {
    const { dirs, ns, mailLog } = setup({}, 'maxretry = 1\nfindtime = 1d\n');
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns), args: ['--loglevel', 'WARNING'] });
    const attackers = Array.from({ length: 20_000 }, (_, n) => `10.77.${n >> 8}.${n & 255}`);
    const started = Date.now();
    for (let i = 0; i < attackers.length; i += 2000) {
      appendFileSync(mailLog, attackers.slice(i, i + 2000).map((ip) => dovecotFailure(ip)).join(''));
      if (i === 10_000) {
        const t0 = Date.now();
        assert.equal(cli(dirs, ['ban', 'dovecot', '192.0.2.250']).status, 0);
        const manualMs = Date.now() - t0;
        assert.ok(kernelElements(ns, 'dovecot').includes('192.0.2.250'), 'the manual ban is in the kernel when the command returns');
        assert.ok(manualMs < 10_000, `manual ban took ${manualMs} ms`);
      }
      await sleep(50);
    }
    await waitFor('20,001 elements in the kernel', () => kernelElements(ns, 'dovecot').length === 20_001 || null, 60_000);
    const tookMs = Date.now() - started;
    assert.deepEqual(kernelElements(ns, 'dovecot'), [...attackers, '192.0.2.250'].sort(), 'exactly the attackers and the manual ban');
    assert.equal((await jailStatus(dirs, 'dovecot')).currentlyBanned, 20_001);
    assert.ok(tookMs < 60_000);
  });

  it('one jail whose firewall commands fail: start-up, the other jail, and a reload go on; the check repairs it later', { timeout: 60_000 }, async () => {
    const { dirs, ns, mailLog } = setup();
    const fake = fakeNft(dirs);
    fake.mode('refuse-postfix');
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns), env: fake.env, args: ['--check-interval', '0.5'] });
    assert.equal(daemon.child.exitCode, null, 'the daemon started');
    appendFileSync(mailLog, dovecotFailure('203.0.113.50').repeat(3));
    await waitFor('the dovecot ban in the kernel', () => kernelElements(ns, 'dovecot').includes('203.0.113.50') || null, 5000);
    const ban = cli(dirs, ['ban', 'postfix', '203.0.113.51']);
    assert.equal(ban.status === 0 || ban.status === 1, true, ban.stderr);
    const status = await jailStatus(dirs, 'postfix');
    assert.ok((status.problems ?? []).some((p: string) => /injected for postfix/.test(p)), JSON.stringify(status.problems));
    await waitFor('the ERROR line', () => /ERROR.*\[postfix\].*injected for postfix/.test(daemon!.log()) || null, 5000);
    const reload = cli(dirs, ['reload']);
    assert.equal(reload.status, 0, reload.stderr);
    assert.deepEqual(kernelElements(ns, 'dovecot'), ['203.0.113.50'], 'dovecot keeps its ban through the reload');
    fake.mode('pass');
    await waitFor('the postfix ban repaired by the check', () => kernelElements(ns, 'postfix').includes('203.0.113.51') || null, 10_000);
    assert.deepEqual(kernelElements(ns, 'postfix'), ['203.0.113.51']);
  });

  it("stored bans at start, one jail's sets refused: the socket answers with every other jail's bans in the kernel (netlink), the refused jail keeps its bans", { timeout: 60_000 }, async () => {
    const { dirs, ns } = setup();
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns) });
    assert.equal(cli(dirs, ['ban', 'dovecot', '203.0.113.80', '203.0.113.81']).status, 0);
    assert.equal(cli(dirs, ['ban', 'postfix', '203.0.113.82']).status, 0);
    await daemon.stop(); // the table goes with it; the bans stay in the database
    daemon = null;
    assert.equal(kernelSet(ns, 'dovecot'), null);
    const fake = fakeNft(dirs);
    fake.mode('refuse-postfix');
    // Netlink on: the jails' objects are made side by side through nft, their elements go through netlink.
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns), env: { ...fake.env, PORTCULLIS_NETLINK: 'on' }, args: ['--check-interval', '600'] });
    // startDaemon returns at the first answer on the socket: the restored bans are in the kernel by then.
    assert.deepEqual(kernelElements(ns, 'dovecot'), ['203.0.113.80', '203.0.113.81']);
    assert.equal(kernelSet(ns, 'postfix'), null, 'the refused set was not made');
    assert.match(daemon.log(), /NOTICE.*\[dovecot\] Restored 2 ban\(s\)/);
    assert.match(daemon.log(), /ERROR.*\[postfix\].*injected for postfix/);
    const postfix = await jailStatus(dirs, 'postfix');
    assert.deepEqual([...postfix.bannedIps], ['203.0.113.82'], 'the refused jail runs with its ban');
    assert.ok((postfix.problems ?? []).some((p: string) => /injected for postfix/.test(p)), JSON.stringify(postfix.problems));
    assert.deepEqual([...(await jailStatus(dirs, 'dovecot')).bannedIps].sort(), ['203.0.113.80', '203.0.113.81']);
  });

  it('an element nft refuses does not keep the rest of its batch out of the kernel', { timeout: 60_000 }, async () => {
    const { dirs, ns } = setup();
    const fake = fakeNft(dirs);
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns), env: fake.env, args: ['--check-interval', '0.5'] });
    fake.mode('refuse-66');
    const ips = ['198.51.100.61', '198.51.100.62', '198.51.100.66', '198.51.100.64', '198.51.100.65'];
    cli(dirs, ['ban', 'dovecot', ...ips]);
    assert.deepEqual(kernelElements(ns, 'dovecot'), ['198.51.100.61', '198.51.100.62', '198.51.100.64', '198.51.100.65']);
    await waitFor('the ERROR line', () => /ERROR.*\[dovecot\].*injected for 198\.51\.100\.66/.test(daemon!.log()) || null, 5000);
    const status = await jailStatus(dirs, 'dovecot');
    assert.ok((status.problems ?? []).some((p: string) => /injected for 198\.51\.100\.66/.test(p)));
    assert.deepEqual([...status.bannedIps].sort(), [...ips].sort(), 'every acknowledged ban is kept');
    fake.mode('pass');
    await waitFor('the refused ban put in by the check', () => kernelElements(ns, 'dovecot').length === 5 || null, 10_000);
  });

  it('kernel bans the database lacks are adopted at start; ones it records as over are lifted', { timeout: 60_000 }, async () => {
    const { dirs, ns } = setup({ 'jail.d/short.local': '[postfix]\nbantime = 3\n' });
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns) });
    assert.equal(cli(dirs, ['ban', 'dovecot', '203.0.113.60']).status, 0);
    assert.equal(cli(dirs, ['ban', 'postfix', '203.0.113.61']).status, 0);
    assert.deepEqual(kernelElements(ns, 'postfix'), ['203.0.113.61']);
    await daemon.kill(); // kill -9: rules and elements stay in the kernel
    await sleep(3500); // the postfix ban ends while the daemon is down
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns) });
    assert.deepEqual(kernelElements(ns, 'dovecot'), ['203.0.113.60']);
    assert.deepEqual(kernelElements(ns, 'postfix'), [], 'the ban that ended while down is lifted, not adopted');
    await waitFor('the NOTICE line', () => /NOTICE.*\[postfix\] Lifting 1 kernel ban\(s\) that ended while the daemon was down/.test(daemon!.log()) || null, 5000);
    await daemon.kill();
    // The database is lost: the kernel's element must not be.
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${dirs.dbfile}${suffix}`, { force: true });
    nftIn(ns, 'add element inet f2b-table addr-set-dovecot { 198.51.100.62 }');
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns) });
    assert.deepEqual(kernelElements(ns, 'dovecot'), ['198.51.100.62', '203.0.113.60']);
    await waitFor('the WARNING line', () => /WARNING.*\[dovecot\] Adopted 2 ban\(s\) found in the kernel but not in the database: /.test(daemon!.log()) || null, 5000);
    const status = await jailStatus(dirs, 'dovecot');
    assert.deepEqual([...status.bannedIps].sort(), ['198.51.100.62', '203.0.113.60']);
    assert.equal(cli(dirs, ['unban', '198.51.100.62']).status, 0);
    assert.deepEqual(kernelElements(ns, 'dovecot'), ['203.0.113.60'], 'an adopted ban is an ordinary ban');
  });

  it('the periodic check puts back a flushed set and a deleted element, and reports an accept rule before ours', { timeout: 60_000 }, async () => {
    const { dirs, ns } = setup();
    daemon = await startDaemon(dirs, { prefix: inNamespace(ns), args: ['--check-interval', '0.3'] });
    assert.equal(cli(dirs, ['ban', 'dovecot', '203.0.113.70', '203.0.113.71']).status, 0);
    assert.equal(nftIn(ns, 'flush set inet f2b-table addr-set-dovecot').status, 0);
    await waitFor('the flushed set refilled', () => kernelElements(ns, 'dovecot').length === 2 || null, 5000);
    assert.equal(nftIn(ns, 'delete element inet f2b-table addr-set-dovecot { 203.0.113.71 }').status, 0);
    await waitFor('the deleted element back', () => kernelElements(ns, 'dovecot').includes('203.0.113.71') || null, 5000);
    assert.deepEqual(kernelElements(ns, 'dovecot'), ['203.0.113.70', '203.0.113.71']);
    await waitFor('the ERROR line', () => /ERROR.*\[dovecot\] 2 ban\(s\) were missing from the kernel; put them back/.test(daemon!.log()) || null, 5000);
    assert.equal(nftIn(ns, 'insert rule inet f2b-table f2b-chain ip saddr 203.0.113.70 accept').status, 0);
    const problem = await waitFor(
      'the bypass rule in status',
      async () => ((await jailStatus(dirs, "dovecot")).problems ?? []).find((p: string) => /lets banned addresses in/.test(p)),
      5000,
    );
    assert.match(problem, /rule "ip saddr 203\.0\.113\.70 accept" \(handle \d+\) in f2b-table f2b-chain comes before this jail's rule/);
    // The daemon log is written asynchronously: the line may follow the status answer by a moment.
    await waitFor('the WARNING line', () => /WARNING.*\[dovecot\] rule "ip saddr 203\.0\.113\.70 accept"/.test(daemon!.log()) || null, 5000);
    assert.equal(cli(dirs, ['status', 'dovecot']).status, 0);
  });

  for (const [label, files, verdict, seen] of [
    ['FAIL2BAN_BLOCKTYPE=reject (DMS writes nothing): the rule says reject', {}, 'reject', 'refused'],
    ['FAIL2BAN_BLOCKTYPE=drop (DMS writes nftables-common.local): the rule says drop', { 'action.d/nftables-common.local': '[Init]\nblocktype = drop\n' }, 'drop', 'timeout'],
  ] as const) {
    it(`fail2ban-server -xf start: ${label}`, { timeout: 60_000 }, async () => {
      const { dirs, ns } = setup(files);
      writeConfig(dirs, { 'fail2ban.local': `[Definition]\nlogtarget = ${dirs.logfile}\ndbfile = ${dirs.dbfile}\n` });
      listener = await listen(ns, [143]);
      const shim = new URL('../../src/cli/fail2ban-server.cjs', import.meta.url).pathname;
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, shim, '-c', dirs.config, '-s', dirs.socket, '-p', dirs.pidfile, '-xf', 'start'], {
        stdio: 'ignore',
      });
      try {
        await waitFor('the socket', () => (cli(dirs, ['ping']).status === 0 ? true : null), 15_000);
        assert.equal(cli(dirs, ['ban', 'dovecot', pair!.attackerV4]).status, 0);
        const table = nftIn(ns, 'list table inet f2b-table').stdout;
        assert.match(table, new RegExp(`tcp dport \\{ 110, 143, 465, 587, 993, 995, 4190 \\} ip saddr @addr-set-dovecot ${verdict}`));
        assert.equal(await tryConnect(pair!.attacker, pair!.serverV4, 143, 800), seen);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    });
  }

  it('a hanging nft at start: one line saying it timed out (exit code 1), not "kernel lacks nftables sets"', { timeout: 30_000 }, async () => {
    const { dirs, ns } = setup();
    const fake = fakeNft(dirs);
    fake.mode('hang');
    const bin = (fake.env.PATH ?? '').split(':')[0] as string;
    inProcess = Daemon.open({
      configDir: dirs.config,
      socket: dirs.socket,
      pidfile: dirs.pidfile,
      dbfile: dirs.dbfile,
      logtarget: dirs.logfile,
      firewallRunner: (argv, stdin) => commandRunner(inNamespace(ns), 500)([argv[0] === 'nft' ? join(bin, 'nft') : (argv[0] as string), ...argv.slice(1)], stdin),
    });
    const started = Date.now();
    await assert.rejects(inProcess.start(), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.exitCode, 1);
      assert.match(err.message, /^cannot check the firewall: .*nft did not finish within 0\.5 s and was killed; /);
      assert.doesNotMatch(err.message, /lacks/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000);
    inProcess = null;
  });
});
