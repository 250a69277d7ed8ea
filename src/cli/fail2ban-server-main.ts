#!/bin/sh
// 2>/dev/null; exec node --optimize-for-size --v8-pool-size=1 "$0" "$@"
// (The line above is for sh and a comment for JS: V8's flags only work on node's command line, and
// `env -S` is not everywhere. Size-optimised code cuts the idle daemon's RSS with no measurable cost to
// matching throughput. One V8 platform thread instead of one per core: three threads and ~1.8 MB fewer,
// same daemon throughput (measured 1.1M lines: 2.65 against 2.71 CPU-s). A 1 MB young generation
// (--max-semi-space-size=1) no longer saved anything at idle (61.1 MB with and without it, `node
// dist/bench/daemon.js`) but made start-up with 100,000 stored bans 40% slower and a flood 16% dearer.)
// `fail2ban-server`: Fail2Ban's server command line, so docker-mailserver's supervisord block
// (`fail2ban-server -xf start`) runs portcullis unchanged. The server always stays in the foreground.
import { parseArgs } from 'node:util';
import { builtin } from '../builtin.js';
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();

// Same guard as `portcullis`: see main.ts. Set here only when node was started without it (node run on
// this file directly): node:v8 costs the idle daemon 1.7 MB of RSS for this one call.
const BACKTRACK_GUARD = '--enable-experimental-regexp-engine-on-excessive-backtracks';
if (!process.execArgv.includes(BACKTRACK_GUARD)) builtin('node:v8').setFlagsFromString(BACKTRACK_GUARD);

const { runServer } = await import('./server.js');
const { UserError } = await import('../errors.js');

const usage = `Usage: fail2ban-server [OPTIONS] [start]

Runs portcullis, the Fail2Ban-compatible daemon, in the foreground.

  -c, --conf <DIR>        configuration directory (default /etc/fail2ban)
  -s, --socket <FILE>     control socket
  -p, --pidfile <FILE>    pid file
      --loglevel <LEVEL>  logging level
      --logtarget <TARGET> log target: a file, STDOUT, STDERR or SYSLOG
  -x                      remove a stale socket left by a crash
  -f                      stay in the foreground (always the case)
  -b                      accepted for compatibility; portcullis never forks
  -h, --help              this help
`;

try {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      conf: { type: 'string', short: 'c' },
      socket: { type: 'string', short: 's' },
      pidfile: { type: 'string', short: 'p' },
      loglevel: { type: 'string' },
      logtarget: { type: 'string' },
      x: { type: 'boolean', short: 'x' },
      f: { type: 'boolean', short: 'f' },
      b: { type: 'boolean', short: 'b' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
  } else {
    if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'start')) {
      throw new UserError(`fail2ban-server takes only 'start', not '${positionals.join(' ')}'; see fail2ban-server -h`);
    }
    process.exitCode = await runServer({
      config: values.conf,
      socket: values.socket,
      pidfile: values.pidfile,
      loglevel: values.loglevel,
      logtarget: values.logtarget,
      x: values.x,
      announceReady: true,
    });
  }
} catch (err) {
  process.stderr.write(`fail2ban-server: ${(err as Error).message}\n`);
  const badArguments = (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ?? false;
  process.exitCode = err instanceof UserError ? err.exitCode : badArguments ? 2 : 1;
}
