// `fail2ban-client` as Fail2Ban 1.1 behaves on the command line: the same argv (getopt-style options, then
// a command), the same stdout text, errors as Fail2Ban's log lines on stderr, exit 0 or 255. Scripts
// written for Fail2Ban (docker-mailserver's among them) run against portcullis unchanged.
import { defaultConfigDir } from '../config/defaults-dir.js';
import { pyRepr } from '../config/pyvalue.js';
import { formatAsctime } from '../server/daemon-log.js';
import {
  type ControlRequest,
  type ControlResults,
  canonicalAddress,
  type JailKey,
  type ServerKey,
  serverKeys,
} from '../server/control-protocol.js';
import { type CliIo, dumpConfig, resolveSocket, testConfig } from './cli-io.js';
import { ControlClient, ServerReplyError, ServerUnreachableError } from './client.js';
import {
  formatAllStatus,
  formatBanned,
  formatBannedIn,
  formatJailStatus,
  formatJailValue,
  formatLogLevel,
  formatServerSetting,
  formatStats,
  formatStatus,
} from './format-fail2ban.js';

export interface Fail2banClientEnv {
  io: CliIo;
  /** For the timestamp of error lines. */
  now?: () => number;
  pid?: number;
  /** Shown in the usage line. */
  name?: string;
}

/** Fail2Ban's exit code for every failure. */
const failed = 255;

interface Options {
  conf: string;
  confGiven: boolean;
  socket?: string;
  dump: boolean;
  test: boolean;
  /** The first of -h/--help, -V, --version: each prints and exits before anything else runs. */
  early?: 'help' | 'V' | 'version';
}

const shortWithValue = new Set(['c', 's', 'p']);
const shortFlags = new Set(['h', 'x', 'f', 'b', 'd', 't', 'v', 'i', 'q', 'V']);
const longWithValue = new Set([
  'loglevel',
  'logtarget',
  'syslogsocket',
  'conf',
  'pidfile',
  'pname',
  'socket',
  'timeout',
  'str2sec',
]);
const longFlags = new Set(['test', 'async', 'help', 'version', 'dp', 'dump-pretty']);

/** Python getopt semantics: options first, parsing stops at the first operand or `--`. */
function parseArgv(argv: readonly string[]): { opts: Options; args: string[] } | null {
  const opts: Options = { conf: '', confGiven: false, dump: false, test: false };
  const set = (name: string, value: string | undefined): void => {
    if (name === 'c' || name === 'conf') {
      opts.conf = value as string;
      opts.confGiven = true;
    }
    else if (name === 's' || name === 'socket') opts.socket = value as string;
    else if (name === 'd' || name === 'dp' || name === 'dump-pretty') opts.dump = true;
    else if (name === 't' || name === 'test') opts.test = true;
    else if (name === 'h' || name === 'help') opts.early ??= 'help';
    else if (name === 'V' || name === 'version') opts.early ??= name;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      if (longFlags.has(name) && eq === -1) set(name, undefined);
      else if (longWithValue.has(name)) {
        const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
        if (value === undefined) return null;
        set(name, value);
      } else return null;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    for (let j = 1; j < arg.length; j++) {
      const name = arg[j] as string;
      if (shortFlags.has(name)) set(name, undefined);
      else if (shortWithValue.has(name)) {
        const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
        if (value === undefined) return null;
        set(name, value);
        break;
      } else return null;
    }
  }
  return { opts, args: argv.slice(i) as string[] };
}

function usage(name: string): string {
  return [
    `Usage: ${name} [OPTIONS] <COMMAND>`,
    '',
    'portcullis, answering with the command line of fail2ban-client 1.1.',
    '',
    'Options:',
    '    -c, --conf <DIR>        configuration directory (for the socket path and -d/-t)',
    '    -s, --socket <FILE>     socket path',
    '    -d                      dump the configuration',
    '    -t, --test              test the configuration',
    '    -h, --help              show this help',
    '    -V, --version           print the version (-V: machine-readable)',
    '',
    'Commands:',
    '    ping | version | status [JAIL|--all] | stats | banned [IP ...] | unban --all | unban IP ...',
    '    set JAIL banip IP ... | set JAIL unbanip [--report-absent] IP ... | set loglevel LEVEL',
    '    get loglevel|logtarget|syslogsocket|dbfile|dbpurgeage|dbmaxmatches',
    '    get JAIL bantime|findtime|maxretry|maxmatches|ignoreip|logpath|actions',
    '    get JAIL banip [--with-time] | flushlogs',
    '    reload [--restart] [--unban] [--if-exists] [JAIL|--all] | stop',
    '',
  ].join('\n');
}

class Session {
  constructor(
    private readonly env: Required<Fail2banClientEnv>,
    private readonly client: ControlClient,
  ) {}

  out(text: string): void {
    this.env.io.out(`${text}\n`);
  }

  /** Fail2Ban's client reports errors through its logger, in this format, on stderr. */
  error(message: string): void {
    const name = 'fail2ban'.padEnd(24);
    this.env.io.err(`${formatAsctime(this.env.now())} ${name}[${this.env.pid}]: ERROR   ${message}\n`);
  }

  unreachable(err: ServerUnreachableError, ping: boolean): number {
    if (err.reason === 'missing') {
      this.error(`Failed to access socket path: ${err.socketPath}. Is fail2ban running?`);
    } else if (err.reason === 'permission') {
      this.error(`Permission denied to socket: ${err.socketPath}, (you must be root)`);
    } else {
      const cause = err.reason === 'refused' ? '[Errno 111] Connection refused' : err.detail;
      this.error(ping ? cause : `[${cause}] Unable to contact server. Is it running?`);
    }
    return failed;
  }

  /** An `{ok: false}` answer, shown as Fail2Ban's beautifyError would. */
  refused(err: ServerReplyError): number {
    if (err.code === 'unknown-jail' && err.jail !== undefined) {
      this.out(`Sorry but the jail '${err.jail}' does not exist`);
      this.error(`NOK: (${pyRepr(err.jail)},)`);
    } else {
      this.out(err.message);
      this.error(`NOK: (${pyRepr(err.message)},)`);
    }
    return failed;
  }

  /** Fail2Ban's answer to a ban or unban with no address. */
  zero(code = 0): number {
    this.out('0');
    return code;
  }

  invalid(reason = 'Invalid command'): number {
    this.out(reason);
    this.error(`NOK: (${pyRepr(reason)},)`);
    return failed;
  }

  /** Sends one request and prints its formatted answer; errors are printed, and become exit 255. */
  async run<R extends ControlRequest>(req: R, show: (result: ControlResults[R['cmd']]) => string): Promise<number> {
    try {
      this.out(show(await this.client.request(req)));
      return 0;
    } catch (err) {
      return this.fail(err, req.cmd === 'ping');
    }
  }

  fail(err: unknown, ping = false): number {
    if (err instanceof ServerUnreachableError) return this.unreachable(err, ping);
    if (err instanceof ServerReplyError) return this.refused(err);
    throw err;
  }

  async command(args: string[]): Promise<number> {
    const [cmd, ...rest] = args;
    switch (cmd) {
      case 'ping':
        return this.run({ cmd: 'ping' }, (r) => `Server replied: ${r}`);
      case 'version':
        return this.run({ cmd: 'version' }, String);
      case 'stop':
        return rest.length === 0 ? this.run({ cmd: 'stop' }, () => 'Shutdown successful') : this.invalid();
      case 'status':
        return this.status(rest);
      case 'stats':
      case 'statistic':
      case 'statistics':
        return this.run({ cmd: 'stats' }, formatStats);
      case 'flushlogs':
        return this.run({ cmd: 'flushlogs' }, (r) => `logs: ${r}`);
      case 'banned':
        return this.banned(rest);
      case 'unban':
        if (rest.length === 0) return this.invalid();
        if (rest.length === 1 && rest[0] === '--all') {
          return this.run({ cmd: 'unban', ips: 'all' }, (r) => String(total(r)));
        }
        return this.unbanIn(undefined, rest, false);
      case 'set':
        return this.set(rest);
      case 'get':
        return this.get(rest);
      case 'reload':
        return this.reload(rest);
      default:
        return this.invalid();
    }
  }

  private async status(rest: string[]): Promise<number> {
    const jail = rest[0];
    // A second argument is Fail2Ban's status flavour; portcullis always answers the basic one.
    if (jail === undefined) return this.run({ cmd: 'jails' }, formatStatus);
    if (jail === '--all' && rest[1] === 'stats') return this.run({ cmd: 'stats' }, formatStats);
    if (jail !== '--all') return this.run({ cmd: 'status', jail }, (r) => formatJailStatus(jail, r));
    try {
      const all = [];
      for (const name of await this.client.request({ cmd: 'jails' })) {
        all.push({ jail: name, status: await this.client.request({ cmd: 'status', jail: name }) });
      }
      this.out(formatAllStatus(all));
      return 0;
    } catch (err) {
      return this.fail(err);
    }
  }

  private banned(ips: string[]): Promise<number> {
    return this.run({ cmd: 'banned' }, (r) =>
      ips.length === 0 ? formatBanned(r) : formatBannedIn(ips, r),
    );
  }

  private set(rest: string[]): Promise<number> {
    const [target, what, ...values] = rest;
    if (target === 'loglevel' && what !== undefined && values.length === 0) {
      return this.run({ cmd: 'set-loglevel', level: what }, formatLogLevel);
    }
    if (target === undefined || what === undefined) return Promise.resolve(this.invalid());
    if (what === 'banip') {
      // Fail2Ban answers 0 to a ban with no address.
      if (values.length === 0) return Promise.resolve(this.zero());
      return this.banIn(target, values);
    }
    if (what === 'unbanip') {
      const reportAbsent = values[0] === '--report-absent';
      const ips = reportAbsent ? values.slice(1) : values;
      if (ips.length === 0) return Promise.resolve(this.zero());
      return this.unbanIn(target, ips, reportAbsent);
    }
    return Promise.resolve(this.invalid());
  }

  /**
   * Fail2Ban bans any text (a host name, a typo); portcullis refuses what is not an address. Each refusal
   * is one error line on stderr, and stdout still carries a count (0), so scripts that test it numerically
   * (docker-mailserver's `[[ ${RESULT} -gt 0 ]]`) see 0 instead of failing on a sentence.
   * Addresses portcullis will not ban (loopback, ignoreip, this host) are left out of the count, as they
   * are out of the firewall; the daemon log says why. A ban the firewall refused is counted (it is
   * recorded and retried) but the command fails, with the reason on stderr.
   */
  private async banIn(jail: string, values: string[]): Promise<number> {
    const ips = this.addresses(values);
    try {
      // All or nothing, as on the pickle path: one invalid address and nothing is banned.
      if (ips.length < values.length) {
        await this.client.request({ cmd: 'status', jail });
        return this.zero(failed);
      }
      this.out(String(await this.client.request({ cmd: 'ban', jail, ips })));
      return 0;
    } catch (err) {
      if (err instanceof ServerReplyError && err.code === 'refused') {
        this.out(String(err.count ?? 0));
        return 0;
      }
      if (err instanceof ServerReplyError && err.code === 'failed' && err.count !== undefined) {
        this.out(String(err.count));
        this.error(err.message);
        return failed;
      }
      return this.fail(err);
    }
  }

  /** The valid addresses of `values`; an error line for each of the others. */
  private addresses(values: readonly string[], quiet = false): string[] {
    return values.flatMap((v) => {
      try {
        return [canonicalAddress(v)];
      } catch (err) {
        if (!quiet) this.error((err as Error).message);
        return [];
      }
    });
  }

  /** Text that is no address cannot be banned, so unbanning it unbans nothing: Fail2Ban's answer is 0. */
  private async unbanIn(jail: string | undefined, values: string[], reportAbsent: boolean): Promise<number> {
    const ips = this.addresses(values, true);
    try {
      if (jail !== undefined) await this.client.request({ cmd: 'status', jail });
      if (reportAbsent) {
        const bans = await this.client.request({ cmd: 'banned' });
        const current = bans.find((b) => b.jail === jail)?.ips ?? [];
        const missing = values.filter((v) => {
          const ip = this.addresses([v], true)[0];
          return ip === undefined || !current.includes(ip);
        });
        if (missing.length > 0 && bans.some((b) => b.jail === jail)) {
          return this.invalid(`not banned: ${pyRepr(missing)}`);
        }
      }
      if (ips.length === 0) return this.zero();
      const counts = await this.client.request(jail === undefined ? { cmd: 'unban', ips } : { cmd: 'unban', ips, jail });
      this.out(String(total(counts)));
      return 0;
    } catch (err) {
      return this.fail(err);
    }
  }

  private get(rest: string[]): Promise<number> {
    const [target, key] = rest;
    if (target === 'loglevel') return this.run({ cmd: 'get-loglevel' }, formatLogLevel);
    if ((serverKeys as readonly string[]).includes(target ?? '')) {
      const setting = target as ServerKey;
      return this.run({ cmd: 'server-get', key: setting }, (r) => formatServerSetting(setting, r));
    }
    if (target === undefined || key === undefined) {
      this.out('Sorry but the command is invalid');
      this.error("NOK: ('list index out of range',)");
      return Promise.resolve(failed);
    }
    if (key === 'banip') {
      // A third argument is the separator; `--with-time` asks for one ban per line with its times.
      const withTime = rest[2] === '--with-time';
      const separator = withTime ? '\n' : (rest[2] ?? ' ');
      return this.run({ cmd: 'banlist', jail: target, withTime }, (r) => r.join(separator));
    }
    return this.run({ cmd: 'get', jail: target, key: key as JailKey }, (r) => formatJailValue(target, key, r));
  }

  private async reload(rest: string[]): Promise<number> {
    // --restart rebuilds the jails instead of reconfiguring them in place; --unban lifts their bans first.
    const restart = rest.includes('--restart');
    const unban = rest.includes('--unban');
    const args = rest.filter((a) => a !== '--restart' && a !== '--unban' && a !== '--if-exists');
    if (args.length > 1) {
      this.error(`Unexpected argument(s) for reload: ${pyRepr(args)}`);
      return failed;
    }
    const jail = args[0] === undefined || args[0] === '--all' ? undefined : args[0];
    try {
      await this.client.request({ cmd: 'ping' });
    } catch (err) {
      if (!(err instanceof ServerUnreachableError)) throw err;
      this.error('Could not find server');
      return failed;
    }
    try {
      await this.client.request({
        cmd: 'reload',
        ...(jail === undefined ? {} : { jail }),
        ...(restart ? { restart } : {}),
        ...(unban ? { unban } : {}),
      });
      this.out('OK');
      return 0;
    } catch (err) {
      if (err instanceof ServerReplyError && err.code === 'unknown-jail') {
        this.error(`Failed during configuration: No section: ${pyRepr(jail as string)}`);
        return failed;
      }
      return this.fail(err);
    }
  }
}

function total(counts: ReadonlyArray<{ count: number }>): number {
  return counts.reduce((sum, c) => sum + c.count, 0);
}

/** Runs `fail2ban-client ARGV` (without the program name) and returns the exit code. */
export async function runFail2banClient(argv: readonly string[], env: Fail2banClientEnv): Promise<number> {
  const full: Required<Fail2banClientEnv> = {
    io: env.io,
    now: env.now ?? Date.now,
    pid: env.pid ?? process.pid,
    name: env.name ?? 'fail2ban-client',
  };
  const parsed = parseArgv(argv);
  if (parsed === null || parsed.opts.early === 'help') {
    full.io.out(usage(full.name));
    return parsed === null ? failed : 0;
  }
  if (parsed.opts.early !== undefined) {
    const { FAIL2BAN_VERSION } = await import('../config/jail-reader.js');
    full.io.out(parsed.opts.early === 'V' ? `${FAIL2BAN_VERSION}\n` : `Fail2Ban v${FAIL2BAN_VERSION}\n`);
    return 0;
  }
  const { opts, args } = parsed;
  let socket: string;
  try {
    if (opts.dump || opts.test) {
      const dir = opts.confGiven ? opts.conf : defaultConfigDir();
      if (opts.test) await testConfig(dir);
      if (opts.dump) full.io.out(await dumpConfig(dir));
      if (opts.test && args.length === 0) full.io.out('OK: configuration test is successful\n');
      if (args.length === 0) return 0;
    }
    socket = resolveSocket({
      ...(opts.socket === undefined ? {} : { socket: opts.socket }),
      ...(opts.confGiven ? { config: opts.conf } : {}),
    });
  } catch (err) {
    const session = new Session(full, new ControlClient(''));
    session.error(`Failed during configuration: ${err instanceof Error ? err.message : String(err)}`);
    if (opts.test) session.error('ERROR: test configuration failed');
    return failed;
  }
  if (args.length === 0) {
    full.io.out(usage(full.name));
    return failed;
  }
  return new Session(full, new ControlClient(socket)).command(args);
}
