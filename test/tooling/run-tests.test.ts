// scripts/run-tests.mjs must see skipped suites, which Node's own summary does not count.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const runner = new URL('../../../scripts/run-tests.mjs', import.meta.url).pathname;
const dist = mkdtempSync(join(tmpdir(), 'pc-runner-'));
after(() => rmSync(dist, { recursive: true, force: true }));
mkdirSync(join(dist, 'src'));
writeFileSync(
  join(dist, 'src', 'a.test.js'),
  `import { describe, it } from 'node:test';
describe('nftables suite', { skip: 'iptables is not installed' }, () => { it('x', () => {}); });
describe('other', () => { it('runs', () => {}); });
`,
);
writeFileSync(join(dist, 'src', 'b.test.js'), `import { it } from 'node:test';\nit('skips inside', (t) => { t.skip('needs root'); });\n`);

function run(ci: boolean) {
  const env: NodeJS.ProcessEnv = { ...process.env, RUN_TESTS_DIST: dist };
  delete env['NODE_TEST_CONTEXT']; // else the inner node --test thinks it is nested and runs nothing
  if (ci) env['CI'] = 'true';
  else delete env['CI'];
  return spawnSync(process.execPath, [runner], { env, encoding: 'utf8' });
}

describe('scripts/run-tests.mjs', () => {
  it('fails under CI=true when a whole suite or a test is skipped, naming each with its reason', () => {
    const r = run(true);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /FAIL: under CI=true nothing may skip; 2 skipped/);
    assert.match(r.stderr, /src\/a\.test\.js: nftables suite — iptables is not installed/);
    assert.match(r.stderr, /src\/b\.test\.js: skips inside — needs root/);
  });

  it('outside CI passes and ends by listing the skips', () => {
    const r = run(false);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /2 skipped suite\(s\)\/test\(s\):\n {2}src\/a\.test\.js: nftables suite — iptables is not installed/);
  });
});
