// What `portcullis ban` / `unban` tell the admin, against the real daemon and real nftables inside a
// network namespace, with a fake `nft` first on PATH that passes through until told to fail or hang:
// - addresses that must not be banned (loopback, too wide, ignoreip, this host's own, including one
//   added to the host after start) are refused with the reason and a non-zero exit;
// - a network with host bits is widened, and the CLI says so;
// - when the kernel refuses (nft failing, the table deleted) or nft hangs, the CLI says so and exits 1
//   within the confirmation time, never "server not running"; the ban is recorded and reaches the
//   kernel once nft works again;
// - fail2ban-client's `set JAIL banip` still prints a count.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliPath, control, type DaemonDirs, removeDirs, type RunningDaemon, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { dovecotFailure, jailStatus, mailSetup } from '../e2e/mail-log.js';
import { createPair, inNamespace, netnsUnavailable, type Pair } from '../e2e/netns.js';

const skip = netnsUnavailable(['nft']);
const realNft = spawnSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).stdout.trim();

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

describe('reliability: manual bans say what the kernel got', { skip: skip ?? false }, () => {
  let pair: Pair;
  let daemon: RunningDaemon | null = null;
  let dirs: DaemonDirs;
  let mailLog: string;
  let mode: string;
  before(async () => {
    pair = createPair('relb');
    ({ dirs, mailLog } = mailSetup({ 'jail.d/ignore.local': '[custom]\nignoreip = 127.0.0.1/8 ::1 198.51.100.0/24\n' }));
    const bin = join(dirs.root, 'bin');
    mkdirSync(bin);
    mode = join(dirs.root, 'nft-mode');
    writeFileSync(mode, 'pass');
    writeFileSync(
      join(bin, 'nft'),
      `#!/bin/sh
case "$(cat '${mode}')" in
  fail) echo "Error: Could not process rule: No space left on device (fake nft)" >&2; exit 1 ;;
  hang) echo $$ >> '${mode}.pids'; exec sleep 300 ;;
esac
exec '${realNft}' "$@"
`,
    );
    chmodSync(join(bin, 'nft'), 0o755);
    daemon = await startDaemon(dirs, {
      prefix: inNamespace(pair.server),
      // The fake nft sees element writes only on the nft path: netlink (the default) goes around it.
      env: { PATH: `${bin}:${process.env.PATH}`, PORTCULLIS_NETLINK: 'off' },
      args: ['--check-interval', '1'],
    });
  });
  after(async () => {
    writeFileSync(mode, 'pass');
    await daemon?.kill();
    // A hung fake nft outlives a killed daemon: end it here.
    for (const pid of (existsSync(`${mode}.pids`) ? readFileSync(`${mode}.pids`, 'utf8') : '').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone (the runner's timeout killed it).
      }
    }
    pair?.destroy();
    if (dirs) removeDirs(dirs);
  });

  /** fail2ban-client takes its options before the command. */
  const withSocket = (args: string[]) =>
    args[0] === 'client' ? ['client', '-s', dirs.socket, ...args.slice(1)] : [...args, '-s', dirs.socket];

  /** The CLI in the namespace, asynchronously, so the test can watch the clock. */
  function run(args: string[]): Promise<Run> {
    const t0 = Date.now();
    return new Promise((resolve) => {
      execFile(
        'ip',
        ['netns', 'exec', pair.server, process.execPath, cliPath, ...withSocket(args)],
        { encoding: 'utf8', timeout: 40_000 },
        (err, stdout, stderr) => {
          const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
          resolve({ status, stdout, stderr, ms: Date.now() - t0 });
        },
      );
    });
  }
  const kernel = (family: '' | '6' = '') =>
    spawnSync('ip', ['netns', 'exec', pair.server, realNft, 'list', 'set', 'inet', 'f2b-table', `addr${family}-set-custom`], { encoding: 'utf8' }).stdout;
  const set = (m: string) => writeFileSync(mode, m);

  it('refuses loopback, too wide, ignoreip and own addresses with the reason; nothing reaches the kernel', { timeout: 60_000 }, async () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', '127.0.0.1 is a loopback address'],
      ['0.0.0.0/0', '0.0.0.0/0 is too wide: it covers every address'],
      ['::/0', '::/0 is too wide: it covers every address'],
      ['198.51.100.7', '198.51.100.7 is in ignoreip'],
      [pair.serverV4, `${pair.serverV4} is an address of this host (ignoreself)`],
      ['192.0.2.0/24', '192.0.2.0/24 covers an address of this host (ignoreself)'],
    ];
    for (const [ip, why] of cases) {
      const r = await run(['ban', 'custom', ip]);
      assert.deepEqual([r.status, r.stdout, r.stderr], [2, '', `portcullis: custom: 0 of 1 newly banned; not banned: ${why}\n`], ip);
    }
    assert.deepEqual((await jailStatus(dirs, 'custom')).bannedIps, []);
    assert.doesNotMatch(kernel(), /elements/);
    // fail2ban-client keeps Fail2Ban's output: a count.
    const f2b = await run(['client', 'set', 'custom', 'banip', '127.0.0.1']);
    assert.deepEqual([f2b.status, f2b.stdout], [0, '0\n']);
  });

  it('a mixed request bans what it may, says what it refused, exits 0', { timeout: 30_000 }, async () => {
    const r = await run(['ban', 'custom', '203.0.113.1', '127.0.0.2']);
    assert.deepEqual([r.status, r.stdout], [0, 'custom: 1 of 2 newly banned\n']);
    assert.equal(r.stderr, 'portcullis: custom: 1 of 2 newly banned; not banned: 127.0.0.2 is a loopback address\n');
    assert.match(kernel(), /203\.0\.113\.1[,\s]/);
  });

  it('10.0.0.1/8 is widened to 10.0.0.0/8, and the CLI says so', { timeout: 30_000 }, async () => {
    const r = await run(['ban', 'custom', '10.0.0.1/8']);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, 'custom: 1 of 1 newly banned\n', 'portcullis: 10.0.0.1/8 has host bits set; widened to the network 10.0.0.0/8\n']);
    assert.match(kernel(), /10\.0\.0\.0\/8/);
  });

  it('nft failing: ban and unban exit 1 with the kernel’s reason; the ban is kept and reaches the kernel later', { timeout: 60_000 }, async () => {
    set('fail');
    const r = await run(['ban', 'custom', '203.0.113.2']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^portcullis: custom: 1 ban\(s\) recorded, but .*No space left on device \(fake nft\).*; the firewall check retries them\n$/);
    assert.doesNotMatch(r.stdout, /newly banned/);
    const f2b = await run(['client', 'set', 'custom', 'banip', '203.0.113.6']);
    assert.equal(f2b.status, 255);
    assert.equal(f2b.stdout, '1\n', 'the count, as Fail2Ban prints it');
    assert.match(f2b.stderr, /ERROR +custom: 1 ban\(s\) recorded, but .*No space left on device/);
    const u = await run(['unban', '203.0.113.1']);
    assert.equal(u.status, 1, u.stderr);
    assert.match(u.stderr, /^portcullis: custom: 1 unbanned in the records, but .*No space left on device/);
    set('pass');
    await waitFor('the recorded ban in the kernel, the lifted one gone', () => (/203\.0\.113\.2[,\s]/.test(kernel()) && !/203\.0\.113\.1[,\s]/.test(kernel())) || null, 10_000);
    assert.ok((await jailStatus(dirs, 'custom')).bannedIps.includes('203.0.113.2'));
  });

  it('the table deleted behind the daemon: the ban is reported as failed, then repaired', { timeout: 60_000 }, async () => {
    assert.equal(spawnSync('ip', ['netns', 'exec', pair.server, realNft, 'delete', 'table', 'inet', 'f2b-table']).status, 0);
    const r = await run(['ban', 'custom', '203.0.113.3']);
    // The periodic check may have put the table back first; then the ban simply works.
    if (r.status !== 0) {
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^portcullis: custom: 1 ban\(s\) recorded, but .+; the firewall check retries them\n$/);
    } else assert.equal(r.stdout, 'custom: 1 of 1 newly banned\n');
    await waitFor('table and ban back', () => /203\.0\.113\.3[,\s]/.test(kernel()) || null, 10_000);
  });

  it('nft hanging: the CLI answers within the confirmation time with exit 1, not "server not running"', { timeout: 60_000 }, async () => {
    set('hang');
    const r = await run(['ban', 'custom', '203.0.113.4']);
    set('pass');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^portcullis: custom: 1 ban\(s\) recorded, but the firewall did not confirm within 10 s \(it is still trying\)/);
    assert.doesNotMatch(r.stderr, /server not running/);
    assert.ok(r.ms < 15_000, `answered after ${r.ms} ms`);
    assert.equal(await control(dirs).request({ cmd: 'ping' }), 'pong');
  });

  it('ignoreself is read fresh: an address added to the host after start is never banned', { timeout: 60_000 }, async () => {
    const added = '192.0.2.77';
    assert.equal(spawnSync('ip', ['netns', 'exec', pair.server, 'ip', 'addr', 'add', `${added}/32`, 'dev', 'lo']).status, 0);
    await new Promise((r) => setTimeout(r, 1100));
    const r = await run(['ban', 'dovecot', added]);
    assert.deepEqual([r.status, r.stderr], [2, `portcullis: dovecot: 0 of 1 newly banned; not banned: ${added} is an address of this host (ignoreself)\n`]);
    appendFileSync(mailLog, dovecotFailure(added).repeat(3) + dovecotFailure('203.0.113.5').repeat(3));
    await waitFor('the other attacker banned', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes('203.0.113.5') || null, 10_000);
    assert.ok(!(await jailStatus(dirs, 'dovecot')).bannedIps.includes(added), 'the host’s new address was banned');
    assert.match(daemon!.log(), new RegExp(`\\[dovecot\\] Ignore ${added.replace(/\./g, '\\.')} by ignoreself rule`));
  });
});
