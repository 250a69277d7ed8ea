// Runs the real `portcullis server` as a child process in a temp dir (its own socket, pid file, database
// and daemon log), and the real CLI against it. Shared by the end-to-end and reliability suites.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../src/cli/client.js';

/** The compiled CLI entry, found relative to this file in the build output. */
export const cliPath = new URL('../../src/cli/main.js', import.meta.url).pathname;

export interface DaemonDirs {
  root: string;
  config: string;
  socket: string;
  pidfile: string;
  dbfile: string;
  logfile: string;
}

/** A temp tree with an empty config dir: the built-in defaults apply until writeConfig() adds files. */
export function daemonDirs(): DaemonDirs {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-e2e-'));
  const dirs = {
    root,
    config: join(root, 'fail2ban'),
    socket: join(root, 'run', 'fail2ban.sock'),
    pidfile: join(root, 'run', 'fail2ban.pid'),
    dbfile: join(root, 'lib', 'fail2ban.sqlite3'),
    logfile: join(root, 'fail2ban.log'),
  };
  mkdirSync(dirs.config, { recursive: true });
  return dirs;
}

/** Writes files into the config dir (relative path → content). */
export function writeConfig(dirs: DaemonDirs, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dirs.config, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, content);
  }
}

export interface RunningDaemon {
  dirs: DaemonDirs;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** The daemon log so far. */
  log(): string;
  /** SIGTERM and wait for the exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash at an arbitrary moment. */
  kill(): Promise<void>;
}

export interface StartOptions {
  /** Extra `server` arguments, e.g. ['--dry-run'] or ['--keep-rules-on-stop']. */
  args?: string[];
  /** Prefix for the whole command, e.g. ['ip', 'netns', 'exec', 'srv'] to run inside a namespace. */
  prefix?: string[];
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the socket to answer. */
  readyTimeoutMs?: number;
  /** Pause between pings while waiting (default 50 ms); benches that time start-up ask more often. */
  pollMs?: number;
  /**
   * Runs this command line (after `prefix`) instead of `node main.js server …`: the fail2ban-server bin,
   * as docker-mailserver starts it. It must use `dirs` itself.
   */
  command?: string[];
}

/**
 * Starts the daemon as docker-mailserver's start-up runs it: `--dms` with the config volume and the
 * state folder (where the database lives), ENABLE_FAIL2BAN=1, the rest under `root`.
 */
export async function startDmsDaemon(
  dms: { root: string; config: string; volume: string; state: string },
  prefix: string[],
): Promise<RunningDaemon> {
  const dirs: DaemonDirs = {
    root: dms.root,
    config: dms.config,
    socket: join(dms.root, 'run', 'fail2ban.sock'),
    pidfile: join(dms.root, 'run', 'fail2ban.pid'),
    dbfile: join(dms.state, 'fail2ban.sqlite3'),
    logfile: join(dms.root, 'fail2ban.log'),
  };
  return startDaemon(dirs, {
    args: ['--dms', '--dms-volume', dms.volume, '--state-dir', dms.state],
    env: { ENABLE_FAIL2BAN: '1' },
    prefix,
  });
}

const nodeFlags = ['--enable-experimental-regexp-engine-on-excessive-backtracks'];

export async function startDaemon(dirs: DaemonDirs, options: StartOptions = {}): Promise<RunningDaemon> {
  const argv = [
    ...nodeFlags,
    cliPath,
    'server',
    '-c', dirs.config,
    '-s', dirs.socket,
    '-p', dirs.pidfile,
    '--dbfile', dirs.dbfile,
    '--logtarget', dirs.logfile,
    '-x',
    ...(options.args ?? []),
  ];
  const prefix = options.prefix ?? [];
  const [command, ...rest] = [...prefix, ...(options.command ?? [process.execPath, ...argv])];
  const child = spawn(command!, rest, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const daemon: RunningDaemon = {
    dirs,
    child,
    stderr: () => stderr,
    log: () => (existsSync(dirs.logfile) ? readFileSync(dirs.logfile, 'utf8') : ''),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${stderr.trim()}`);
    if (await answers(dirs)) return daemon;
    await sleep(options.pollMs ?? 50);
  }
  await daemon.kill();
  throw new Error(`server did not answer within the timeout: ${stderr.trim()}`);
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

async function answers(dirs: DaemonDirs): Promise<boolean> {
  try {
    return (await new ControlClient(dirs.socket, 1000).request({ cmd: 'ping' })) === 'pong';
  } catch {
    return false;
  }
}

/** A direct control-socket client: polling through it costs no process start. */
export function control(dirs: DaemonDirs): ControlClient {
  return new ControlClient(dirs.socket, 5000);
}

/** Runs `portcullis ARGS -s SOCKET` synchronously. */
export function cli(dirs: DaemonDirs, args: string[], prefix: string[] = []): CliResult {
  const argv = [...nodeFlags, cliPath, ...args, '-s', dirs.socket];
  const [command, ...rest] = prefix.length > 0 ? [...prefix, process.execPath, ...argv] : [process.execPath, ...argv];
  const run = spawnSync(command!, rest, { encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Polls `check` every 10 ms until it returns a value, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function removeDirs(dirs: DaemonDirs): void {
  rmSync(dirs.root, { recursive: true, force: true });
}
