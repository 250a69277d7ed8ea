#!/usr/bin/env node
// tsc copies only TypeScript output; the built-in Fail2Ban tree and test data files travel with it.
// tsc also writes every file 0644, so the entry points named in package.json's `bin` are made
// executable here: the image links /usr/bin/fail2ban-server to one and supervisord execs it directly.
// Usage: node scripts/copy-assets.mjs [OUTDIR]   (default dist)
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const outDir = process.argv[2] ?? join(root, 'dist');
const assetPattern = /\.(conf|local|txt|json|log)$/;

function copyAssets(dir) {
  for (const name of readdirSync(join(root, dir))) {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) copyAssets(rel);
    else if (assetPattern.test(name)) cpSync(join(root, rel), join(outDir, rel));
  }
}
// test/ is absent from the image build, which ships no tests.
for (const top of ['src', 'test']) if (existsSync(join(root, top))) copyAssets(top);

const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const entry of Object.values(bin)) {
  // `bin` paths are relative to the package root and start with dist/; map them into OUTDIR.
  const file = join(outDir, relative('dist', entry));
  if (!existsSync(file)) {
    console.error(`copy-assets: ${file} (package.json bin) was not built`);
    process.exit(1);
  }
  chmodSync(file, 0o755);
}
