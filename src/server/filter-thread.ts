// A jail whose filter has a regex that can backtrack catastrophically (CompiledRegex.catastrophic: V8's
// linear-time fallback does not cover lookarounds and backreferences) matches its lines in a thread of
// its own, so a hostile line never stalls the other jails or the control socket (measured before:
// `^<HOST> (?=a)(a+)+$` on 29 × `a` froze the daemon for 36 s). A watchdog gives each line
// `deadlineMs`: past it, the thread is terminated (V8 interrupts a running regex), the line is skipped
// and reported, and the batch is run again in a fresh thread without it. The fresh thread's filter
// starts empty (a multi-line buffer in progress is lost), which only happens on a hostile line.
import type { Worker } from 'node:worker_threads';
import { builtin } from '../builtin.js';
import type { FilterDefinition } from '../config/model.js';
import type { Failure } from '../filter/failure.js';
import type { BatchRequest, BatchResult } from './filter-thread-worker.js';

const WORKER = new URL('./filter-thread-worker.js', import.meta.url);
/** Honest lines take microseconds; threads start in tens of milliseconds. */
export const LINE_DEADLINE_MS = 250;
const START_DEADLINE_MS = 10_000;

export interface ThreadBatch {
  /** Failures by line index (only lines that had some). */
  failures: Map<number, readonly Failure[]>;
  /** Lines skipped unmatched, with the reason ('too slow', 'too long'). */
  skipped: Array<[number, string]>;
}

export class FilterThread {
  private worker: Worker | null = null;
  private progress = new Int32Array(new SharedArrayBuffer(4));
  /** Loaded with the jail that needs it, so a daemon without such a jail never loads worker_threads. */
  private readonly Worker = builtin('node:worker_threads').Worker;

  constructor(
    private readonly def: FilterDefinition,
    private readonly opts: { useDns?: string; logtimezone?: string },
    private readonly deadlineMs = LINE_DEADLINE_MS,
  ) {}

  /** Matches a batch; resolves when every line was matched or given up. */
  async process(lines: string[], now: number, times?: number[]): Promise<ThreadBatch> {
    const slow: number[] = [];
    for (;;) {
      const req: BatchRequest = { lines, now, times, skip: slow };
      const result = await this.run(req);
      if (typeof result === 'number') {
        slow.push(result);
        continue;
      }
      const skipped: Array<[number, string]> = [...slow.map((i): [number, string] => [i, 'too slow']), ...result.skipped];
      return { failures: new Map(result.failures), skipped: skipped.sort((a, b) => a[0] - b[0]) };
    }
  }

  /** Ends the thread (a later batch starts a new one). */
  close(): void {
    void this.worker?.terminate();
    this.worker = null;
  }

  /** One attempt: the result, or the index of the line the thread was stuck on (thread terminated). */
  private run(req: BatchRequest): Promise<BatchResult | number> {
    const worker = this.worker ?? this.spawn();
    const at = this.progress;
    Atomics.store(at, 0, -2);
    return new Promise((resolve, reject) => {
      let last = -2;
      let since = Date.now();
      const timer = setInterval(() => {
        const now = Date.now();
        const line = Atomics.load(at, 0);
        if (line !== last) {
          last = line;
          since = now;
          return;
        }
        const limit = line === -2 ? START_DEADLINE_MS : this.deadlineMs;
        if (line === -1 || now - since < limit) return;
        finish();
        void worker.terminate();
        if (this.worker === worker) this.worker = null;
        if (line === -2) reject(new Error('the filter thread did not start'));
        else resolve(line);
      }, Math.max(10, Math.floor(this.deadlineMs / 5)));
      const onMessage = (result: BatchResult) => {
        finish();
        resolve(result);
      };
      const onExit = () => {
        finish();
        if (this.worker === worker) this.worker = null;
        resolve({ failures: [], skipped: [] });
      };
      const finish = () => {
        clearInterval(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      worker.postMessage(req);
    });
  }

  private spawn(): Worker {
    this.progress = new Int32Array(new SharedArrayBuffer(4));
    const worker = new this.Worker(WORKER, {
      workerData: { def: this.def, useDns: this.opts.useDns, logtimezone: this.opts.logtimezone, progress: this.progress.buffer },
    });
    worker.on('error', () => undefined);
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
