// `portcullis setup fail2ban ...` and `portcullis setup debug fail2ban ...`, docker-mailserver's commands.
import type { Command } from 'commander';
import { connect, processIo } from './cli-io.js';
import { runSetupFail2ban } from './setup-fail2ban.js';

async function run(args: string[]): Promise<void> {
  // docker-mailserver's server always reads /etc/fail2ban; the socket comes from there.
  process.exitCode = await runSetupFail2ban(args, connect({}), processIo);
}

export function register(program: Command): void {
  const setup = program.command('setup').description("docker-mailserver's management commands");
  setup
    .command('fail2ban')
    .description('list, ban and unban addresses; show status or the log (setup fail2ban help)')
    .argument('[args...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(run);
  setup
    .command('debug')
    .description('older docker-mailserver forms')
    .command('fail2ban')
    .description('list the bans, or unban: setup debug fail2ban [unban IP]')
    .argument('[args...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(run);
}
