// `fail2ban-server -xf start` prints `Server ready` on stdout once the socket answers, as Fail2Ban 1.1's
// client-side start does; docker-mailserver's supervisord logs that stream.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MODULE_TRACE, projectFiles } from './module-trace.js';

const cliDir = new URL('.', import.meta.url).pathname;
const entry = join(cliDir, 'fail2ban-server.cjs');
const dir = mkdtempSync(join(tmpdir(), 'pc-ready-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the bin until it answers; its stdout and stderr once stopped (SIGTERM). */
async function startAndStop(env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; out: string; err: string }> {
  const socket = join(dir, 'sock');
  const child = spawn(entry, ['-xf', '-c', dir, '-s', socket, '-p', join(dir, 'pid'), 'start'], { stdio: ['ignore', 'pipe', 'pipe'], env });
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
  return { status: await exited, out, err };
}

describe('fail2ban-server -xf start', () => {
  // No jail: nothing touches the firewall.
  writeFileSync(join(dir, 'jail.conf'), '[DEFAULT]\nenabled = false\n');
  writeFileSync(join(dir, 'fail2ban.conf'), `[Definition]\nlogtarget = ${join(dir, 'log')}\ndbfile = ${join(dir, 'db')}\n`);

  it("prints exactly 'Server ready' on stdout, once the socket answers", async () => {
    const run = await startAndStop();
    assert.equal(run.status, 0, run.err);
    assert.equal(run.out, 'Server ready\n');
  });

  it('runs from its bundle, without a code cache: no module of its own besides the bin, the loader and the bundle, nor any of better-sqlite3', async () => {
    const cache = join(cliDir, 'fail2ban-server.bundle.cjs.cache');
    rmSync(cache, { force: true });
    const run = await startAndStop({ ...process.env, ...MODULE_TRACE });
    assert.equal(existsSync(cache), false, 'the daemon wrote a code cache (see fail2ban-server.cts)');
    assert.equal(run.status, 0, run.err);
    assert.equal(run.out, 'Server ready\n');
    const ours = projectFiles(run.err).map((f) => f.replace(cliDir, ''));
    assert.deepEqual(ours.sort(), ['bundle-loader.cjs', 'fail2ban-server.cjs']);
  });
});
