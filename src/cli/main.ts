#!/usr/bin/env node
// The `portcullis` command. Each command lives in its own file and registers itself here.
import { setFlagsFromString } from 'node:v8';
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();

// Log lines are written by attackers: a regex that starts backtracking excessively falls back to V8's
// linear-time engine instead of stalling the daemon. Must be set before any RegExp is compiled.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

// `portcullis regex ... | head` closes the pipe early: the reader's choice, not an error to report.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

const { runCli } = await import('./program.js');
process.exitCode = await runCli(process.argv.slice(2));
