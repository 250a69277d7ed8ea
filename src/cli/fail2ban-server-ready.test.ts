// `fail2ban-server -xf start` prints `Server ready` on stdout once the socket answers, as Fail2Ban 1.1's
// client-side start does; docker-mailserver's supervisord logs that stream.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const entry = new URL('./fail2ban-server-main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'pc-ready-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('fail2ban-server -xf start', () => {
  it("prints exactly 'Server ready' on stdout, once the socket answers", async () => {
    // No jail: nothing touches the firewall.
    writeFileSync(join(dir, 'jail.conf'), '[DEFAULT]\nenabled = false\n');
    writeFileSync(join(dir, 'fail2ban.conf'), `[Definition]\nlogtarget = ${join(dir, 'log')}\ndbfile = ${join(dir, 'db')}\n`);
    const socket = join(dir, 'sock');
    const child = spawn(entry, ['-xf', '-c', dir, '-s', socket, '-p', join(dir, 'pid'), 'start'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    for (let waited = 0; out === '' && child.exitCode === null && waited < 15_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
    assert.equal(out, 'Server ready\n');
  });
});
