// Registers the client commands on the `portcullis` program. Each talks to the server over the control
// socket only; `-s/--socket` and `-c/--config` say which server.
import type { Command } from 'commander';
import { type ConnectOptions, connect, processIo } from './cli-io.js';
import * as commands from './control-commands.js';
import { runFail2banClient } from './fail2ban-client.js';

type Options = ConnectOptions & commands.CommandOptions & { all?: boolean; restart?: boolean; unban?: boolean; force?: boolean };

function withConnection(cmd: Command): Command {
  return cmd
    .option('-s, --socket <path>', 'control socket (default: from the config, else /var/run/fail2ban/fail2ban.sock)')
    .option('-c, --config <dir>', 'configuration directory to read the socket path from')
    .option('--json', 'print one JSON object');
}

export function register(program: Command): void {
  withConnection(program.command('status').argument('[jail]').description('list the jails, or show one jail'))
    .action(async (jail: string | undefined, opts: Options) =>
      commands.status(connect(opts), processIo, jail, opts),
    );
  withConnection(program.command('ban').argument('<jail>').argument('<ip...>').description('ban addresses or CIDRs in a jail'))
    .option('--force', 'ban a gateway of the host all the same (it may lock every client out)')
    .action(async (jail: string, ips: string[], opts: Options) =>
      commands.ban(connect(opts), processIo, jail, ips, opts),
    );
  withConnection(program.command('unban').argument('[ip...]').description('lift bans in every jail'))
    .option('--all', 'lift every ban')
    .action(async (ips: string[], opts: Options) => commands.unban(connect(opts), processIo, ips, opts));
  withConnection(program.command('banned').description('list the banned addresses per jail'))
    .action(async (opts: Options) => commands.banned(connect(opts), processIo, opts));
  withConnection(program.command('reload').argument('[jail]').description('re-read the configuration'))
    .option('--restart', 'rebuild the jails (forgets failure counts) instead of reconfiguring them in place')
    .option('--unban', 'lift every ban of the reloaded jails first')
    .action(async (jail: string | undefined, opts: Options) =>
      commands.reload(connect(opts), processIo, jail, opts),
    );
  withConnection(program.command('ping').description('check that the server answers'))
    .action(async (opts: Options) => commands.ping(connect(opts), processIo, opts));
  withConnection(program.command('stop').description('stop the server'))
    .action(async (opts: Options) => commands.stop(connect(opts), processIo, opts));
  program
    .command('client')
    .description('fail2ban-client: the same arguments and output as Fail2Ban 1.0')
    .argument('[args...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (args: string[]) => {
      process.exitCode = await runFail2banClient(args, { io: processIo });
    });
}
