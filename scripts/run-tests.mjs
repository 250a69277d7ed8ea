#!/usr/bin/env node
// Runs the compiled tests with node:test. Node 20's `--test` takes no globs, so the files are listed here.
// Unit tests (beside the code) run in parallel; end-to-end and reliability suites share kernel state
// (namespaces, firewall tables) and run one file at a time.
// Usage: node scripts/run-tests.mjs [path-prefix ...]   e.g. `npm test -- src/filter test/e2e`
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const prefixes = process.argv.slice(2).map((p) => p.replace(/^dist\//, '').replace(/\.ts$/, ''));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const all = ['src', 'test']
  .flatMap((top) => {
    try {
      return walk(join(dist, top));
    } catch {
      return [];
    }
  })
  .filter((file) => prefixes.length === 0 || prefixes.some((p) => relative(dist, file).startsWith(p)))
  .sort();

const serial = all.filter((f) => relative(dist, f).startsWith('test/'));
const parallel = all.filter((f) => !serial.includes(f));
// Same guard the daemon sets at start-up: hostile lines fall back to the linear-time regexp engine.
const nodeFlags = ['--enable-experimental-regexp-engine-on-excessive-backtracks', '--test'];

let failed = false;
for (const [files, extra] of [
  [parallel, []],
  [serial, ['--test-concurrency=1']],
]) {
  if (files.length === 0) continue;
  const run = spawnSync(process.execPath, [...nodeFlags, ...extra, ...files], { stdio: 'inherit' });
  if (run.status !== 0) failed = true;
}
if (all.length === 0) {
  console.error('no test files found under dist/ (did the build run?)');
  process.exit(1);
}
process.exit(failed ? 1 : 0);
