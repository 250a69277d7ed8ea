#!/usr/bin/env node
// Bundles one entry of dist/ (tsc's ESM output) and every module it imports, statically or dynamically,
// into a single CommonJS script for src/cli/bundle-loader.ts to run. Why: a short client command spent
// more time in Node's ESM loader (resolving, reading and compiling ~20 files one by one) than in its own
// work; one script, with V8's code cache beside it, skips all of that. A module runs only when first
// required, as with import(), so a bundled but unused module costs its share of the one parse only.
// TypeScript (already the build's compiler) does the ESM → CommonJS rewrite; packages and node: builtins
// are left to require().
// A CommonJS package named with --inline (commander: ~5 ms of every command's start-up to resolve and
// compile its six files) is bundled too.
// Usage: node scripts/bundle.mjs ENTRY OUT [--inline PACKAGE]...   (paths relative to the package root, ENTRY under dist/)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = new URL('..', import.meta.url).pathname;
const [entryArg, outArg, ...rest] = process.argv.slice(2);
const inline = new Set(rest.filter((_, i) => rest[i - 1] === '--inline'));
if (!entryArg || !outArg || rest.length !== inline.size * 2) {
  console.error('usage: node scripts/bundle.mjs ENTRY OUT [--inline PACKAGE]...');
  process.exit(2);
}
const entry = resolve(root, entryArg);
const out = resolve(root, outArg);

/** Module id (path relative to the bundle's directory, always starting with `.`) → CommonJS source. */
const modules = new Map();
/** Modules that read their own URL (import.meta.url): only they pay for computing it. */
const needsUrl = new Set();
const moduleId = (file) => {
  const rel = relative(dirname(out), file);
  return rel.startsWith('.') ? rel : `./${rel}`;
};
const pending = [entry];
while (pending.length > 0) {
  const file = pending.pop();
  const id = moduleId(file);
  if (modules.has(id)) continue;
  let source = readFileSync(file, 'utf8').replace(/^#!.*/, '');
  // import.meta has no CommonJS form: each module gets the URL of the file it was built from.
  if (source.includes('import.meta.url')) needsUrl.add(id);
  source = source.replaceAll('import.meta.url', '__bundle_meta_url');
  // (An inlined package is CommonJS already: this only drops its comments.)
  const { outputText } = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, removeComments: true },
  });
  let code = outputText.replace(/\n\/\/# sourceMappingURL=.*$/, '');
  // A computed specifier cannot be followed here, and a real import() or import.meta does not run in
  // the bundle's vm.Script: refuse at build time rather than fail at run time.
  if (/\brequire\((?!["'])|\bimport\(|\bimport\.meta\b/.test(code)) {
    console.error(`bundle: ${relative(root, file)} imports a module by a computed name; bundle.mjs cannot follow it`);
    process.exit(1);
  }
  // An inlined package's own path would be the bundle's, or undefined: refuse rather than misplace.
  if (/\b__(dirname|filename)\b/.test(code)) {
    console.error(`bundle: ${relative(root, file)} reads __dirname or __filename, which a bundled module does not have`);
    process.exit(1);
  }
  // Each followed specifier is rewritten to the id of the file it resolved to, so that the bundle's
  // require looks it up as it is: no path arithmetic at run time (joining paths for every require of a
  // daemon start made node's path functions hot enough for TurboFan, ~3 MB of resident compiler code).
  const resolveFrom = createRequire(file).resolve;
  code = code.replace(/\brequire\((["'])([^"']+)\1\)/g, (call, _q, spec) => {
    if (!spec.startsWith('./') && !spec.startsWith('../') && !inline.has(spec)) return call;
    const target = resolveFrom(spec);
    pending.push(target);
    return `require(${JSON.stringify(moduleId(target))})`;
  });
  modules.set(id, code);
}

// Inside the bundle, a specifier starting with `.` is a module id; anything else goes to node's require.
const parts = [
  '"use strict";',
  '(function (__bundle_dir, __bundle_require, __bundle_url) {',
  'const defs = Object.create(null);',
  'const cache = Object.create(null);',
  'const req = (spec) => spec.startsWith(".") ? load(spec) : __bundle_require(spec);',
  'function load(id) {',
  '  const done = cache[id];',
  '  if (done !== undefined) return done.exports;',
  '  const def = defs[id];',
  '  if (def === undefined) throw new Error("bundle: no module " + id);',
  '  const module = { exports: {} };',
  '  cache[id] = module;',
  '  def(module.exports, req, module);',
  '  return module.exports;',
  '}',
];
const entryId = moduleId(entry);
for (const [id, code] of modules) {
  const isEntry = id === entryId;
  // The entry may use top-level await: its body runs as an async function, and the bundle returns its promise.
  parts.push(
    `defs[${JSON.stringify(id)}] = ${isEntry ? 'async ' : ''}function (exports, require, module) {`,
    ...(needsUrl.has(id) ? [`const __bundle_meta_url = __bundle_url(${JSON.stringify(id)});`] : []),
    code,
    isEntry ? 'module.exports = { done: true };\n};' : '};',
  );
}
parts.push(
  `const entry = ${JSON.stringify(entryId)};`,
  'const module = { exports: {} };',
  'cache[entry] = module;',
  'return defs[entry](module.exports, req, module);',
  '})',
);
// Pure ASCII, so that bundle-loader reads it as Latin-1 (no UTF-8 decoding) and V8 keeps a one-byte
// string; the few non-ASCII characters (in messages) become \u escapes, which mean the same in strings,
// templates and regexes, though not in String.raw.
const text = `${parts.join('\n')}\n`;
const rawWithUnicode = text.split('\n').find((line) => line.includes('String.raw') && /[^\0-\x7f]/.test(line));
if (rawWithUnicode !== undefined) {
  console.error(`bundle: a String.raw template holds a non-ASCII character, which bundle.mjs cannot escape: ${rawWithUnicode.trim()}`);
  process.exit(1);
}
writeFileSync(out, text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
console.log(`bundle: ${relative(root, out)}, ${modules.size} modules, ${(text.length / 1024).toFixed(0)} kB`);
