// Carries out one validated request against the daemon's handler. Both wire protocols (our JSON and
// Fail2Ban's pickles) end here, so a command gives the same result whichever client sent it.
import { UserError } from '../errors.js';
import { parseCidr } from '../net/ip.js';
import { formatLocalTime } from './daemon-log.js';
import {
  type BanTime,
  ControlError,
  type ControlHandler,
  type ControlRequest,
  type ControlResponse,
  type ControlResults,
} from './control-protocol.js';

/** The error half of a response, for any exception a handler throws. */
export function describeError(err: unknown): Extract<ControlResponse, { ok: false }>['error'] {
  if (err instanceof ControlError) return { code: err.code, message: err.message, ...err.detail };
  if (err instanceof UserError) return { code: 'failed', message: err.message };
  const detail = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message: `internal error: ${detail}` };
}

function requireJail(handler: ControlHandler, jail: string): void {
  if (!handler.jailNames().includes(jail)) {
    throw new ControlError('unknown-jail', `Sorry but the jail '${jail}' does not exist`, { jail });
  }
}

/**
 * Fail2Ban answers `get JAIL ignoreip` with networks normalised (`127.0.0.1/8` → `127.0.0.0/8`),
 * networks and names first, then single addresses.
 */
function normaliseIgnoreList(entries: readonly string[]): string[] {
  const nets: string[] = [];
  const singles: string[] = [];
  for (const entry of entries) {
    const net = entry.includes('/') ? parseCidr(entry) : null;
    if (net !== null) nets.push(net.text);
    else if (parseCidr(entry) !== null) singles.push(parseCidr(entry)?.text as string);
    else nets.push(entry);
  }
  return [...new Set(nets), ...new Set(singles)];
}

/** Fail2Ban's end of a permanent ban: its time formatting stops at the end of year 9999. */
const lastTime = '9999-12-31 23:59:59';

function timeText(epochSeconds: number): string {
  return epochSeconds >= 253402214400 ? lastTime : formatLocalTime(epochSeconds * 1000);
}

/** `get JAIL banip`: ordered by end of ban (a stable sort, so equal ends keep ban order). */
export function banListText(bans: readonly BanTime[], withTime: boolean): string[] {
  const end = (b: BanTime) => (b.bantime < 0 ? Number.POSITIVE_INFINITY : b.time + b.bantime);
  const sorted = [...bans].sort((a, b) => end(a) - end(b));
  if (!withTime) return sorted.map((b) => b.ip);
  return sorted.map((b) => {
    const until = b.bantime < 0 ? lastTime : timeText(b.time + b.bantime);
    // `%d`, as Fail2Ban formats it: a prolonged ban's bantime has a fraction of a second.
    return `${b.ip} \t${timeText(b.time)} + ${Math.trunc(b.bantime)} = ${until}`;
  });
}

async function run(handler: ControlHandler, req: ControlRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'ping':
      return 'pong';
    case 'version':
      return handler.version();
    case 'jails':
      return [...handler.jailNames()];
    case 'status':
      requireJail(handler, req.jail);
      return handler.jailStatus(req.jail);
    case 'ban':
      requireJail(handler, req.jail);
      return handler.ban(req.jail, req.ips, req.force === true);
    case 'unban':
      if (req.jail !== undefined) requireJail(handler, req.jail);
      return handler.unban(req.ips, req.jail);
    case 'banned':
      return handler.banned();
    case 'reload':
      // Not checked against jailNames(): reloading may bring in a jail that was just added to the config.
      await handler.reload(req.jail, { restart: req.restart === true, unban: req.unban === true });
      return null;
    case 'stop':
      return null;
    case 'get': {
      requireJail(handler, req.jail);
      const value = await handler.get(req.jail, req.key);
      return req.key === 'ignoreip' && Array.isArray(value) ? normaliseIgnoreList(value) : value;
    }
    case 'banlist':
      requireJail(handler, req.jail);
      return banListText(await handler.banTimes(req.jail), req.withTime);
    case 'get-loglevel':
      return handler.getLogLevel();
    case 'set-loglevel':
      return handler.setLogLevel(req.level);
    case 'server-get':
      return handler.serverSetting(req.key);
    case 'flushlogs':
      return handler.flushLogs();
    case 'fleet':
      return handler.fleetStatus?.() ?? null;
    case 'stats': {
      const names = [...handler.jailNames()].sort();
      const rows = [];
      for (const jail of names) {
        const s = await handler.jailStatus(jail);
        rows.push({
          jail,
          backend: handler.jailBackend(jail),
          currentlyFailed: s.currentlyFailed,
          totalFailed: s.totalFailed,
          currentlyBanned: s.currentlyBanned,
          totalBanned: s.totalBanned,
        });
      }
      return rows;
    }
  }
}

/** Runs a request and returns its typed result; throws ControlError (or anything a handler throws). */
export function dispatch<R extends ControlRequest>(handler: ControlHandler, req: R): Promise<ControlResults[R['cmd']]> {
  return run(handler, req) as Promise<ControlResults[R['cmd']]>;
}
