// The control socket's protocol: newline-delimited JSON, one request line → one response line, in order,
// on a Unix socket. Our own clients speak it. The same socket also answers Fail2Ban's pickle protocol
// (pickle-transmitter.ts), which translates each command into one of these requests, so both paths
// reach the same handler and give the same results.
import type { FleetStatus } from '../fleet/fleet.js';
import { parseCidr } from '../net/ip.js';

/** Keys `get JAIL KEY` answers. Numbers are seconds (bantime/findtime) or counts; lists are strings. */
export const jailKeys = ['bantime', 'findtime', 'maxretry', 'maxmatches', 'ignoreip', 'logpath', 'actions'] as const;
export type JailKey = (typeof jailKeys)[number];

/** Server-wide settings `get KEY` answers (Fail2Ban 1.1's `get logtarget|dbfile|…`). */
export const serverKeys = ['logtarget', 'syslogsocket', 'dbfile', 'dbpurgeage', 'dbmaxmatches'] as const;
export type ServerKey = (typeof serverKeys)[number];

/** One current ban, for `get JAIL banip --with-time`. */
export interface BanTime {
  ip: string;
  /** Epoch seconds the ban counts from. */
  time: number;
  /** Seconds, -1 when permanent. */
  bantime: number;
}

/** One jail's line of `stats` (Fail2Ban 1.1). */
export interface JailStats {
  jail: string;
  backend: string;
  currentlyFailed: number;
  totalFailed: number;
  currentlyBanned: number;
  totalBanned: number;
}

export interface JailStatus {
  currentlyFailed: number;
  totalFailed: number;
  /** Log files the jail watches (for a journal jail, its match expressions). */
  files: string[];
  currentlyBanned: number;
  totalBanned: number;
  /** Current bans, oldest first. */
  bannedIps: string[];
  /**
   * What went wrong lately, one line each, most recent last: failed firewall commands of this jail and
   * database trouble. `portcullis status JAIL` shows them; fail2ban-client's output has no place for them.
   */
  problems?: string[];
}

export interface JailCount {
  jail: string;
  count: number;
}

export interface JailBans {
  jail: string;
  ips: string[];
}

export type ControlRequest =
  | { cmd: 'ping' }
  | { cmd: 'version' }
  /** Jail names in configuration order. */
  | { cmd: 'jails' }
  | { cmd: 'status'; jail: string }
  /** `force` bans a gateway of the host all the same (`ban --force`); other refusals stand. */
  | { cmd: 'ban'; jail: string; ips: string[]; force?: boolean }
  /** Without `jail`, unbans in every jail. `ips: 'all'` lifts every ban. */
  | { cmd: 'unban'; ips: string[] | 'all'; jail?: string }
  | { cmd: 'banned' }
  /**
   * `restart` rebuilds the jails (`reload --restart`); without it unchanged jails keep their state.
   * `unban` lifts every ban of the reloaded jails first (`reload --unban`).
   */
  | { cmd: 'reload'; jail?: string; restart?: boolean; unban?: boolean }
  | { cmd: 'stop' }
  | { cmd: 'get'; jail: string; key: JailKey }
  /** Current bans ordered by end of ban, as Fail2Ban's `get JAIL banip`; with their times on request. */
  | { cmd: 'banlist'; jail: string; withTime: boolean }
  | { cmd: 'get-loglevel' }
  | { cmd: 'set-loglevel'; level: string }
  /** logtarget is a file path, or STDOUT/STDERR/SYSLOG/SYSTEMD-JOURNAL; db* are null without a database. */
  | { cmd: 'server-get'; key: ServerKey }
  /** Reopens the log file (logrotate's postrotate). */
  | { cmd: 'flushlogs' }
  | { cmd: 'stats' }
  /** Ban sharing's state (src/fleet); null when `fleet` is not set. */
  | { cmd: 'fleet' };

export type ControlCommand = ControlRequest['cmd'];

export interface ReloadOptions {
  restart?: boolean;
  unban?: boolean;
}

/** What each command answers with when it succeeds. */
export interface ControlResults {
  ping: 'pong';
  version: string;
  jails: string[];
  status: JailStatus;
  ban: number;
  unban: JailCount[];
  banned: JailBans[];
  reload: null;
  stop: null;
  get: number | string[];
  banlist: string[];
  'get-loglevel': string;
  'set-loglevel': string;
  'server-get': string | number | null;
  flushlogs: string;
  stats: JailStats[];
  fleet: FleetStatus | null;
}

export type ControlErrorCode =
  | 'bad-request'
  | 'too-large'
  | 'unknown-command'
  | 'unknown-jail'
  | 'invalid-ip'
  | 'invalid-argument'
  | 'failed'
  /**
   * Nothing, or not everything, was done because an address must not be banned (loopback, ignoreip,
   * this host, too wide). `count` says how many were newly banned all the same.
   */
  | 'refused'
  /** The configuration does not load (reload): the message names file:line; the CLI exits 3. */
  | 'config'
  | 'internal';

export type ControlResponse =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: ControlErrorCode; message: string; jail?: string; value?: string; count?: number } };

/** An error the server reports to the client as `{ok: false, error}`; the daemon's handler may throw it. */
export class ControlError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
    readonly detail: { jail?: string; value?: string; count?: number } = {},
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

type Awaitable<T> = T | Promise<T>;

/**
 * What the daemon implements. The server has already validated every request: jail names (except for
 * reload) exist in jailNames(), addresses are canonical IPs or CIDRs (`10.1.2.3/8` arrives as `10.0.0.0/8`), keys are known.
 * Throw ControlError (e.g. 'invalid-argument', 'failed') for a refusal the client should show as such.
 */
export interface ControlHandler {
  version(): string;
  /** Enabled jails in configuration order. */
  jailNames(): readonly string[];
  jailStatus(jail: string): Awaitable<JailStatus>;
  /**
   * Bans now (bantime of the jail); returns how many were not banned before, once the firewall has them.
   * Throws ControlError('refused', …, {count}) when an address must not be banned (the message says
   * why), and ControlError('failed') when the firewall refused or did not confirm in time.
   */
  ban(jail: string, ips: readonly string[], force?: boolean): Awaitable<number>;
  /** Returns a count per jail it looked at (every jail when `jail` is undefined), in jail order. */
  unban(ips: readonly string[] | 'all', jail: string | undefined): Awaitable<JailCount[]>;
  /** Current bans of every jail, in jail order (jails without bans included, with an empty list). */
  banned(): Awaitable<JailBans[]>;
  /**
   * Re-reads the configuration (one jail, or everything). The jail name is not checked beforehand (it may
   * be new in the config): throw ControlError('unknown-jail') when the configuration has no such jail.
   */
  reload(jail: string | undefined, options?: ReloadOptions): Awaitable<void>;
  /** Called after the reply to `stop` has been written; the daemon then shuts down. */
  stop(): Awaitable<void>;
  get(jail: string, key: JailKey): Awaitable<number | string[]>;
  /** Upper-case level name: CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG. */
  getLogLevel(): string;
  /** Sets the level and returns the new upper-case name; throw ControlError('invalid-argument') if unknown. */
  setLogLevel(level: string): Awaitable<string>;
  serverSetting(key: ServerKey): string | number | null;
  /** Current bans of the jail in the order they were made. */
  banTimes(jail: string): Awaitable<BanTime[]>;
  /** The backend the jail really uses (`polling`, `pyinotify`, `systemd`…). */
  jailBackend(jail: string): string;
  /** Reopens a log file ('rolled over') or flushes a stream ('flushed'), as Fail2Ban's flushlogs answers. */
  flushLogs(): Awaitable<'rolled over' | 'flushed'>;
  /** Ban sharing's state; absent or null when it is off. */
  fleetStatus?(): FleetStatus | null;
}

/** Validates an address argument and returns its canonical text, or throws ControlError('invalid-ip'). */
export function canonicalAddress(text: string): string {
  const parsed = parseCidr(text);
  if (parsed === null) {
    throw new ControlError('invalid-ip', `'${text}' is not an IP address or CIDR network`, { value: text });
  }
  return parsed.text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(msg: Record<string, unknown>, key: string, optional: boolean): string | undefined {
  const value = msg[key];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new ControlError('bad-request', `'${key}' must be a non-empty string`);
  }
  return value;
}

function addressList(msg: Record<string, unknown>): string[] {
  const value = msg.ips;
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string')) {
    throw new ControlError('bad-request', "'ips' must be a non-empty list of strings");
  }
  return (value as string[]).map(canonicalAddress);
}

/** Turns a parsed JSON line into a typed request; throws ControlError for anything malformed. */
export function parseRequest(msg: unknown): ControlRequest {
  if (!isRecord(msg) || typeof msg.cmd !== 'string') {
    throw new ControlError('bad-request', 'a request is a JSON object with a string "cmd"');
  }
  switch (msg.cmd) {
    case 'ping':
    case 'version':
    case 'jails':
    case 'banned':
    case 'stop':
    case 'get-loglevel':
    case 'flushlogs':
    case 'stats':
    case 'fleet':
      return { cmd: msg.cmd };
    case 'status':
      return { cmd: 'status', jail: stringField(msg, 'jail', false) as string };
    case 'ban':
      return {
        cmd: 'ban',
        jail: stringField(msg, 'jail', false) as string,
        ips: addressList(msg),
        ...(msg.force === true ? { force: true } : {}),
      };
    case 'unban': {
      const jail = stringField(msg, 'jail', true);
      const ips = msg.ips === 'all' ? 'all' : addressList(msg);
      return jail === undefined ? { cmd: 'unban', ips } : { cmd: 'unban', ips, jail };
    }
    case 'reload': {
      const jail = stringField(msg, 'jail', true);
      return {
        cmd: 'reload',
        ...(jail === undefined ? {} : { jail }),
        ...(msg.restart === true ? { restart: true } : {}),
        ...(msg.unban === true ? { unban: true } : {}),
      };
    }
    case 'get': {
      const jail = stringField(msg, 'jail', false) as string;
      const key = stringField(msg, 'key', false) as string;
      if (!(jailKeys as readonly string[]).includes(key)) {
        throw new ControlError('invalid-argument', `unknown key '${key}': use one of ${jailKeys.join(', ')}`, {
          value: key,
        });
      }
      return { cmd: 'get', jail, key: key as JailKey };
    }
    case 'banlist':
      return { cmd: 'banlist', jail: stringField(msg, 'jail', false) as string, withTime: msg.withTime === true };
    case 'server-get': {
      const key = stringField(msg, 'key', false) as string;
      if (!(serverKeys as readonly string[]).includes(key)) {
        throw new ControlError('invalid-argument', `unknown key '${key}': use one of ${serverKeys.join(', ')}`, {
          value: key,
        });
      }
      return { cmd: 'server-get', key: key as ServerKey };
    }
    case 'set-loglevel':
      return { cmd: 'set-loglevel', level: stringField(msg, 'level', false) as string };
    default:
      throw new ControlError('unknown-command', `unknown command '${msg.cmd}'`, { value: msg.cmd });
  }
}
