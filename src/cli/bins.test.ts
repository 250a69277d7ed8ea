// The entry points in package.json's `bin` must be executable as built (`npm ci` runs `prepare`, the
// build): the image links /usr/bin/fail2ban-server to one and supervisord execs it without `node`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, describe, it } from 'node:test';

const root = new URL('../../../', import.meta.url).pathname;
const bins = Object.entries((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin);
const tmp = mkdtempSync(join(tmpdir(), 'pc-bins-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('built entry points', () => {
  it('are mode 0755 in dist/ and run directly, without `node` in front', () => {
    assert.equal(bins.length, 3);
    for (const [name, path] of bins) {
      const file = join(root, path);
      assert.equal(statSync(file).mode & 0o777, 0o755, `${path} (${name}) is not 0755`);
      // fail2ban-server starts through sh to give node its heap flags (see fail2ban-server.cts), and
      // fail2ban-client to drop NODE_EXTRA_CA_CERTS (see fail2ban-client.cts).
      assert.match(readFileSync(file, 'utf8'), /^#!\/usr\/bin\/env node\n|^#!\/bin\/sh\n\/\/ 2>\/dev\/null; (unset NODE_EXTRA_CA_CERTS; )?exec node /, `${path} lacks its shebang`);
      const run = spawnSync(file, ['--help'], { encoding: 'utf8' });
      assert.equal(run.error, undefined, `${path}: ${run.error?.message}`);
      assert.equal(run.status, 0, `${file} --help: ${run.stderr}`);
    }
  });

  it('fail2ban-client does not make node read NODE_EXTRA_CA_CERTS (it never opens a TLS connection)', () => {
    const client = join(root, bins.find(([name]) => name === 'fail2ban-client')?.[1] ?? '');
    // node warns at start when the file cannot be read: the warning shows whether node read it.
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(tmp, 'missing.pem') };
    assert.match(spawnSync(process.execPath, ['-e', '0'], { env, encoding: 'utf8' }).stderr, /extra certs/);
    const run = spawnSync(client, ['-h'], { env, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /extra certs/);
  });

  it("fail2ban-server's node line leaves the young generation free to grow while the daemon starts", () => {
    const server = join(root, bins.find(([name]) => name === 'fail2ban-server')?.[1] ?? '');
    const flags = /exec node (.*) "\$0"/.exec(readFileSync(server, 'utf8'))?.[1]?.split(' ') ?? [];
    assert.ok(flags.length > 0, `${server} has no node line`);
    // A restore's worth of kept objects, before the daemon turns --optimize-for-size on (server.ts). With
    // that flag on node's command line the young generation stays at 1 MB a semi-space (2 MB) whatever
    // is turned off later, and start-up with 100,000 bans pays ~170 scavenges.
    const script =
      "const v8 = require('node:v8'); v8.setFlagsFromString('--no-optimize-for-size');" +
      'const keep = []; for (let i = 0; i < 200000; i++) keep.push([String(i), i]);' +
      "process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));";
    const grown = Number(execFileSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' }));
    assert.ok(grown > 4 * 1024 * 1024, `young generation ${grown} bytes with ${flags.join(' ')}`);
  });

  it('copy-assets makes freshly compiled (0644) entry points executable', () => {
    for (const [, path] of bins) {
      const file = join(tmp, relative('dist', path));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, '#!/usr/bin/env node\n', { mode: 0o644 });
    }
    execFileSync(process.execPath, [join(root, 'scripts/copy-assets.mjs'), tmp]);
    for (const [, path] of bins) assert.equal(statSync(join(tmp, relative('dist', path))).mode & 0o777, 0o755, path);
  });
});
