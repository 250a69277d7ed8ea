#!/usr/bin/env node
// The `fail2ban-client` bin: portcullis behind Fail2Ban's client command line. Start-up is most of what
// a client call costs, so this entry is CommonJS (no ESM loader) and runs the command from its bundle
// (see bundle-loader.cts); the modules themselves are the fallback when the bundle was not built.
import loader = require('./bundle-loader.cjs');

loader
  .runBundle('fail2ban-client')
  .then((ran) => (ran ? undefined : import('./fail2ban-client-run.js')))
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  });
