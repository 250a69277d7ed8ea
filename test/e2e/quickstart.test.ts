// The README's Quick start, run exactly as written (its second shell block, line by line) in a fresh
// clone, as root without sudo, on a host made to look fresh: in a mount namespace /etc has no fail2ban
// (so the built-in defaults are read) and /run, /var/log, /var/lib/fail2ban are empty; in a network
// namespace the daemon's nftables table is its own. Three Dovecot failures in /var/log/mail/mail.log
// must become a ban in the kernel.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { netnsUnavailable } from './netns.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const skip = netnsUnavailable(['nft', 'unshare', 'git', 'npm']) ?? false;

/** The shell blocks of the README's "## Quick start" section. */
export function quickStartBlocks(readme: string): string[] {
  const start = readme.indexOf('## Quick start');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

/** A directory holding this checkout's better-sqlite3 binary in prebuild-install's tarball layout. */
function localPrebuild(tmp: string): string {
  const pkg = join(repo, 'node_modules/better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string };
  const dir = join(tmp, 'prebuilds');
  mkdirSync(dir);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const tar = spawnSync('tar', ['-czf', join(dir, name), '-C', pkg, 'build/Release/better_sqlite3.node'], { encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
  return dir;
}

/** A line of a shell block without its trailing comment. */
function command(line: string): string {
  return line.replace(/\s+#.*$/, '').trim();
}

describe('README Quick start', { skip, concurrency: false }, () => {
  it('runs as written from a fresh clone, as root without sudo, and bans from the built-in defaults', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'pc-quickstart-'));
    try {
      const clone = join(tmp, 'portcullis');
      const cloned = spawnSync('git', ['clone', '-q', repo, clone], { encoding: 'utf8' });
      assert.equal(cloned.status, 0, cloned.stderr);
      const readme = readFileSync(join(clone, 'README.md'), 'utf8');
      const blocks = quickStartBlocks(readme);
      assert.equal(blocks.length, 3, 'an install block, a run block and a test block');
      // The test block is this suite's own command; it is not run from inside it.
      assert.deepEqual((blocks[2] as string).split('\n').map(command).filter((l) => l !== ''), ['npm test']);
      for (const block of blocks) assert.doesNotMatch(block, /\bsudo\b/);
      for (const tool of ['g++', 'make', 'python3']) assert.ok((blocks[0] as string).includes(tool), `names ${tool}`);
      const lines = (blocks[1] as string).split('\n').map(command).filter((l) => l !== '');
      assert.deepEqual(lines.length, 2);
      const [install, serve] = lines as [string, string];

      // npm's cache stands in for the network (CI runs the same line online), and better-sqlite3's own
      // installer (prebuild-install) finds the binary this checkout already built as a local prebuild,
      // instead of compiling SQLite for minutes (it still compiles when the versions differ).
      const env = {
        ...process.env,
        npm_config_offline: 'true',
        npm_config_audit: 'false',
        npm_config_fund: 'false',
        npm_config_better_sqlite3_local_prebuilds: localPrebuild(tmp),
      };
      const installed = spawnSync('sh', ['-c', install], { cwd: clone, env, encoding: 'utf8', timeout: 900_000 });
      assert.equal(installed.status, 0, `${install}: ${installed.stderr.slice(-2000)}`);
      // npm ci built the netlink addon (scripts/build-addon.mjs): without it bans take the slow nft path.
      for (const addon of ['nfnetlink', 'malloc_trim']) assert.ok(existsSync(join(clone, `build/Release/${addon}.node`)), `the ${addon} addon was not built: ${installed.stderr.slice(-2000)}`);

      const script = `
set -e
cp -a /etc ${tmp}/etc && rm -rf ${tmp}/etc/fail2ban && mount --bind ${tmp}/etc /etc
mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/log
mkdir -p /var/lib/fail2ban && mount -t tmpfs tmpfs /var/lib/fail2ban
mkdir -p /var/log/mail && : > /var/log/mail/mail.log
ip link set lo up
cd ${clone}
${serve} > ${tmp}/server.out 2>&1 &
pid=$!
for i in $(seq 100); do [ -S /var/run/fail2ban/fail2ban.sock ] && break; sleep 0.2; done
for i in 1 2 3; do
  echo "$(date '+%b %e %H:%M:%S') mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=203.0.113.5, lip=172.17.0.2, TLS" >> /var/log/mail/mail.log
done
for i in $(seq 50); do nft list table inet f2b-table 2>/dev/null | grep -q 203.0.113.5 && break; sleep 0.2; done
nft list table inet f2b-table > ${tmp}/nft.out 2>&1 || true
kill -INT $pid; wait $pid || echo "server exit $?" >> ${tmp}/server.out
`;
      writeFileSync(join(tmp, 'run.sh'), script);
      const ran = spawnSync('unshare', ['--mount', '--net', '--fork', 'bash', join(tmp, 'run.sh')], { encoding: 'utf8', timeout: 120_000 });
      const out = readFileSync(join(tmp, 'server.out'), 'utf8');
      assert.equal(ran.status, 0, `${ran.stderr}\n${out}`);
      assert.equal(
        out.split('\n')[0],
        `portcullis: configuration: the built-in defaults (${join(clone, 'dist/src/config/defaults')}); no /etc/fail2ban, and no -c DIR`,
      );
      assert.ok(out.includes('portcullis: jail dovecot: reads /var/log/mail/mail.log; bans with nftables-multiport'), out);
      const nft = readFileSync(join(tmp, 'nft.out'), 'utf8');
      assert.match(nft, /set addr-set-dovecot \{[^}]*elements = \{ 203\.0\.113\.5 /, nft);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
