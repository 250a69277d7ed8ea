#!/usr/bin/env node
// The `portcullis` command. Each command lives in its own file and registers itself in program.ts.
// Start-up is most of what a short command costs (`regex` over a 1M-line log spent ~35 ms of ~210 ms
// CPU loading 36 ES modules one by one), so the command runs from one bundle compiled from V8's code
// cache (bundle-loader.cts); the modules themselves are the fallback when the bundle was not built.
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();

// Log lines are written by attackers: a regex that starts backtracking excessively falls back to V8's
// linear-time engine instead of stalling the daemon. Must be set before any RegExp is compiled.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

// `portcullis server` runs from the modules (this bundle is the commands'); the `fail2ban-server` bin,
// which docker-mailserver and deploy/ start, runs the daemon from a bundle of its own.
const loader = createRequire(import.meta.url)('./bundle-loader.cjs') as typeof import('./bundle-loader.cjs');
if (process.argv[2] === 'server' || !(await loader.runBundle('portcullis'))) await import('./portcullis-run.js');
