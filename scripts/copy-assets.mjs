#!/usr/bin/env node
// tsc copies only TypeScript output; the built-in Fail2Ban tree and test data files travel with it.
// Usage: node scripts/copy-assets.mjs [OUTDIR]   (default dist)
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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
for (const top of ['src', 'test']) copyAssets(top);
