// `portcullis setup fail2ban ...` and `portcullis setup debug fail2ban ...`, docker-mailserver's commands.
import type { Command } from 'commander';
import { type ConnectOptions, connect, processIo } from './cli-io.js';
import { runSetupFail2ban } from './setup-fail2ban.js';

/** In docker-mailserver the socket comes from /etc/fail2ban; -s / -c point elsewhere (tests, other hosts). */
async function run(args: string[], opts: ConnectOptions): Promise<void> {
  process.exitCode = await runSetupFail2ban(args, connect(opts), processIo);
}

function withSocket(cmd: Command): Command {
  return cmd
    .option('-s, --socket <path>', 'control socket (default: from /etc/fail2ban, else the built-in default)')
    .option('-c, --config <dir>', 'configuration directory to read the socket path from');
}

export function register(program: Command): void {
  const setup = program.command('setup').description("docker-mailserver's management commands");
  withSocket(setup.command('fail2ban'))
    .description('list, ban and unban addresses; show status or the log (setup fail2ban help)')
    .argument('[args...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(run);
  withSocket(setup.command('debug').description('older docker-mailserver forms').command('fail2ban'))
    .description('list the bans, or unban: setup debug fail2ban [unban IP]')
    .argument('[args...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(run);
}
