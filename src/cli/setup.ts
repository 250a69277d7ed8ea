// `portcullis setup fail2ban ...` and `portcullis setup debug fail2ban ...`, docker-mailserver's commands.
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { type ConnectOptions, connect, processIo } from './cli-io.js';
import * as commands from './control-commands.js';
import { runSetupFail2ban } from './setup-fail2ban.js';

/**
 * In docker-mailserver the socket comes from /etc/fail2ban; -s / -c point elsewhere (tests, other
 * hosts), given before or after `fail2ban`. `--json` is ours: the same answers as `portcullis banned`,
 * `status`, `ban custom`, `unban` with `--json`.
 */
async function run(args: string[], _opts: ConnectOptions, cmd: Command): Promise<void> {
  const opts = cmd.optsWithGlobals<ConnectOptions>();
  const json = args.filter((a) => a !== '--json');
  if (json.length === args.length) {
    process.exitCode = await runSetupFail2ban(args, connect(opts), processIo);
    return;
  }
  const [sub, ...rest] = json;
  const client = connect(opts);
  const asJson = { json: true };
  if (sub === undefined) return commands.banned(client, processIo, asJson);
  if (sub === 'status' && rest.length === 0) return jailStatuses(client);
  if (sub === 'ban') return commands.ban(client, processIo, 'custom', rest, asJson);
  if (sub === 'unban') return commands.unban(client, processIo, rest, asJson);
  throw new UserError(`setup fail2ban ${json.join(' ')}: no --json form (it has: setup fail2ban [status|ban IP...|unban IP...] --json)`);
}

/** `setup fail2ban status --json`: every jail's status, by jail name. */
async function jailStatuses(client: ReturnType<typeof connect>): Promise<void> {
  const jails = [...(await client.request({ cmd: 'jails' }))].sort();
  const out = [];
  for (const jail of jails) out.push({ jail, ...(await client.request({ cmd: 'status', jail })) });
  processIo.out(`${JSON.stringify({ jails: out })}\n`);
}

function withSocket(cmd: Command): Command {
  return cmd
    .option('-s, --socket <path>', 'control socket (default: from /etc/fail2ban, else the built-in default)')
    .option('-c, --config <dir>', 'configuration directory to read the socket path from');
}

export function register(program: Command): void {
  const setup = withSocket(program.command('setup').description("docker-mailserver's management commands"));
  withSocket(setup.command('fail2ban'))
    .description('list, ban and unban addresses; show status or the log (setup fail2ban help); --json for scripts')
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
