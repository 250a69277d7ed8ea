// How backends run firewall tools: always argv (never a shell), input on stdin. A prefix such as
// `ip netns exec NS` lets tests and benchmarks aim every command at a network namespace.
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Time this command gets beyond the runner's timeout (a big transaction is slow without being hung). */
  extraTimeoutMs?: number;
  /** Told the process id once the tool is started (its commits are ours, see nftables-events.ts). */
  onSpawn?: (pid: number) => void;
}

export type Runner = (argv: readonly string[], stdin?: string, options?: RunOptions) => Promise<RunResult>;

/**
 * A firewall tool that hangs (a stuck netlink socket, a lock held elsewhere) must not stall banning:
 * after this long it is killed and the command counts as failed. 100,000 elements take about 2 s.
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The exit code of a command killed after the timeout, as timeout(1) reports it. */
export const TIMED_OUT = 124;

/**
 * Runs argv (after `prefix`) and collects its output; a missing program gives code 127, one killed after
 * `timeoutMs` gives 124 (as timeout(1) does) with a message saying so.
 */
export function commandRunner(prefix: readonly string[] = [], timeoutMs = DEFAULT_TIMEOUT_MS): Runner {
  return (argv, stdin, options) =>
    new Promise((resolve) => {
      const limit = timeoutMs + (options?.extraTimeoutMs ?? 0);
      const full = [...prefix, ...argv];
      // Its own process group, so a timeout kills the tool and whatever it started (a wrapper script's
      // children would otherwise keep the pipes open and the command would never be seen to end).
      const child = spawn(full[0] as string, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      if (child.pid !== undefined) options?.onSpawn?.(child.pid);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let settled = false;
      const finish = (result: RunResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
        finish({ code: TIMED_OUT, stdout: '', stderr: `${argv[0]} did not finish within ${limit / 1000} s and was killed` });
      }, limit);
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.stdin.on('error', () => {}); // the child may exit before reading all input; its exit code tells
      child.on('error', (e: NodeJS.ErrnoException) => {
        finish({ code: e.code === 'ENOENT' ? 127 : 126, stdout: '', stderr: `${full[0]}: ${e.message}` });
      });
      child.on('close', (code, signal) => {
        finish({
          code: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString(),
        });
      });
      child.stdin.end(stdin ?? '');
    });
}

/** The first meaningful line of a tool's error output, for one-line messages. */
export function firstLine(result: RunResult): string {
  const line = result.stderr.split('\n').find((l) => l.trim() !== '') ?? result.stdout.split('\n')[0] ?? '';
  return line.trim() || `exit code ${result.code}`;
}

/** Runs tasks one at a time: a backend's read-modify-write steps must not interleave. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => {});
    return next;
  }
}
