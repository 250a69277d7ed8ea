// `portcullis server`: the daemon in the foreground, as `fail2ban-server -xf start` runs under
// docker-mailserver's supervisor. SIGTERM/SIGINT stop it cleanly, SIGHUP reloads the configuration.
import type { Command } from 'commander';
import { builtin } from '../builtin.js';
import { builtinDefaultsDir } from '../config/defaults-dir.js';
import { defaultConfigDir } from '../config/load.js';
import type { Config } from '../config/model.js';
import { copyConfigVolume, type DmsPaths, defaultDmsPaths, stateVolumeDbFile } from '../dms/config-volume.js';
import { readDmsEnvironment } from '../dms/environment.js';
import { UserError } from '../errors.js';
import { type ListenAddress, parseListenAddress } from '../net/listen-address.js';
import { Daemon, type DaemonOptions } from '../server/daemon.js';
import { startSummary } from './start-summary.js';

export interface ServerFlags {
  config?: string;
  socket?: string;
  pidfile?: string;
  dbfile?: string;
  logtarget?: string;
  loglevel?: string;
  x?: boolean;
  dryRun?: boolean;
  keepRulesOnStop?: boolean;
  checkInterval?: string;
  metrics?: string;
  postfixPolicy?: string;
  dovecotPolicy?: string;
  dms?: boolean;
  dmsVolume?: string;
  stateDir?: string;
  /** Print `Server ready` on stdout once the socket answers, as `fail2ban-server -f` does (supervisord logs it). */
  announceReady?: boolean;
  /** Turn V8's --optimize-for-size on once the daemon runs (the fail2ban-server bin, for idle RSS). */
  optimiseForSize?: boolean;
}

export function register(program: Command): void {
  program
    .command('server')
    .description('run the daemon in the foreground (SIGTERM/SIGINT stop it, SIGHUP reloads)')
    .option('-c, --config <dir>', 'Fail2Ban configuration tree (default /etc/fail2ban if present, else built-in defaults)')
    .option('-s, --socket <path>', 'control socket (default from fail2ban.local)')
    .option('-p, --pidfile <path>', 'pid file (default from fail2ban.local)')
    .option('--dbfile <path>', "ban database, or 'None' (default from fail2ban.local)")
    .option('--logtarget <target>', 'file path, STDOUT, STDERR or SYSLOG (default from fail2ban.local)')
    .option('--loglevel <level>', 'CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG')
    .option('-x', 'remove a control socket left behind by a crash')
    .option('--dry-run', 'record bans in the log only; never touch the firewall')
    .option('--keep-rules-on-stop', 'leave bans in the kernel on stop (their timeouts end them)')
    .option('--check-interval <seconds>', 'how often firewall rules are checked and repaired (nftables with the netlink addon: on change instead)', '30')
    .option('--metrics <[addr:]port>', "serve Prometheus /metrics there (loopback unless an address is given), or 'off'")
    .option('--postfix-policy <path|[addr:]port>', "answer Postfix's check_policy_service there (unix socket path or TCP), or 'off'")
    .option('--dovecot-policy <[addr:]port>', "answer Dovecot's auth_policy_server_url there (HTTP, loopback unless an address is given), or 'off'")
    .option('--dms', 'docker-mailserver start-up: honour ENABLE_FAIL2BAN, copy the config volume, use the state volume')
    .option('--dms-volume <dir>', 'docker-mailserver config volume', defaultDmsPaths.configVolume)
    .option('--state-dir <dir>', 'docker-mailserver state folder for the database', defaultDmsPaths.stateDir)
    .action(async (flags: ServerFlags) => {
      process.exitCode = await runServer(flags);
    });
}

export async function runServer(flags: ServerFlags): Promise<number> {
  const options: DaemonOptions = {
    configDir: flags.config ?? defaultConfigDir(),
    socket: flags.socket,
    pidfile: flags.pidfile,
    dbfile: flags.dbfile,
    logtarget: flags.logtarget,
    loglevel: flags.loglevel,
    dryRun: flags.dryRun,
    removeStaleSocket: flags.x,
    keepRulesOnStop: flags.keepRulesOnStop,
    checkIntervalMs: checkInterval(flags.checkInterval),
    metrics: flags.metrics === undefined ? undefined : listenFlag('--metrics', flags.metrics),
    postfixPolicy:
      flags.postfixPolicy === undefined ? undefined : flags.postfixPolicy.startsWith('/') ? { path: flags.postfixPolicy } : listenFlag('--postfix-policy', flags.postfixPolicy),
    dovecotPolicy: flags.dovecotPolicy === undefined ? undefined : listenFlag('--dovecot-policy', flags.dovecotPolicy),
  };
  if (flags.dms) {
    const env = readDmsEnvironment(process.env);
    if (!env.enabled) {
      process.stderr.write('portcullis: ENABLE_FAIL2BAN is not 1; not starting\n');
      return 0;
    }
    const paths: DmsPaths = {
      configVolume: flags.dmsVolume ?? defaultDmsPaths.configVolume,
      fail2banDir: flags.config ?? defaultDmsPaths.fail2banDir,
      stateDir: flags.stateDir ?? defaultDmsPaths.stateDir,
    };
    copyConfigVolume(paths);
    options.configDir = paths.fail2banDir;
    options.dbfile ??= stateVolumeDbFile(paths) ?? undefined;
    options.adjustConfig = (config) => withBlocktype(config, env.blocktype);
  }
  // Say what will run before running it (see start-summary.ts).
  let summary: string[] = [];
  const adjust = options.adjustConfig;
  options.adjustConfig = (loaded) => {
    const config = adjust ? adjust(loaded) : loaded;
    summary = startSummary({ ...config, server: { ...config.server, logtarget: flags.logtarget ?? config.server.logtarget } }, builtinDefaultsDir());
    return config;
  };
  const optimiseForSize = optimiseForSizeOnceRunning(flags.optimiseForSize === true);
  const daemon = Daemon.open(options);
  const stop = () => void daemon.shutdown();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => daemon.hangup());
  try {
    await daemon.start();
    optimiseForSize();
    // Once it runs, so a refusal to start stays one line. On stderr: stdout stays Fail2Ban's own
    // (`Server ready` alone, which supervisord logs and scripts read).
    process.stderr.write(`${summary.join('\n')}\n`);
    if (flags.announceReady) process.stdout.write('Server ready\n');
  } catch (err) {
    await daemon.shutdown();
    throw err;
  }
  await daemon.whenStopped();
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  return 0;
}

/** FAIL2BAN_BLOCKTYPE applies to every jail, as docker-mailserver's nftables-common.local does. */
function withBlocktype(config: Config, blocktype: string): Config {
  return {
    ...config,
    jails: config.jails.map((jail) => ({ ...jail, options: { ...jail.options, blocktype } })),
  };
}

function listenFlag(flag: string, text: string): ListenAddress | null {
  try {
    return parseListenAddress(text);
  } catch (err) {
    throw new UserError(`${flag}: ${(err as Error).message}`);
  }
}

function checkInterval(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 86_400) {
    throw new UserError(`--check-interval must be a number of seconds from 0.1 to 86400, not '${text}'`);
  }
  return seconds * 1000;
}

/**
 * V8's --optimize-for-size keeps the idle daemon small, but it also stops the young generation from
 * growing: a 100,000-ban restore ran ~170 scavenges of a 1 MB young generation, each copying what the
 * restore keeps (--trace-gc). It is turned on once the daemon runs. It must not be on node's command
 * line, where it caps the young generation when the heap is set up, which turning it off later does not
 * lift (GC 300-320 ms against 100-160 ms, --cpu-prof). Idle RSS is the same either way (DMS's jails,
 * 5 s after start: 48.1-49.0 MB with it on the command line, 48.8-49.6 MB turned on once running).
 * Returns what turns it on.
 */
export function optimiseForSizeOnceRunning(on: boolean): () => void {
  return on ? () => builtin('node:v8').setFlagsFromString('--optimize-for-size') : () => {};
}
