// The two daemons bench/compare puts side by side, behind one small interface, each started by the
// project's own harness (test/e2e/daemon-process.ts, test/compat/fail2ban-server.ts) inside a network
// namespace, on the same tree.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { control, startDaemon } from '../test/e2e/daemon-process.js';
import { inNamespace } from '../test/e2e/netns.js';
import { startRealFail2ban } from '../test/compat/fail2ban-server.js';
import { JAIL, type Tree } from './compare-tree.js';

export type Kind = 'portcullis' | 'fail2ban';

export interface Contender {
  readonly kind: Kind;
  /** The server process (what VmRSS is read from). */
  readonly pid: number;
  /** The jail's counters: addresses with failures tracked now, and failures counted since start. */
  failures(): Promise<{ current: number; total: number }>;
  /** The daemon log so far (both write Fail2Ban's format, `... fail2ban.actions [pid]: NOTICE  [jail] Ban ip`). */
  log(): string;
  /** Stops the server and waits for it. */
  stop(): Promise<void>;
  /** SIGKILL now (cleanup on a signal; the caller still awaits stop()). */
  kill(): void;
}

export async function startContender(kind: Kind, tree: Tree, ns: string, readyTimeoutMs = 15_000): Promise<Contender> {
  return kind === 'portcullis' ? startPortcullis(tree, ns, readyTimeoutMs) : startFail2ban(tree, ns);
}

async function startPortcullis(tree: Tree, ns: string, readyTimeoutMs: number): Promise<Contender> {
  // No --loglevel: both daemons take it from the tree's fail2ban.local, so both log the same amount.
  const daemon = await startDaemon(tree.portcullis, { prefix: inNamespace(ns), readyTimeoutMs });
  return {
    kind: 'portcullis',
    // `ip netns exec` execs the command, so the child's pid is the server's.
    pid: daemon.child.pid!,
    async failures() {
      const status = await control(tree.portcullis).request({ cmd: 'status', jail: JAIL });
      return { current: status.currentlyFailed, total: status.totalFailed };
    },
    log: () => daemon.log(),
    async stop() {
      const timer = setTimeout(() => daemon.child.kill('SIGKILL'), 15_000);
      await daemon.stop();
      clearTimeout(timer);
    },
    kill: () => daemon.child.kill('SIGKILL'),
  };
}

const run = promisify(execFile);

async function startFail2ban(tree: Tree, ns: string): Promise<Contender> {
  const real = await startRealFail2ban({ configDir: tree.config, prefix: inNamespace(ns) });
  // The harness keeps its pid file beside the socket; the server writes it even in the foreground.
  const pid = Number(readFileSync(join(dirname(real.socket), 'fail2ban.pid'), 'utf8').trim());
  const kill = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    // The harness's own temp dir (socket, pid file, log); real.stop() removes it too, but a signal
    // handler cannot wait for that.
    rmSync(dirname(real.socket), { recursive: true, force: true });
  };
  return {
    kind: 'fail2ban',
    pid,
    async failures() {
      // Asynchronous: the harness's client() is synchronous and would stall the event loop for a
      // Python start-up per poll.
      const { stdout } = await run('fail2ban-client', ['-c', tree.config, '-s', real.socket, 'status', JAIL], { timeout: 30_000 });
      const number = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(stdout)?.[1] ?? Number.NaN);
      return { current: number('Currently failed'), total: number('Total failed') };
    },
    log: () => readFileSync(join(dirname(real.socket), 'fail2ban.log'), 'utf8'),
    async stop() {
      // `fail2ban-client stop` un-bans ticket by ticket and may take minutes with many bans; the
      // namespace (and every rule in it) is deleted right after anyway. With the socket gone, the
      // harness's stop() only waits for the exit.
      kill();
      await real.stop();
    },
    kill,
  };
}
