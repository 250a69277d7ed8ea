#!/bin/sh
// 2>/dev/null; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// (The line above is for sh and a comment for JS, as in fail2ban-server.cts. With NODE_EXTRA_CA_CERTS
// set, node parses that CA bundle at every start before any script runs: 46 against 17 ms for `node -e 0`
// on a machine whose environment sets it. The client only talks to a unix socket and starts nothing, so
// it never needs the certificates.)
// The `fail2ban-client` bin: portcullis behind Fail2Ban's client command line. Start-up is most of what
// a client call costs, so this entry is CommonJS (no ESM loader) and runs the command from its bundle
// (see bundle-loader.cts); the modules themselves are the fallback when the bundle was not built.
// Written out so that tsc does not put its own "use strict" above the sh line.
// biome-ignore lint/suspicious/noRedundantUseStrict: tsc would otherwise emit it as line 2, before the sh line
'use strict';
import loader = require('./bundle-loader.cjs');

loader
  .runBundle('fail2ban-client')
  .then((ran) => (ran ? undefined : import('./fail2ban-client-run.js')))
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  });
