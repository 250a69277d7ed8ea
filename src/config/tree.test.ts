import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { builtinDefaultsDir } from './defaults-dir.js';
import { ConfigTree } from './tree.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-tree-'));
after(() => rmSync(root, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

describe('ConfigTree: which files, in which order', () => {
  it('reads X.conf, X.d/*.conf, X.local, X.d/*.local (sorted), later overriding earlier', () => {
    const dir = tree('order', {
      'jail.conf': '[J]\na = conf\nb = conf\nc = conf\nd = conf\ne = conf\n',
      'jail.d/2.conf': '[J]\nb = d2conf\n',
      'jail.d/1.conf': '[J]\nb = d1conf\nc = d1conf\n',
      'jail.local': '[J]\nc = local\nd = local\n',
      'jail.d/b.local': '[J]\ne = dblocal\n',
      'jail.d/a.local': '[J]\nd = dalocal\ne = dalocal\n',
      'jail.d/ignored.txt': '[J]\na = txt\n',
    });
    const t = new ConfigTree(dir);
    assert.deepEqual(
      t.configFiles('jail').map((f) => f.slice(dir.length + 1)),
      ['jail.conf', 'jail.d/1.conf', 'jail.d/2.conf', 'jail.local', 'jail.d/a.local', 'jail.d/b.local'],
    );
    const s = t.read('jail');
    assert.ok(s);
    assert.deepEqual(
      ['a', 'b', 'c', 'd', 'e'].map((k) => s.get('J', k)),
      ['conf', 'd2conf', 'local', 'dalocal', 'dblocal'],
    );
  });

  it('resolves [INCLUDES] before/after relative to the including file, each with its .local', () => {
    const dir = tree('includes', {
      'filter.d/common.conf': '[DEFAULT]\nv = common\nw = common\n',
      'filter.d/common.local': '[DEFAULT]\nw = common-local\n',
      'filter.d/tail.conf': '[Definition]\nx = after\n',
      'filter.d/f.conf': '[INCLUDES]\nbefore = common.conf\nafter = tail.conf\n[Definition]\nx = own\nv2 = %(v)s\n',
    });
    const t = new ConfigTree(dir);
    const s = t.read('filter.d/f');
    assert.ok(s);
    assert.deepEqual(
      s.files.map((f) => f.slice(dir.length + 1)),
      ['filter.d/common.conf', 'filter.d/common.local', 'filter.d/f.conf', 'filter.d/tail.conf'],
    );
    assert.equal(s.get('Definition', 'x'), 'after');
    assert.equal(s.get('Definition', 'w'), 'common-local');
    assert.equal(s.get('Definition', 'v2'), 'common');
  });

  it('survives include loops and reports missing includes as warnings', () => {
    const dir = tree('loops', {
      'a.conf': '[INCLUDES]\nbefore = b.conf\n          missing.conf\nafter = optional.local\n[S]\nx = a\n',
      'b.conf': '[INCLUDES]\nbefore = a.conf\n[S]\nx = b\n',
    });
    const t = new ConfigTree(dir);
    const s = t.read('a');
    assert.equal(s?.get('S', 'x'), 'a');
    assert.ok(t.warnings.some((w) => w.includes('missing.conf')));
    assert.ok(!t.warnings.some((w) => w.includes('.local')));
  });

  it('falls back to the built-in tree for files missing from the user tree', () => {
    const dir = tree('fallback', { 'jail.local': '[custom]\nbantime = 1d\n' });
    const t = new ConfigTree(dir);
    const files = t.configFiles('jail');
    assert.deepEqual(files, [join(builtinDefaultsDir(), 'jail.conf'), join(dir, 'jail.local')]);
    assert.equal(t.read('jail')?.get('custom', 'bantime'), '1d');
    assert.equal(t.read('action.d/nftables-allports')?.get('Definition', 'type'), 'allports');
    assert.equal(new ConfigTree(dir).read('filter.d/no-such-filter'), null);
  });

  it('a built-in-only tree reads our defaults', () => {
    const t = new ConfigTree(null);
    assert.equal(t.basedir, builtinDefaultsDir());
    assert.equal(t.read('fail2ban')?.get('Definition', 'dbpurgeage'), '1d');
  });
});
