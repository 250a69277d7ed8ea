// The `portcullis` bin's start-up path (main.ts → bundle-loader.cts): commands run from the bundle, not
// from the ES modules; the daemon (`server`) runs from the modules; a missing bundle falls back to them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MODULE_TRACE, projectFiles } from './module-trace.js';

const cliDir = fileURLToPath(new URL('.', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'pc-pbundle-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the bin with Node's module tracing on; returns its output and every project file Node loaded. */
function traced(main: string, args: string[]) {
  const run = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, ...MODULE_TRACE } });
  return { ...run, loaded: projectFiles(run.stderr) };
}

const log = join(tmp, 'auth.log');
writeFileSync(log, 'Jan  5 10:00:00 mail sshd[1]: Failed password for root from 192.0.2.7 port 22 ssh2\nJan  5 10:00:01 mail sshd[1]: hello\n');

describe('portcullis start-up', () => {
  it('runs regex from the bundle: main.js, the loader and the bundle, no other module of its own, nor commander', () => {
    const run = traced(join(cliDir, 'main.js'), ['regex', '--json', log, 'sshd']);
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { lines: number; matches: Array<{ ip: string }> };
    assert.equal(report.lines, 2);
    assert.deepEqual(report.matches.map((m) => m.ip), ['192.0.2.7']);
    assert.deepEqual(run.loaded.map((f) => f.replace(cliDir, '')).sort(), ['bundle-loader.cjs', 'compile-cache.js', 'main.js']);
  });

  it('answers --version and usage errors from the bundle', () => {
    const version = spawnSync(process.execPath, [join(cliDir, 'main.js'), '--version'], { encoding: 'utf8' });
    assert.equal(version.status, 0);
    assert.equal(version.stdout, '0.1.0\n');
    const unknown = spawnSync(process.execPath, [join(cliDir, 'main.js'), 'stauts'], { encoding: 'utf8' });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'stauts'; did you mean 'status'\?/);
  });

  it('runs the daemon command from the modules, not the bundle', () => {
    const run = traced(join(cliDir, 'main.js'), ['server', '--help']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^Usage: portcullis server/m);
    assert.ok(run.loaded.some((f) => f.endsWith('/cli/server.js')), 'server.js was not loaded as a module');
  });

  it('falls back to the modules when the bundle was not built', () => {
    // Inside dist/, so that the package's "type": "module" and node_modules (commander) still apply.
    const copy = join(cliDir, '..', '..', `nobundle-${process.pid}`);
    after(() => rmSync(copy, { recursive: true, force: true }));
    cpSync(join(cliDir, '..'), copy, { recursive: true, filter: (src) => !src.includes('.bundle.cjs') && !src.endsWith('.map') && !src.endsWith('.test.js') });
    const run = traced(join(copy, 'cli', 'main.js'), ['regex', '--json', log, 'sshd']);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual((JSON.parse(run.stdout) as { matches: Array<{ ip: string }> }).matches.map((m) => m.ip), ['192.0.2.7']);
    assert.ok(run.loaded.some((f) => f.endsWith('/cli/regex.js')), 'the modules were not loaded');
  });
});
