#!/usr/bin/env node
// `node probe-cli.js [BACKEND]`: checks that a firewall backend can work on this host and prints one
// line, like the daemon does at start. For operators (and the capability test) before the daemon runs.
import { UserError } from '../errors.js';
import { probeFirewall } from './probe.js';
import { type BackendName, nativeAction } from './select.js';

const action = process.argv[2] ?? 'nftables';
const native = nativeAction(action);
if (native === null) {
  process.stderr.write(`portcullis: unknown firewall backend '${action}'\n`);
  process.exitCode = 2;
} else {
  try {
    await probeFirewall(native.backend satisfies BackendName);
    process.stdout.write(`firewall ready: ${action}\n`);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    process.stderr.write(`portcullis: ${err.message}\n`);
    process.exitCode = err.exitCode;
  }
}
