// The `fail2ban-client` bin's start-up path (bundle-loader.cts): it must load no ESM module at all and
// none of the daemon's, and still answer as before when the bundle or its code cache is missing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MODULE_TRACE, tracedFiles } from './module-trace.js';

const cliDir = fileURLToPath(new URL('.', import.meta.url));
const bin = join(cliDir, 'fail2ban-client.cjs');
const bundle = join(cliDir, 'fail2ban-client.bundle.cjs');
const tmp = mkdtempSync(join(tmpdir(), 'pc-bundle-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the bin with Node's module tracing on; returns its output and every file Node loaded. */
function traced(file: string, args: string[]) {
  const run = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', env: { ...process.env, ...MODULE_TRACE } });
  return { ...run, loaded: tracedFiles(run.stderr) };
}

describe('fail2ban-client start-up', () => {
  it('bundles the client and the config reader, and nothing of the daemon', () => {
    const ids = [...readFileSync(bundle, 'utf8').matchAll(/^defs\["([^"]+)"\]/gm)].map((m) => m[1] as string);
    for (const id of ['./fail2ban-client-run.js', './fail2ban-client.js', './client.js', '../server/control-protocol.js']) {
      assert.ok(ids.includes(id), `${id} is not in the bundle`);
    }
    const daemonSide = ids.filter((id) =>
      /^\.\.\/(store|firewall|sources|policy|filter)\/|^\.\.\/fleet\/(?!settings\.js)|^\.\.\/server\/(?!control-protocol\.js|daemon-log\.js)/.test(id),
    );
    assert.deepEqual(daemonSide, []);
  });

  it('loads two CommonJS files and no ESM module, and still answers', () => {
    const run = traced(bin, ['-s', join(tmp, 'none.sock'), 'status', 'dovecot']);
    assert.equal(run.status, 255);
    assert.match(run.stderr, /Failed to access socket path: .*none\.sock\. Is fail2ban running\?/);
    assert.deepEqual(
      run.loaded.map((f) => f.replace(cliDir, '')).sort(),
      ['bundle-loader.cjs', 'fail2ban-client.cjs'],
    );
  });

  it('writes its code cache on first use and runs from it afterwards (V8 accepts it: not rewritten)', () => {
    const copy = join(tmp, 'cli');
    cpSync(cliDir, copy, { recursive: true, filter: (src) => !src.endsWith('.cache') && !src.endsWith('.map') });
    const cache = join(copy, 'fail2ban-client.bundle.cjs.cache');
    assert.equal(existsSync(cache), false);
    const written: number[] = [];
    for (let i = 0; i < 2; i++) {
      const run = spawnSync(process.execPath, [join(copy, 'fail2ban-client.cjs'), '-h'], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^Usage: fail2ban-client \[OPTIONS\] <COMMAND>$/m);
      assert.ok(existsSync(cache), 'no code cache written');
      written.push(statSync(cache).ino);
    }
    // A rejected cache would be written again (a new file renamed over the old one).
    assert.equal(written[1], written[0]);
  });

  it('falls back to the modules when the bundle was not built', () => {
    const copy = join(tmp, 'nobundle');
    cpSync(join(cliDir, '..'), copy, { recursive: true, filter: (src) => !src.includes('.bundle.cjs') && !src.endsWith('.map') });
    const run = traced(join(copy, 'cli', 'fail2ban-client.cjs'), ['-h']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^Usage: fail2ban-client \[OPTIONS\] <COMMAND>$/m);
    assert.ok(run.loaded.some((f) => f.endsWith('/cli/fail2ban-client.js')), 'the modules were not loaded');
  });
});
