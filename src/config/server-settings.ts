// fail2ban.conf / fail2ban.local, section [Definition]: where the daemon logs, listens and stores bans.
import { type ListenAddress, parseListenAddress } from '../net/listen-address.js';
import { type FleetSettings, fleetSettings } from './fleet-settings.js';
import { parseDuration } from './duration.js';
import type { PolicyListen, ServerSettings } from './model.js';
import type { PyValue } from './pyvalue.js';
import { type OptionProblem, type OptionTemplate, readOptions } from './read-options.js';
import { IniStore } from './store.js';
import type { ConfigTree } from './tree.js';

const SECTION = 'Definition';

/** Options read before anything else (the client needs them to reach the server). */
const EARLY: OptionTemplate = [
  ['socket', 'string', '/var/run/fail2ban/fail2ban.sock'],
  ['pidfile', 'string', '/var/run/fail2ban/fail2ban.pid'],
  ['loglevel', 'string', 'INFO'],
  ['logtarget', 'string', '/var/log/fail2ban.log'],
  ['syslogsocket', 'string', 'auto'],
];

const MAIN: OptionTemplate = [
  ['loglevel', 'string', 'INFO'],
  ['logtarget', 'string', 'STDERR'],
  ['syslogsocket', 'string', 'auto'],
  ['allowipv6', 'string', 'auto'],
  ['dbfile', 'string', '/var/lib/fail2ban/fail2ban.sqlite3'],
  ['dbmaxmatches', 'int', undefined],
  ['dbpurgeage', 'string', '1d'],
  ['metrics', 'string', ''],
  ['postfixpolicy', 'string', ''],
  ['postfixpolicyaction', 'string', 'REJECT 5.7.1 Your address is banned'],
  ['dovecotpolicy', 'string', ''],
  ['dovecotpolicymessage', 'string', 'Your address is banned'],
  // Ban sharing (src/fleet): off unless `fleet` names a Redis URL.
  ['fleet', 'string', ''],
  ['fleetsecret', 'string', ''],
  ['fleetname', 'string', ''],
  ['fleetjail', 'string', 'custom'],
];

export const LOG_LEVELS = ['CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG', 'TRACEDEBUG', 'HEAVYDEBUG'];

export interface RawServer {
  store: IniStore;
  early: Map<string, PyValue>;
  opts: Map<string, PyValue>;
  /** `{stacksize: N}` when [Thread] sets it. */
  thread: PyValue | undefined;
  problems: OptionProblem[];
}

export function readServer(tree: ConfigTree): RawServer {
  const store = tree.read('fail2ban') ?? new IniStore();
  const problems: OptionProblem[] = [];
  const early = readOptions(store, SECTION, EARLY, { problems });
  const opts = readOptions(store, SECTION, MAIN, { problems });
  // The command line (here: the early options) wins, as in fail2ban-client.
  for (const [k, v] of early) if (opts.has(k) || k === 'socket' || k === 'pidfile') opts.set(k, v);
  let thread: PyValue | undefined;
  if (store.hasSection('Thread')) {
    const t = readOptions(store, 'Thread', [['stacksize', 'int', undefined]], { problems });
    if (t.size > 0) thread = Object.fromEntries(t);
  }
  return { store, early, opts, thread, problems };
}

/** Validates and types the server settings; `file:line: problem` for anything wrong. */
export function serverSettings(raw: RawServer): ServerSettings {
  const fail = (option: string, problem: string): never => {
    throw raw.store.error(SECTION, option, `${option}: ${problem}`);
  };
  for (const p of raw.problems) fail(p.option, `${p.problem}; write a whole number`);
  const str = (k: string): string => String(raw.opts.get(k) ?? '');
  const loglevel = str('loglevel').toUpperCase();
  if (!LOG_LEVELS.includes(loglevel) && !/^\d+$/.test(loglevel)) {
    fail('loglevel', `unknown level "${str('loglevel')}"; use one of ${LOG_LEVELS.slice(0, 6).join(', ')}`);
  }
  let dbpurgeage = 0;
  try {
    dbpurgeage = parseDuration(str('dbpurgeage'));
  } catch (err) {
    fail('dbpurgeage', (err as Error).message);
  }
  const maxmatches = raw.opts.get('dbmaxmatches');
  let metrics: ListenAddress | null = null;
  try {
    metrics = parseListenAddress(str('metrics'));
  } catch (err) {
    fail('metrics', (err as Error).message);
  }
  const listen = (option: string, unixAllowed: boolean): PolicyListen | null => {
    const text = str(option).trim();
    if (unixAllowed && text.startsWith('/')) return { path: text };
    try {
      return parseListenAddress(text);
    } catch (err) {
      return fail(option, `${(err as Error).message}${unixAllowed ? ', or an absolute unix socket path' : ''}`);
    }
  };
  const postfixAction = str('postfixpolicyaction').trim();
  if (!/^[A-Za-z0-9_]+( [^\r\n]*)?$/.test(postfixAction)) {
    fail('postfixpolicyaction', `'${postfixAction}' is not a Postfix access action; write e.g. REJECT 5.7.1 Your address is banned`);
  }
  let fleet: FleetSettings | null = null;
  try {
    fleet = fleetSettings({ url: str('fleet'), secret: str('fleetsecret'), name: str('fleetname'), jail: str('fleetjail') });
  } catch (err) {
    const message = (err as Error).message;
    fail(/^(fleetsecret|fleetname)\b/.exec(message)?.[1] ?? 'fleet', message.replace(/^(fleetsecret|fleetname) /, ''));
  }
  return {
    loglevel,
    logtarget: str('logtarget'),
    socket: str('socket'),
    pidfile: str('pidfile'),
    dbfile: str('dbfile'),
    dbpurgeage,
    dbmaxmatches: typeof maxmatches === 'number' ? maxmatches : 10,
    metrics,
    policy: {
      postfix: listen('postfixpolicy', true),
      postfixAction,
      dovecot: listen('dovecotpolicy', false) as ListenAddress | null,
      dovecotMessage: str('dovecotpolicymessage').replace(/[\r\n]/g, ' '),
    },
    // Absent rather than null when off: a server without it is exactly what it was.
    ...(fleet ? { fleet } : {}),
  };
}

