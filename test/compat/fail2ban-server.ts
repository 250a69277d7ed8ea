// Runs Debian's real fail2ban-server in a temporary tree, so tests can compare its answers with
// portcullis's byte for byte. Its socket, pid file, database and log stay inside the tree; jails use the
// polling backend on a temporary log and an action whose commands are empty, so no firewall is touched.
// Pass `configDir` to run it on an existing tree (e.g. the one portcullis runs on, for the full comparison).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestJail {
  name: string;
  /** Seconds; default 3h. */
  bantime?: number;
  findtime?: number;
  maxretry?: number;
  ignoreip?: string;
}

export interface RealFail2banOptions {
  jails?: TestJail[];
  /** Use this tree instead of writing one; it must set a dbfile that is safe to use. */
  configDir?: string;
  /** Command prefix for the server, e.g. `ip netns exec NS` so its firewall actions stay in a namespace. */
  prefix?: string[];
}

export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RealFail2ban {
  /** The config tree (written by the harness unless `configDir` was given). */
  readonly dir: string;
  readonly socket: string;
  /** The log file the generated jails watch (`${dir}/test.log`). */
  readonly logFile: string;
  /** Runs Debian's fail2ban-client against this server. */
  client(...args: string[]): ClientRun;
  /** Stops the server and removes the temporary files. */
  stop(): Promise<void>;
}

/**
 * Debian's /etc/fail2ban copied to `dir`, with `files` (path relative to it → content) written over it:
 * the tree both daemons of a comparison read.
 */
export function debianTree(dir: string, files: Record<string, string>): string {
  cpSync('/etc/fail2ban', dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

export const noopAction = 'portcullis-noop';
export const testFilter = 'portcullis-test';

/** Why the real server cannot run here, or null when it can. */
export function fail2banUnavailable(): string | null {
  for (const tool of ['fail2ban-server', 'fail2ban-client']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return null;
}

function writeTree(dir: string, jails: TestJail[]): void {
  for (const sub of ['filter.d', 'action.d', 'jail.d']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(
    join(dir, 'fail2ban.conf'),
    [
      '[Definition]',
      'loglevel = INFO',
      `logtarget = ${join(dir, 'fail2ban.log')}`,
      'syslogsocket = auto',
      `socket = ${join(dir, 'fail2ban.sock')}`,
      `pidfile = ${join(dir, 'fail2ban.pid')}`,
      'allowipv6 = auto',
      `dbfile = ${join(dir, 'fail2ban.sqlite3')}`,
      'dbpurgeage = 1d',
      'dbmaxmatches = 10',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'filter.d', `${testFilter}.conf`), '[Definition]\nfailregex = ^auth failure from <HOST>$\n');
  const empty = ['actionstart', 'actionstop', 'actioncheck', 'actionban', 'actionunban'].map((k) => `${k} =`);
  writeFileSync(join(dir, 'action.d', `${noopAction}.conf`), ['[Definition]', ...empty, ''].join('\n'));
  const logFile = join(dir, 'test.log');
  writeFileSync(logFile, '');
  const sections = jails.map((j) =>
    [
      `[${j.name}]`,
      'enabled = true',
      `filter = ${testFilter}`,
      `logpath = ${logFile}`,
      `bantime = ${j.bantime ?? 10800}`,
      `findtime = ${j.findtime ?? 600}`,
      `maxretry = ${j.maxretry ?? 3}`,
      `ignoreip = ${j.ignoreip ?? '127.0.0.1/8 ::1'}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'jail.conf'),
    ['[DEFAULT]', 'backend = polling', `action = ${noopAction}`, '', ...sections].join('\n'),
  );
}

export async function startRealFail2ban(options: RealFail2banOptions = {}): Promise<RealFail2ban> {
  const tmp = mkdtempSync(join(tmpdir(), 'pc-f2b-real-'));
  const dir = options.configDir ?? tmp;
  if (options.configDir === undefined) writeTree(dir, options.jails ?? [{ name: 'custom' }]);
  const socket = join(tmp, 'fail2ban.sock');
  const args = ['-c', dir, '-f', '-x', '-s', socket, '-p', join(tmp, 'fail2ban.pid')];
  args.push('--logtarget', join(tmp, 'fail2ban.log'));
  const [command, ...rest] = [...(options.prefix ?? []), 'fail2ban-server', ...args];
  const child: ChildProcess = spawn(command!, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const client = (...cmd: string[]): ClientRun => {
    const run = spawnSync('fail2ban-client', ['-c', dir, '-s', socket, ...cmd], { encoding: 'utf8' });
    return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && existsSync(socket)) client('stop');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    if (child.exitCode === null) await exited;
    clearTimeout(timer);
    rmSync(tmp, { recursive: true, force: true });
  };

  for (let waited = 0; ; waited += 100) {
    if (existsSync(socket) && client('ping').code === 0) break;
    if (child.exitCode !== null || waited > 20_000) {
      await stop();
      throw new Error(`fail2ban-server did not start: ${stderr.trim() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { dir, socket, logFile: join(dir, 'test.log'), client, stop };
}
