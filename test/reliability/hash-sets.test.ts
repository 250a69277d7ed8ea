// A kernel without nftables interval sets (DMS issue 3897, some NAS kernels): the daemon falls back to
// plain hash sets with one WARNING line instead of refusing to start. The kernel here has interval sets,
// so a wrapper `nft` first on the daemon's PATH refuses every script that creates a set with
// `flags interval` exactly as the NAS kernel does (the same stderr line, exit 1) and passes everything
// else to the real nft, which runs in a network namespace. Checked: the WARNING, bans in a plain hash
// set, a banned client's packets dropped, unban, restart and reload, a set left as an interval set by
// an earlier run, `status` and `doctor`, and subnet bans (manual and ipv4_subnet) refused with one clear
// line while the store keeps them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cli, type DaemonDirs, removeDirs, type RunningDaemon, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { dovecotFailure, jailStatus, mailSetup, postfixSaslFailure } from '../e2e/mail-log.js';
import { createPair, inNamespace, type Listener, listen, netnsUnavailable, type Pair, tryConnect } from '../e2e/netns.js';

const skip = netnsUnavailable(['nft']) ?? false;
const realNft = spawnSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).stdout.trim();
const IMAP = 143;
/** DMS issue 3897's error, as nft prints a kernel's refusal of one line of a `-f` script. */
const REFUSAL = 'Error: Could not process rule: Operation not supported';

/** The NAS kernel at the nft boundary: a `nft` that refuses interval sets, first on PATH. */
function nasNft(dirs: DaemonDirs): string {
  const bin = join(dirs.root, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'nft'),
    `#!/bin/sh
case " $* " in
  *" -f "*)
    input=$(cat)
    case "$input" in
      *"flags interval"*)
        printf '%s\\n' "$input" | awk '/flags interval/ { c = ""; for (i = 0; i < length($0); i++) c = c "^"; printf "/dev/stdin:%d:1-%d: ${REFUSAL}\\n%s\\n%s\\n", NR, length($0), $0, c }' >&2
        exit 1 ;;
    esac
    printf '%s\\n' "$input" | exec '${realNft}' "$@" ;;
esac
exec '${realNft}' "$@"
`,
  );
  chmodSync(join(bin, 'nft'), 0o755);
  return `${bin}:${process.env.PATH}`;
}

function nftIn(ns: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, realNft, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `nft list set` of the jail's IPv4 set (empty when it does not exist). */
function listSet(ns: string, jail: string): string {
  return nftIn(ns, ['list', 'set', 'inet', 'f2b-table', `addr-set-${jail}`]).stdout;
}

describe('reliability: a kernel without nftables interval sets (DMS issue 3897)', { skip, concurrency: false }, () => {
  const trees: DaemonDirs[] = [];
  after(() => {
    for (const t of trees) removeDirs(t);
  });

  it('falls back to plain hash sets: bans drop packets, unban, restart, reload; subnet bans are refused and kept', { timeout: 90_000 }, async () => {
    let pair: Pair | null = createPair('hs');
    let daemon: RunningDaemon | null = null;
    let imap: Listener | null = null;
    try {
      const ns = pair.server;
      const { dirs, mailLog } = mailSetup(
        { 'jail.d/subnet.local': '[postfix]\nipv4_subnet = 24\n' },
        'maxretry = 1\nblocktype = drop\n',
      );
      trees.push(dirs);
      const path = nasNft(dirs);
      // An interval set left by an earlier run on a kernel that had them (the wrapper is not in the way).
      const seeded = spawnSync('ip', ['netns', 'exec', ns, realNft, '-f', '-'], {
        encoding: 'utf8',
        input: 'add table inet f2b-table\nadd set inet f2b-table addr-set-dovecot { type ipv4_addr; flags interval; }\nadd element inet f2b-table addr-set-dovecot { 203.0.113.9 }\n',
      });
      assert.equal(seeded.status, 0, seeded.stderr);
      // The wrapper refuses interval sets as the NAS kernel does.
      const refused = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
        encoding: 'utf8',
        env: { ...process.env, PATH: path },
        input: 'add table inet t\nadd set inet t s { type ipv4_addr; flags interval; }\n',
      });
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, new RegExp(`^/dev/stdin:2:1-52: ${REFUSAL}\n`));
      assert.equal(refused.stderr.split('\n').length, 4, 'the error, the line, the carets');

      imap = await listen(ns, [IMAP]);
      daemon = await startDaemon(dirs, { prefix: inNamespace(ns), env: { PATH: path }, args: ['--check-interval', '0.5'] });
      assert.equal(daemon.child.exitCode, null, 'the daemon started');
      const warnings = daemon.log().match(/WARNING.*interval sets.*/g) ?? [];
      assert.equal(warnings.length, 1, daemon.log());
      assert.match(
        warnings[0] ?? '',
        /nftables: this kernel refuses nftables interval sets \(Error: Could not process rule: Operation not supported\): using plain hash sets instead; single-address bans work as usual, but subnet bans .* cannot be enforced/,
      );
      // The earlier run's interval set is now a hash set; its element was carried over and adopted.
      const first = listSet(ns, 'dovecot');
      assert.doesNotMatch(first, /flags interval/);
      assert.match(first, /type ipv4_addr/);
      assert.match(first, /203\.0\.113\.9/);

      // A failure from the attacker: banned in a plain hash set, its packets dropped.
      assert.equal(await tryConnect(pair.attacker, pair.serverV4, IMAP), 'connected', 'before the ban');
      appendFileSync(mailLog, dovecotFailure(pair.attackerV4));
      await waitFor('the attacker in the hash set', () => listSet(ns, 'dovecot').includes(pair!.attackerV4), 10_000);
      assert.doesNotMatch(listSet(ns, 'dovecot'), /interval/);
      assert.equal(await tryConnect(pair.attacker, pair.serverV4, IMAP, 800), 'timeout', 'the banned address is dropped');

      // status and doctor say the fallback is active.
      const status = await jailStatus(dirs, 'dovecot');
      assert.ok(status.problems?.some((p: string) => /^nftables: this kernel refuses nftables interval sets/.test(p)), JSON.stringify(status.problems));
      const doctor = cli(dirs, ['doctor', '-c', dirs.config], ['env', `PATH=${path}`, ...inNamespace(ns)]);
      assert.equal(doctor.status, 1, doctor.stdout + doctor.stderr);
      assert.match(doctor.stdout, /refuses nftables interval sets \(Error: Could not process rule: Operation not supported\): using plain hash sets/);
      assert.match(doctor.stdout, /iptables-ipset/);

      // A manual subnet ban: refused with one line naming the kernel limit, logged, kept in the store.
      const subnet = cli(dirs, ['ban', 'dovecot', '198.51.100.0/24']);
      assert.equal(subnet.status, 1, subnet.stdout);
      assert.equal(subnet.stderr.trim().split('\n').length, 1, subnet.stderr);
      assert.match(subnet.stderr, /cannot enforce the subnet ban\(s\) 198\.51\.100\.0\/24: this kernel lacks nftables interval sets/);
      assert.doesNotMatch(subnet.stderr, /retries/, 'no retry is promised for what a hash set cannot hold');
      assert.match(daemon.log(), /ERROR.*\[dovecot\].*cannot enforce the subnet ban\(s\) 198\.51\.100\.0\/24/);
      assert.ok((await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.0/24'), 'the ban is recorded');
      assert.doesNotMatch(listSet(ns, 'dovecot'), /198\.51\.100/);
      // ipv4_subnet = 24: the jail's automatic ban is recorded as the /24 and refused the same way.
      appendFileSync(mailLog, postfixSaslFailure('198.51.100.77'));
      await waitFor('the /24 refusal', () => /ERROR.*\[postfix\].*cannot enforce the subnet ban\(s\) 198\.51\.100\.0\/24/.test(daemon!.log()), 10_000);
      assert.deepEqual((await jailStatus(dirs, 'postfix')).bannedIps, ['198.51.100.0/24']);

      // Unban lifts the single address from the hash set; the client connects again.
      const unban = cli(dirs, ['unban', pair.attackerV4]);
      assert.equal(unban.status, 0, unban.stderr);
      assert.doesNotMatch(listSet(ns, 'dovecot'), new RegExp(pair.attackerV4.replaceAll('.', '\\.')));
      assert.equal(await tryConnect(pair.attacker, pair.serverV4, IMAP), 'connected', 'after the unban');

      // Banned again, then a restart: the hash set holds it again, still dropped; the subnet is still recorded.
      assert.equal(cli(dirs, ['ban', 'dovecot', pair.attackerV4]).status, 0);
      assert.equal(await daemon.stop(), 0);
      daemon = await startDaemon(dirs, { prefix: inNamespace(ns), env: { PATH: path }, args: ['--check-interval', '0.5'] });
      const restarted = listSet(ns, 'dovecot');
      assert.doesNotMatch(restarted, /interval/);
      assert.match(restarted, new RegExp(pair.attackerV4.replaceAll('.', '\\.')));
      assert.equal(await tryConnect(pair.attacker, pair.serverV4, IMAP, 800), 'timeout', 'dropped after the restart');
      assert.ok((await jailStatus(dirs, 'dovecot')).bannedIps.includes('198.51.100.0/24'), 'the subnet ban survives the restart');
      // A reload keeps the hash set and its elements; no new set error.
      const reload = cli(dirs, ['reload']);
      assert.equal(reload.status, 0, reload.stderr);
      assert.match(listSet(ns, 'dovecot'), new RegExp(pair.attackerV4.replaceAll('.', '\\.')));
      assert.doesNotMatch(daemon.log(), /Operation not supported.*\n.*ERROR|ERROR.*Operation not supported/);
      assert.equal(await daemon.stop(), 0);
      daemon = null;
    } finally {
      await daemon?.kill();
      await imap?.close();
      pair?.destroy();
      pair = null;
    }
  });
});
