// Fail2Ban's transmitter on our handler: a decoded command list (`['set', 'custom', 'banip', '1.2.3.4']`)
// becomes one of our ControlRequests, runs through the same dispatch as the JSON path, and its result is
// shaped into the Python objects Fail2Ban's server returns (lists of (label, value) tuples for status,
// ints for counts, exceptions for errors), so a client unpickling the reply sees what Fail2Ban sends.
import { pyRepr } from '../config/pyvalue.js';
import { dispatch } from './control-dispatch.js';
import {
  ControlError,
  type ControlHandler,
  type JailStats,
  type JailStatus,
  canonicalAddress,
  jailKeys,
  type JailKey,
  serverKeys,
  type ServerKey,
} from './control-protocol.js';
import { PickleError, PyDict, PyException, PyTuple, type PyValue } from './pickle.js';

export interface TransmitResult {
  /** `(0, result)` or `(1, exception)`, Fail2Ban's ack. */
  reply: PyValue;
  /** The command was `stop`: shut down once the reply is out. */
  stop: boolean;
}

/** Most values a command may hold in total (a `reload` carries the whole configuration stream). */
const maxNodes = 200_000;
const maxDepth = 16;

/**
 * Checks the shape of a decoded command: a list whose nesting and size are bounded. Shared and cyclic
 * references (possible with the memo) are caught by the same bounds, so nothing walks forever.
 */
function checkShape(value: PyValue): PyValue[] {
  if (!Array.isArray(value)) throw new PickleError('a command is a pickled list');
  let nodes = 0;
  const walk = (v: PyValue, depth: number): void => {
    if (++nodes > maxNodes) throw new PickleError(`a command holds more than ${maxNodes} values`);
    if (depth > maxDepth) throw new PickleError(`a command nests deeper than ${maxDepth} levels`);
    const children = Array.isArray(v) ? v : v instanceof PyTuple ? v.items : v instanceof PyDict ? v.entries.flat() : [];
    for (const child of children) walk(child, depth + 1);
  };
  walk(value, 0);
  return value;
}

/** A command argument as text, as Fail2Ban's client converts every argument to a string before sending. */
function text(v: PyValue | undefined): string {
  if (v === undefined) throw new IndexError();
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  throw new ControlError('bad-request', 'a command argument is not a string');
}

/** Python's `IndexError: list index out of range`, what Fail2Ban raises for a missing argument. */
class IndexError extends Error {
  constructor() {
    super('list index out of range');
  }
}

const invalidCommand = 'Invalid command';
const invalidGet = 'Invalid command (no get action or not yet implemented)';

/** Fail2Ban's Python exception for an error, so its client prints the same lines. */
function pythonError(err: unknown): PyException {
  if (err instanceof IndexError) return new PyException('builtins', 'IndexError', [err.message]);
  if (err instanceof ControlError) {
    if (err.code === 'unknown-jail' && err.detail.jail !== undefined) {
      return new PyException('fail2ban.server.jails', 'UnknownJailException', [err.detail.jail]);
    }
    if (err.code === 'invalid-ip' || err.code === 'invalid-argument') {
      return new PyException('builtins', 'ValueError', [err.message]);
    }
    return new PyException('builtins', 'Exception', [err.message]);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new PyException('builtins', 'Exception', [message]);
}

function jailStatusValue(s: JailStatus): PyValue {
  return [
    new PyTuple([
      'Filter',
      [
        new PyTuple(['Currently failed', s.currentlyFailed]),
        new PyTuple(['Total failed', s.totalFailed]),
        new PyTuple(['File list', [...s.files]]),
      ],
    ]),
    new PyTuple([
      'Actions',
      [
        new PyTuple(['Currently banned', s.currentlyBanned]),
        new PyTuple(['Total banned', s.totalBanned]),
        new PyTuple(['Banned IP list', [...s.bannedIps]]),
      ],
    ]),
  ];
}

function statsValue(rows: readonly JailStats[]): PyDict {
  return new PyDict(
    rows.map((r) => [
      r.jail,
      [r.backend, new PyTuple([r.currentlyFailed, r.totalFailed]), new PyTuple([r.currentlyBanned, r.totalBanned])],
    ]),
  );
}

/** Addresses as the handler takes them; ones that are not addresses cannot be banned, so they unban nothing. */
function validAddresses(values: readonly string[]): string[] {
  return values.flatMap((v) => {
    try {
      return [canonicalAddress(v)];
    } catch {
      return [];
    }
  });
}

class Transmitter {
  constructor(private readonly handler: ControlHandler) {}

  async serverStatus(): Promise<PyValue> {
    const jails = [...(await dispatch(this.handler, { cmd: 'jails' }))].sort();
    return [new PyTuple(['Number of jail', jails.length]), new PyTuple(['Jail list', jails.join(', ')])];
  }

  async status(args: PyValue[]): Promise<PyValue> {
    if (args.length === 0) return this.serverStatus();
    if (args.length > 2) throw new ControlError('failed', 'Invalid command (no status)');
    const name = text(args[0]);
    const flavor = args.length === 2 ? text(args[1]) : 'basic';
    if (name !== '--all') return jailStatusValue(await dispatch(this.handler, { cmd: 'status', jail: name }));
    if (flavor === 'stats') return statsValue(await dispatch(this.handler, { cmd: 'stats' }));
    const list = (await this.serverStatus()) as PyValue[];
    const jails = [...(await dispatch(this.handler, { cmd: 'jails' }))].sort();
    const all: Array<[PyValue, PyValue]> = [];
    for (const jail of jails) all.push([jail, jailStatusValue(await dispatch(this.handler, { cmd: 'status', jail }))]);
    return [...list, new PyDict(all)];
  }

  async banned(jail: string | undefined, ids: string[]): Promise<PyValue> {
    const bans = await dispatch(this.handler, { cmd: 'banned' });
    const listed = (ip: string, ips: readonly string[]) => ips.includes(canonicalOrSelf(ip));
    if (jail !== undefined) {
      const ips = bans.find((b) => b.jail === jail)?.ips;
      if (ips === undefined) throw new ControlError('unknown-jail', `Sorry but the jail '${jail}' does not exist`, { jail });
      if (ids.length === 0) return [...ips];
      if (ids.length === 1) return listed(ids[0] as string, ips) ? 1 : 0;
      return ids.map((ip) => (listed(ip, ips) ? 1 : 0));
    }
    if (ids.length > 0) return ids.map((ip) => bans.filter((b) => listed(ip, b.ips)).map((b) => b.jail));
    return bans.map((b) => new PyDict([[b.jail, [...b.ips]]]));
  }

  async unban(jail: string | undefined, values: string[], reportAbsent: boolean): Promise<PyValue> {
    const ips = validAddresses(values);
    if (reportAbsent && jail !== undefined) {
      const current = (await dispatch(this.handler, { cmd: 'banned' })).find((b) => b.jail === jail)?.ips;
      if (current === undefined) throw new ControlError('unknown-jail', `Sorry but the jail '${jail}' does not exist`, { jail });
      const missing = values.filter((v) => !current.includes(canonicalOrSelf(v)));
      if (missing.length > 0) throw new ControlError('failed', `not banned: ${pyRepr(missing)}`);
    }
    if (jail !== undefined) await dispatch(this.handler, { cmd: 'status', jail });
    if (ips.length === 0) return 0;
    const counts = await dispatch(this.handler, jail === undefined ? { cmd: 'unban', ips } : { cmd: 'unban', ips, jail });
    return counts.reduce((sum, c) => sum + c.count, 0);
  }

  async set(args: PyValue[]): Promise<PyValue> {
    const target = text(args[0]);
    if (target === 'loglevel') return dispatch(this.handler, { cmd: 'set-loglevel', level: text(args[1]) });
    const what = text(args[1]);
    const values = args.slice(2).map(text);
    if (what === 'banip') {
      if (values.length === 0) {
        await dispatch(this.handler, { cmd: 'status', jail: target });
        return 0;
      }
      try {
        return await dispatch(this.handler, { cmd: 'ban', jail: target, ips: values.map(canonicalAddress) });
      } catch (err) {
        // Addresses portcullis never bans (loopback, ignoreip, this host) are left out of the count, as on
        // our own client's path; the daemon log says why.
        if (err instanceof ControlError && err.code === 'refused') return err.detail.count ?? 0;
        throw err;
      }
    }
    if (what === 'unbanip') {
      const reportAbsent = text(args[2]) === '--report-absent';
      return this.unban(target, reportAbsent ? values.slice(1) : values, reportAbsent);
    }
    throw new ControlError('failed', `Invalid command ${pyRepr(what)} (no set action or not yet implemented)`);
  }

  async get(args: PyValue[]): Promise<PyValue> {
    const name = text(args[0]);
    if (name === 'loglevel') return dispatch(this.handler, { cmd: 'get-loglevel' });
    if ((serverKeys as readonly string[]).includes(name)) {
      return dispatch(this.handler, { cmd: 'server-get', key: name as ServerKey });
    }
    const key = text(args[1]);
    if (key === 'banip') {
      const withTime = args.length > 2 && text(args[2]) === '--with-time';
      return dispatch(this.handler, { cmd: 'banlist', jail: name, withTime });
    }
    if (key === 'banned') return this.banned(name, args.slice(2).map(text));
    if (!(jailKeys as readonly string[]).includes(key)) {
      await dispatch(this.handler, { cmd: 'status', jail: name });
      throw new ControlError('failed', invalidGet);
    }
    const value = await dispatch(this.handler, { cmd: 'get', jail: name, key: key as JailKey });
    return Array.isArray(value) ? [...value] : value;
  }

  async reload(args: PyValue[]): Promise<PyValue> {
    // ['reload', '--all' | JAIL, options, configuration stream]: the stream is the client's reading of the
    // configuration; portcullis re-reads its own, which is the same tree.
    const target = args.length > 0 ? text(args[0]) : '--all';
    const opts = Array.isArray(args[1]) ? args[1].map(text) : [];
    const flags = { ...(opts.includes('--restart') ? { restart: true } : {}), ...(opts.includes('--unban') ? { unban: true } : {}) };
    await dispatch(this.handler, target === '--all' ? { cmd: 'reload', ...flags } : { cmd: 'reload', jail: target, ...flags });
    return 'OK';
  }

  async command(cmd: PyValue[]): Promise<TransmitResult> {
    const name = text(cmd[0]);
    const args = cmd.slice(1);
    const ok = (value: PyValue): TransmitResult => ({ reply: new PyTuple([0, value]), stop: false });
    switch (name) {
      case 'ping':
        return ok('pong');
      case 'echo':
        return ok(args);
      case 'server-status':
        return ok('Server ready');
      case 'version':
        return ok(await dispatch(this.handler, { cmd: 'version' }));
      case 'stop':
        if (args.length > 0) break;
        await dispatch(this.handler, { cmd: 'stop' });
        return { reply: new PyTuple([0, null]), stop: true };
      case 'status':
        return ok(await this.status(args));
      case 'stats':
      case 'statistic':
      case 'statistics':
        return ok(statsValue(await dispatch(this.handler, { cmd: 'stats' })));
      case 'banned':
        return ok(await this.banned(undefined, args.map(text)));
      case 'unban':
        if (args.length === 0) break;
        if (args.length === 1 && text(args[0]) === '--all') {
          const counts = await dispatch(this.handler, { cmd: 'unban', ips: 'all' });
          return ok(counts.reduce((sum, c) => sum + c.count, 0));
        }
        return ok(await this.unban(undefined, args.map(text), false));
      case 'set':
        return ok(await this.set(args));
      case 'get':
        return ok(await this.get(args));
      case 'reload':
        return ok(await this.reload(args));
      case 'flushlogs':
        return ok(await dispatch(this.handler, { cmd: 'flushlogs' }));
    }
    throw new ControlError('failed', invalidCommand);
  }
}

function canonicalOrSelf(text: string): string {
  try {
    return canonicalAddress(text);
  } catch {
    return text;
  }
}


/**
 * Carries out one decoded command and returns Fail2Ban's ack. A command that is not a list of values
 * within bounds throws PickleError (the connection is then closed); everything else, including errors
 * of the handler, becomes a `(1, exception)` reply.
 */
export async function transmit(handler: ControlHandler, decoded: PyValue): Promise<TransmitResult> {
  const cmd = checkShape(decoded);
  try {
    return await new Transmitter(handler).command(cmd);
  } catch (err) {
    return { reply: new PyTuple([1, pythonError(err)]), stop: false };
  }
}
