// What the kernel holds, seen from inside a namespace: `nft monitor` reports every element the moment a
// transaction commits, so a single ban is timed without polling `nft list set` (which would cost a
// process per poll and compete with the daemon under test for the two cores). The monitor runs in its own
// process and stamps each event itself, so a busy event loop here cannot delay a timestamp. It formats
// only about 10,000 elements a second, though, and the kernel drops events it cannot take (measured: a
// 100,000-element batch showed up as 78,077 events, seconds late), so large batches are counted by
// listing the set instead (listedCount).
import { type ChildProcessWithoutNullStreams, execFile, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { inNamespace } from '../test/e2e/netns.js';

const READY_TABLE = 'pc-compare-ready';

// Runs inside the namespace. Prints `E <epoch ms> <address>` per element added to any f2b-table set,
// and `R <epoch ms>` when the probe table appears (proof the monitor is listening).
const WATCH = `
const { spawn } = require('node:child_process');
const { createInterface } = require('node:readline');
const monitor = spawn('nft', ['monitor', 'new'], { stdio: ['ignore', 'pipe', 'inherit'] });
const now = () => performance.timeOrigin + performance.now();
let out = '';
const flush = () => { if (out) { process.stdout.write(out); out = ''; } };
createInterface({ input: monitor.stdout }).on('line', (line) => {
  const t = now().toFixed(1);
  const m = /^add element inet f2b-table addr6?-set-\\S+ \\{ ([0-9a-fA-F.:/]+)/.exec(line);
  if (m) out += 'E ' + t + ' ' + m[1] + '\\n';
  else if (line.startsWith('add table inet ${READY_TABLE}')) out += 'R ' + t + '\\n';
  if (out.length > 65536) flush(); else setImmediate(flush);
});
const stop = () => { monitor.kill(); process.exit(0); };
process.stdin.on('end', stop);
process.on('SIGTERM', stop);
process.stdin.resume();
`;

interface Waiter {
  done: () => boolean;
  resolve: () => void;
}

/** Every element added to the f2b-table sets in one namespace, with the time the kernel took it. */
export class SetWatcher {
  /** First time each address entered a set (epoch ms). */
  readonly added = new Map<string, number>();
  #ready = false;
  #waiters: Waiter[] = [];

  private constructor(
    readonly ns: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [kind, t, address] = line.split(' ');
      if (kind === 'R') this.#ready = true;
      else if (kind === 'E' && address !== undefined && !this.added.has(address)) this.added.set(address, Number(t));
      this.#wake();
    });
  }

  static async start(ns: string): Promise<SetWatcher> {
    const child = spawn(inNamespace(ns)[0]!, [...inNamespace(ns).slice(1), process.execPath, '-e', WATCH]);
    const watcher = new SetWatcher(ns, child);
    // Retry the probe until the monitor has subscribed and reports it.
    for (let attempt = 0; !watcher.#ready; attempt++) {
      if (attempt === 50) throw new Error(`nft monitor in ${ns} did not start`);
      nft(ns, `add table inet ${READY_TABLE}\ndelete table inet ${READY_TABLE}\n`);
      await watcher.until(() => watcher.#ready, 100);
    }
    return watcher;
  }

  get count(): number {
    return this.added.size;
  }

  /** Resolves true once `done()` holds, false after `timeoutMs`. */
  until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        done,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** The time `address` entered a set, waiting up to `timeoutMs`; null when it did not. */
  async bannedAt(address: string, timeoutMs: number): Promise<number | null> {
    await this.until(() => this.added.has(address), timeoutMs);
    return this.added.get(address) ?? null;
  }

  /** Stops the monitor (the watcher takes `nft monitor` down with it) and waits for the exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  #wake(): void {
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.done()) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }
}

/** Runs an nft script inside `ns`. */
export function nft(ns: string, script: string): void {
  const [command, ...args] = [...inNamespace(ns), 'nft', '-f', '-'];
  const run = spawnSync(command!, args, { input: script, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`nft in ${ns}: ${run.stderr.trim()}`);
}

const execAsync = promisify(execFile);

/**
 * Elements in a set of `inet f2b-table` right now (0 while it does not exist), by `nft -j list set`.
 * Unlike the monitor it cannot miss anything, but it costs about 1.5 s for 100,000 elements.
 */
export async function listedCount(ns: string, set: string): Promise<number> {
  const [command, ...args] = [...inNamespace(ns), 'nft', '-j', 'list', 'set', 'inet', 'f2b-table', set];
  try {
    const { stdout } = await execAsync(command!, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const parsed = JSON.parse(stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
    return parsed.nftables.find((o) => o.set)?.set?.elem?.length ?? 0;
  } catch {
    return 0;
  }
}

/** Whether `address` is in a set of `inet f2b-table` right now. */
export async function holds(ns: string, set: string, address: string): Promise<boolean> {
  const [command, ...args] = [...inNamespace(ns), 'nft', 'get', 'element', 'inet', 'f2b-table', set, `{ ${address} }`];
  try {
    await execAsync(command!, args);
    return true;
  } catch {
    return false;
  }
}

