// `portcullis status|ban|unban|banned|reload|ping|stop`: the server's own client commands. Plain text
// for people (status reuses Fail2Ban's familiar tree), `--json` for scripts.
import type { FleetStatus } from '../fleet/fleet.js';
import { ExitCode, UserError } from '../errors.js';
import { ControlError, type ControlRequest, canonicalAddress } from '../server/control-protocol.js';
import type { CliIo } from './cli-io.js';
import { type ControlClient, ServerReplyError, ServerUnreachableError } from './client.js';
import { formatJailStatus, formatStatus } from './format-fail2ban.js';

export interface CommandOptions {
  json?: boolean;
}

function show(io: CliIo, opts: CommandOptions, value: unknown, text: string): void {
  io.out(opts.json ? `${JSON.stringify(value)}\n` : text === '' ? '' : `${text}\n`);
}

/** Sends `req`; transport and server errors become one-line UserErrors with the right exit code. */
async function ask<R extends ControlRequest>(client: ControlClient, req: R) {
  try {
    return await client.request(req);
  } catch (err) {
    translate(err);
  }
}

/** A transport or server error as a one-line UserError with the right exit code. */
function translate(err: unknown): never {
  if (err instanceof ServerUnreachableError && err.reason === 'timeout') {
    throw new UserError(`the server on ${err.socketPath} did not answer: ${err.detail}`, ExitCode.failure);
  }
  if (err instanceof ServerUnreachableError) {
    const why =
      err.reason === 'missing'
        ? 'no socket at'
        : err.reason === 'permission'
          ? 'permission denied (run as root) on'
          : err.reason === 'refused'
            ? 'nothing listens on'
            : `${err.detail} on`;
    throw new UserError(
      `server not running: ${why} ${err.socketPath}; start it with 'portcullis server' (or pass -s SOCKET)`,
      ExitCode.failure,
    );
  }
  if (err instanceof ServerReplyError) {
    const usage =
      err.code === 'unknown-jail' || err.code === 'invalid-ip' || err.code === 'invalid-argument' || err.code === 'refused';
    const hint = err.code === 'unknown-jail' ? " (see 'portcullis status' for the jails)" : '';
    const code = err.code === 'config' ? ExitCode.config : usage ? ExitCode.usage : ExitCode.failure;
    throw new UserError(`${err.message}${hint}`, code);
  }
  throw err;
}

/**
 * Validates addresses before anything is sent, so a typo changes nothing. A network written with host
 * bits (`10.0.0.1/8`) is the network it lies in; the firewall can only hold that, so say so.
 */
export function addresses(ips: readonly string[], io?: CliIo): string[] {
  return ips.map((ip) => {
    let canonical: string;
    try {
      canonical = canonicalAddress(ip);
    } catch (err) {
      if (err instanceof ControlError) throw new UserError(err.message, ExitCode.usage);
      throw err;
    }
    const slash = ip.indexOf('/');
    if (slash !== -1 && canonicalAddress(ip.slice(0, slash)) !== canonical.split('/')[0]) {
      io?.err(`portcullis: ${ip} has host bits set; widened to the network ${canonical}\n`);
    }
    return canonical;
  });
}

export async function status(client: ControlClient, io: CliIo, jail: string | undefined, opts: CommandOptions) {
  if (jail === undefined) {
    // Sorted for both outputs, as Fail2Ban's text lists them.
    const jails = [...(await ask(client, { cmd: 'jails' }))].sort();
    // Only a server sharing bans (and new enough to say so) adds its fleet's state.
    const fleet = await client.request({ cmd: 'fleet' }).catch(() => null);
    if (fleet === null) show(io, opts, { jails }, formatStatus(jails));
    else show(io, opts, { jails, fleet }, `${formatStatus(jails).replace(/\n$/, '')}\n${formatFleet(fleet)}`);
  } else {
    const s = await ask(client, { cmd: 'status', jail });
    const problems = s.problems?.length ? `\nProblems:\n${s.problems.map((p) => `  ${p}`).join('\n')}` : '';
    show(io, opts, { jail, ...s }, `${formatJailStatus(jail, s).replace(/\n$/, '')}${problems}`);
  }
}

/** The fleet's state under the server status, one line. */
function formatFleet(f: FleetStatus): string {
  const link = f.connected ? `connected to ${f.redis}` : `NOT connected to ${f.redis} (bans queued: ${f.queued})`;
  return `Fleet: node ${f.node}, ${link}; behind by ${f.behind}; sent ${f.sent}, received ${f.received} (applied ${f.applied}), rejected ${f.rejected}`;
}

export async function ban(client: ControlClient, io: CliIo, jail: string, ips: string[], opts: CommandOptions & { force?: boolean }) {
  const valid = addresses(ips, io);
  let banned: number;
  try {
    banned = await client.request({ cmd: 'ban', jail, ips: valid, ...(opts.force === true ? { force: true } : {}) });
  } catch (err) {
    // Some addresses were refused (loopback, ignoreip, this host, too wide): exit 0 only if others were banned.
    if (!(err instanceof ServerReplyError && err.code === 'refused' && (err.count ?? 0) > 0)) translate(err);
    io.err(`portcullis: ${err.message}\n`);
    show(io, opts, { jail, banned: err.count, refused: err.message }, `${jail}: ${err.count} of ${valid.length} newly banned`);
    return;
  }
  show(io, opts, { jail, banned }, `${jail}: ${banned} of ${valid.length} newly banned`);
}

export async function unban(client: ControlClient, io: CliIo, ips: string[], opts: CommandOptions & { all?: boolean }) {
  if (opts.all === true && ips.length > 0) throw new UserError('give addresses or --all, not both');
  if (opts.all !== true && ips.length === 0) throw new UserError('nothing to unban: give addresses or --all');
  const counts = await ask(client, { cmd: 'unban', ips: opts.all ? 'all' : addresses(ips, io) });
  const lines = counts.filter((c) => c.count > 0).map((c) => `${c.jail}: ${c.count} unbanned`);
  show(io, opts, { unbanned: counts }, lines.length === 0 ? 'nothing was banned' : lines.join('\n'));
}

export async function banned(client: ControlClient, io: CliIo, opts: CommandOptions) {
  // The same jails, in the same order, for people and for scripts: those with bans, by name.
  const bans = (await ask(client, { cmd: 'banned' })).filter((b) => b.ips.length > 0);
  bans.sort((a, b) => (a.jail < b.jail ? -1 : a.jail > b.jail ? 1 : 0));
  const lines = bans.map((b) => `${b.jail}: ${b.ips.join(' ')}`);
  show(io, opts, { banned: bans }, lines.length === 0 ? 'no addresses are banned' : lines.join('\n'));
}

export async function reload(
  client: ControlClient,
  io: CliIo,
  jail: string | undefined,
  opts: CommandOptions & { restart?: boolean; unban?: boolean },
) {
  const restart = opts.restart === true;
  const unban = opts.unban === true;
  await ask(client, { cmd: 'reload', ...(jail === undefined ? {} : { jail }), ...(restart ? { restart } : {}), ...(unban ? { unban } : {}) });
  const what = jail === undefined ? 'reloaded' : `reloaded jail ${jail}`;
  show(io, opts, { reloaded: jail ?? 'all', ...(restart ? { restarted: true } : {}) }, restart ? `${what} (jails restarted)` : what);
}

export async function ping(client: ControlClient, io: CliIo, opts: CommandOptions) {
  await ask(client, { cmd: 'ping' });
  show(io, opts, { pong: true }, `pong from ${client.socketPath}`);
}

export async function stop(client: ControlClient, io: CliIo, opts: CommandOptions) {
  await ask(client, { cmd: 'stop' });
  show(io, opts, { stopped: true }, 'server stopping');
}
