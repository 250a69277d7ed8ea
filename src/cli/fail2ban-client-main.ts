#!/usr/bin/env node
// The `fail2ban-client` command: portcullis behind Fail2Ban's client command line.
import { basename } from 'node:path';
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();
const [{ processIo }, { runFail2banClient }] = await Promise.all([import('./cli-io.js'), import('./fail2ban-client.js')]);

process.exitCode = await runFail2banClient(process.argv.slice(2), {
  io: processIo,
  // Run by its file path (node dist/…/fail2ban-client-main.js) it is still fail2ban-client.
  name: basename(process.argv[1] ?? 'fail2ban-client').replace(/-main\.js$/, ''),
});
