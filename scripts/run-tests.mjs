#!/usr/bin/env node
// Runs the compiled tests with node:test. Node 20's `--test` takes no globs, so the files are listed here.
// Unit tests (beside the code) run in parallel; end-to-end and reliability suites share kernel state
// (namespaces, firewall tables) and run one file at a time.
// Skips: Node's summary counts skipped tests but not skipped suites (`describe(..., { skip })` prints
// `# skipped 0` while its whole block went unseen), so a second reporter (scripts/skip-reporter.mjs)
// records every skip, suites included. Under CI=true any skip fails the run; otherwise the run ends by
// listing every skipped suite and test with its reason.
// Usage: node scripts/run-tests.mjs [path-prefix ...]   e.g. `npm test -- src/filter test/e2e`
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

// RUN_TESTS_DIST: another build tree (the runner's own test uses it).
const dist = process.env.RUN_TESTS_DIST ?? new URL('../dist/', import.meta.url).pathname;
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
const skipReporter = new URL('./skip-reporter.mjs', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'pc-run-tests-'));

/** Runs node --test over `files` (Node's usual reporter on stdout); returns its exit status and its skips. */
function runTests(files, extra, n) {
  const skipFile = join(scratch, `skips-${n}.jsonl`);
  const reporters = [
    `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
    '--test-reporter-destination=stdout',
    `--test-reporter=${skipReporter}`,
    `--test-reporter-destination=${skipFile}`,
  ];
  const run = spawnSync(process.execPath, [...nodeFlags, ...reporters, ...extra, ...files], { stdio: 'inherit' });
  let skips = [];
  try {
    skips = readFileSync(skipFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  } catch {
    // no file: the runner wrote nothing (it failed to start), which the exit status reports
  }
  return { code: run.status, skips };
}

if (all.length === 0) {
  console.error('no test files found under dist/ (did the build run?)');
  process.exit(1);
}
let failed = false;
const skipped = [];
for (const [n, [files, extra]] of [
  [parallel, []],
  [serial, ['--test-concurrency=1']],
].entries()) {
  if (files.length === 0) continue;
  const run = runTests(files, extra, n);
  if (run.code !== 0) failed = true;
  skipped.push(...run.skips);
}
if (skipped.length > 0) {
  const ci = process.env.CI === 'true';
  console.error(`\n${ci ? 'FAIL: under CI=true nothing may skip; ' : ''}${skipped.length} skipped suite(s)/test(s):`);
  for (const s of skipped) console.error(`  ${relative(dist, s.file)}: ${s.name} — ${s.reason}`);
  if (ci) failed = true;
}
rmSync(scratch, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
