// The body of the `fail2ban-server` bin (fail2ban-server.cts), run from its bundle or, when the bundle
// was not built, imported: Fail2Ban's server command line. The server always stays in the foreground.
import { parseArgs } from 'node:util';
import { UserError } from '../errors.js';
import { runServer } from './server.js';

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
      optimiseForSize: true,
    });
  }
} catch (err) {
  process.stderr.write(`fail2ban-server: ${(err as Error).message}\n`);
  const badArguments = (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ?? false;
  process.exitCode = err instanceof UserError ? err.exitCode : badArguments ? 2 : 1;
}
