import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { expandGlob, globBaseDir, globPaths, hasMagic, segmentRegExp } from './glob.js';

const root = mkdtempSync(join(tmpdir(), 'pc-glob-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('segment patterns follow fnmatch: *, ?, classes, negation, no leading dot', () => {
  assert.ok(segmentRegExp('*.log').test('mail.log'));
  assert.ok(!segmentRegExp('*.log').test('mail.log.1'));
  assert.ok(!segmentRegExp('*.log').test('.hidden.log'));
  assert.ok(segmentRegExp('.*.log').test('.hidden.log'));
  assert.ok(segmentRegExp('mail.?').test('mail.1'));
  assert.ok(!segmentRegExp('mail.?').test('mail.10'));
  assert.ok(segmentRegExp('mail[0-9]').test('mail7'));
  assert.ok(!segmentRegExp('mail[!0-9]').test('mail7'));
  assert.ok(segmentRegExp('a[]]b').test('a]b'));
  assert.ok(segmentRegExp('x[y').test('x[y'));
  assert.ok(!segmentRegExp('a.b').test('axb'));
  assert.ok(segmentRegExp('(x)+').test('(x)+'));
});

test('base dir is the deepest directory without wildcards', () => {
  assert.equal(globBaseDir('/var/log/mail/*.log'), '/var/log/mail');
  assert.equal(globBaseDir('/var/log/*/mail.log'), '/var/log');
  assert.equal(globBaseDir('/var/log/mail.log'), '/var/log');
  assert.ok(hasMagic('/a/*.log') && !hasMagic('/a/b.log'));
});

test('expands wildcards in any segment, skips directories, sorts', async () => {
  mkdirSync(join(root, 'a'));
  mkdirSync(join(root, 'b'));
  mkdirSync(join(root, 'b', 'x.log'));
  writeFileSync(join(root, 'a', 'mail.log'), '');
  writeFileSync(join(root, 'a', 'err.log'), '');
  writeFileSync(join(root, 'a', 'mail.log.1'), '');
  writeFileSync(join(root, 'b', 'mail.log'), '');
  assert.deepEqual(await expandGlob(join(root, 'a', '*.log')), [
    join(root, 'a', 'err.log'),
    join(root, 'a', 'mail.log'),
  ]);
  assert.deepEqual(await expandGlob(join(root, '*', 'mail.log')), [
    join(root, 'a', 'mail.log'),
    join(root, 'b', 'mail.log'),
  ]);
  assert.deepEqual(await expandGlob(join(root, 'b', '*')), [join(root, 'b', 'mail.log')]);
  assert.deepEqual(await expandGlob(join(root, 'missing', '*.log')), []);
  // A plain path is returned even before it exists: the follower waits for it.
  assert.deepEqual(await expandGlob(join(root, 'later.log')), [join(root, 'later.log')]);
});

test("globPaths is Python's glob.glob (config dump): directories too, `[]]`, relative stays relative", () => {
  const d = join(root, 'sync');
  mkdirSync(join(d, 'dir.log'), { recursive: true });
  writeFileSync(join(d, 'mail.log'), '');
  writeFileSync(join(d, 'a]b.log'), '');
  writeFileSync(join(d, '.hidden.log'), '');
  assert.deepEqual(globPaths(join(d, '*.log')), [join(d, 'a]b.log'), join(d, 'dir.log'), join(d, 'mail.log')]);
  assert.deepEqual(globPaths(join(d, 'a[]]b.log')), [join(d, 'a]b.log')]);
  assert.deepEqual(globPaths(join(d, 'missing.log')), []);
  assert.deepEqual(globPaths(join(d, 'mail.log')), [join(d, 'mail.log')]);
  const cwd = process.cwd();
  process.chdir(d);
  try {
    assert.deepEqual(globPaths('m*.log'), ['mail.log']);
  } finally {
    process.chdir(cwd);
  }
});
