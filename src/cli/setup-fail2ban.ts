// docker-mailserver's `setup fail2ban` and `setup debug fail2ban`: the lines, streams and exit codes its
// users and tests expect. It speaks to the server directly rather than through fail2ban-client.
import { readFile } from 'node:fs/promises';
import { ControlError, canonicalAddress } from '../server/control-protocol.js';
import type { CliIo } from './cli-io.js';
import { type ControlClient, ServerReplyError, ServerUnreachableError } from './client.js';
import { formatJailStatus } from './format-fail2ban.js';

const usage = [
  'Usage: setup fail2ban                      list the banned addresses of every jail',
  '       setup fail2ban ban <IP|CIDR>...     ban in the custom jail',
  '       setup fail2ban unban <IP|CIDR>...   lift the bans in every jail',
  '       setup fail2ban status               show the status of every jail',
  '       setup fail2ban log                  show the daemon log',
  '       setup fail2ban help                 show this help',
  '',
].join('\n');

/** The jail docker-mailserver keeps for manual bans. */
const manualJail = 'custom';

class Abort extends Error {}

/** Runs `setup fail2ban ARGS...` and returns the exit code. */
export async function runSetupFail2ban(args: readonly string[], client: ControlClient, io: CliIo): Promise<number> {
  const abort = (message: string): never => {
    io.err(`${message}\nAborting\n`);
    throw new Abort(message);
  };
  try {
    try {
      await client.request({ cmd: 'ping' });
    } catch (err) {
      if (err instanceof ServerUnreachableError) abort('Fail2ban not running');
      throw err;
    }
    await dispatch(args, client, io, abort);
    return 0;
  } catch (err) {
    if (err instanceof Abort) return 1;
    if (err instanceof ServerReplyError || err instanceof ServerUnreachableError) {
      io.err(`${err.message}\nAborting\n`);
      return 1;
    }
    throw err;
  }
}

function validated(ips: readonly string[], abort: (message: string) => never): string[] {
  return ips.map((ip) => {
    try {
      return canonicalAddress(ip);
    } catch (err) {
      if (err instanceof ControlError) return abort(err.message);
      throw err;
    }
  });
}

async function dispatch(
  args: readonly string[],
  client: ControlClient,
  io: CliIo,
  abort: (message: string) => never,
): Promise<void> {
  const [cmd, ...rest] = args;
  switch (cmd) {
    case undefined: {
      const bans = (await client.request({ cmd: 'banned' })).filter((b) => b.ips.length > 0);
      bans.sort((a, b) => (a.jail < b.jail ? -1 : a.jail > b.jail ? 1 : 0));
      for (const { jail, ips } of bans) io.out(`Banned in ${jail}: ${ips.join(' ')}\n`);
      if (bans.length === 0) io.out('No IPs have been banned\n');
      return;
    }
    case 'ban': {
      if (rest.length === 0) {
        io.err("You need to specify an IP address: Run './setup.sh fail2ban ban <IP>'\n");
        return;
      }
      const count = await client.request({ cmd: 'ban', jail: manualJail, ips: validated(rest, abort) });
      if (count > 0) io.out(`Banned custom IP: ${count}\n`);
      else io.err(`Banning '${rest.join(' ')}' failed. Already banned?\n`);
      return;
    }
    case 'unban': {
      if (rest.length === 0) {
        io.err("You need to specify an IP address: Run './setup.sh fail2ban' to get a list of banned IP addresses\n");
        return;
      }
      const counts = await client.request({ cmd: 'unban', ips: validated(rest, abort) });
      counts.sort((a, b) => (a.jail < b.jail ? -1 : a.jail > b.jail ? 1 : 0));
      // DMS's script prints every jail's answer to `set JAIL unbanip`, which is 0 where nothing was banned.
      for (const { jail, count } of counts) io.out(`Unbanned IP from ${jail}: ${count}\n`);
      return;
    }
    case 'status': {
      const jails = [...(await client.request({ cmd: 'jails' }))].sort();
      const blocks: string[] = [];
      for (const jail of jails) blocks.push(formatJailStatus(jail, await client.request({ cmd: 'status', jail })));
      io.out(blocks.length === 0 ? '' : `${blocks.join('\n\n')}\n`);
      return;
    }
    case 'log': {
      const target = String(await client.request({ cmd: 'server-get', key: 'logtarget' }));
      if (!target.startsWith('/')) abort(`The server logs to ${target}, not to a file`);
      try {
        io.out(await readFile(target, 'utf8'));
      } catch (err) {
        abort(`Cannot read the log ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      return;
    }
    case 'help':
      io.out(usage);
      return;
    default:
      io.out(usage);
      abort(`Unknown command '${cmd}'`);
  }
}
