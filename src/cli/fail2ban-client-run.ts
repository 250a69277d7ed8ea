// The body of the `fail2ban-client` command, run from the bundle (see bundle-loader.ts) or, when the
// bundle was not built, imported by fail2ban-client-main.ts.
import { basename } from 'node:path';
import { processIo } from './cli-io.js';
import { runFail2banClient } from './fail2ban-client.js';

process.exitCode = await runFail2banClient(process.argv.slice(2), {
  io: processIo,
  // Run by its file path (node dist/…/fail2ban-client.cjs or …-main.js) it is still fail2ban-client.
  name: basename(process.argv[1] ?? 'fail2ban-client').replace(/(-main\.js|\.cjs)$/, ''),
});
