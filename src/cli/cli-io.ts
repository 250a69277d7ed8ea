// What the client commands share: where output goes (tests capture it) and how the socket is found.
// The config loader is imported only by -t and -d: a status call reads the server settings alone and
// should not pay for loading (compiling) every module of the config reader.
import { defaultConfigDir } from '../config/defaults-dir.js';
import { readServer, serverSettings } from '../config/server-settings.js';
import { ConfigTree } from '../config/tree.js';
import { ControlClient } from './client.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export interface ConnectOptions {
  /** `-s PATH`: wins over everything. */
  socket?: string;
  /** `-c DIR`: the socket comes from DIR's fail2ban.conf/.local. */
  config?: string;
}

/**
 * `-s`, else the socket named by fail2ban.conf/.local of `-c DIR`, of /etc/fail2ban when it exists, or of
 * the built-in defaults (/var/run/fail2ban/fail2ban.sock). Only the server settings are read, as
 * fail2ban-client's early read does: a client call should not pay for parsing every filter.
 */
export function resolveSocket(opts: ConnectOptions): string {
  if (opts.socket !== undefined) return opts.socket;
  const dir = opts.config ?? defaultConfigDir();
  return serverSettings(readServer(new ConfigTree(dir))).socket;
}

export function connect(opts: ConnectOptions): ControlClient {
  return new ControlClient(resolveSocket(opts));
}

/** `fail2ban-client -t`: loads and validates the whole tree; throws ConfigError when it is invalid. */
export async function testConfig(dir: string | null): Promise<void> {
  const [{ jailProblems }, { loadConfig }] = await Promise.all([import('../config/jail-problems.js'), import('../config/load.js')]);
  // What the daemon only warns about, Fail2Ban's -t refuses: a missing filter file or log file.
  const first = [...jailProblems(loadConfig({ dir })).values()][0]?.[0];
  if (first !== undefined) throw new Error(first);
}

/** `fail2ban-client -d`: the command stream Fail2Ban would send, one Python list literal per line. */
export async function dumpConfig(dir: string | null): Promise<string> {
  const [{ readRawConfig }, { pyRepr }, { configStream }] = await Promise.all([
    import('../config/load.js'),
    import('../config/pyvalue.js'),
    import('../config/stream.js'),
  ]);
  const raw = readRawConfig({ dir });
  return configStream(raw.server, raw.jails)
    .map((command) => `${pyRepr(command)}\n`)
    .join('');
}
