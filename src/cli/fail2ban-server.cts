#!/bin/sh
// 2>/dev/null; exec node --v8-pool-size=1 --gc-memory-reducer-start-delay-ms=2000 --enable-experimental-regexp-engine-on-excessive-backtracks "$0" "$@"
// (The line above is for sh and a comment for JS: V8's flags only work on node's command line, and
// `env -S` is not everywhere. Size optimisation, which cuts the idle daemon's RSS, is not among them: on
// this line it would cap the young generation for the life of the process, and the daemon sets it once
// it runs (server.ts, optimiseForSizeOnceRunning). One V8 platform thread instead of one per core: three threads and ~1.8 MB fewer,
// same daemon throughput (measured 1.1M lines: 2.65 against 2.71 CPU-s). A 1 MB young generation
// (--max-semi-space-size=1) no longer saved anything at idle (61.1 MB with and without it, `node
// dist/bench/daemon.js`) but made start-up with 100,000 stored bans 40% slower and a flood 16% dearer.
// V8 gives start-up's garbage back once the heap has been quiet for 2 s instead of 8 s: 5 s after start
// with DMS's jails 50.5 MB, against 53.5 MB with the default (the same as either after a minute).
// The regexp flag is main.ts's guard against catastrophic backtracking, given here so that node:v8
// need not be loaded to set it.)
// The `fail2ban-server` bin: Fail2Ban's server command line (fail2ban-server-run.ts), so docker-mailserver's
// supervisord block (`fail2ban-server -xf start`) runs portcullis unchanged. CommonJS and run from its
// bundle (bundle-loader.cts), as the client is: no ES module loader, and no module resolution at start-up.
// Unlike the client's, without V8's code cache: functions compiled from a cache tier up sooner, and the
// regex translator then reached TurboFan during start-up, which leaves ~3 MB of node's compiler resident
// (5 s after start with DMS's jails: 57.1 MB with the cache, 52.8 MB without, 3 runs each). That lasts
// only until node's own timer code reaches TurboFan, within the first minute (bench/daemon.ts's
// over-time row); what remains is start-up without optimising compiles and ~0.4 MB less bytecode, for
// 30 ms more to `Server ready` (172 against 140 ms).
// biome-ignore lint/suspicious/noRedundantUseStrict: tsc would otherwise emit it as line 2, before the sh line
'use strict';
import loader = require('./bundle-loader.cjs');

// Run as `node fail2ban-server.cjs`, without the line above: the guard must still be on before any
// regex is compiled.
const REGEXP_GUARD = '--enable-experimental-regexp-engine-on-excessive-backtracks';
if (!process.execArgv.includes(REGEXP_GUARD)) (require('node:v8') as typeof import('node:v8')).setFlagsFromString(REGEXP_GUARD);

loader
  .runBundle('fail2ban-server', { codeCache: false })
  .then(async (ran) => {
    if (ran) return;
    (await import('./compile-cache.js')).enableCompileCache();
    await import('./fail2ban-server-run.js');
  })
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  });
