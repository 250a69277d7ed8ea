// Bounded matching for the regexes that can backtrack catastrophically where V8's linear-time fallback
// cannot help (lookarounds, backreferences: see CompiledRegex.catastrophic). Such a regex runs in its own
// thread; the caller waits for each answer at most `deadlineMs` and otherwise terminates the thread
// (V8 interrupts a running regex) and gets a RegexTimeout, so one hostile line costs at most the
// deadline instead of freezing the process (measured: `^<HOST> (?=a)(a+)+$` on 29 × `a`, 36 s).
// Only flagged regexes pay for the round trip (tens of µs); the others run inline.
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { RegexGuard } from '../filter/filter.js';
import { type CompiledRegex, RegexTimeout } from '../filter/regex.js';

/** Long enough for any honest line (they take microseconds), short enough not to be felt elsewhere. */
export const DEFAULT_DEADLINE_MS = 250;
/** A new thread has this long to start before the match is given up. */
const START_MS = 5000;
const WORKER = new URL('./regex-guard-worker.js', import.meta.url);

type Answer = { index: number; all: string[]; groups?: Record<string, string | undefined> } | null;

class GuardedRegex {
  private worker: Worker | null = null;
  private ctl: Int32Array<SharedArrayBuffer> = new Int32Array(new SharedArrayBuffer(4));
  private port: MessageChannel['port1'] | null = null;

  constructor(
    private readonly source: string,
    private readonly flags: string,
    private readonly deadlineMs: number,
  ) {
    this.spawn();
  }

  exec(text: string): RegExpExecArray | null {
    if (this.worker === null) this.spawn();
    const ctl = this.ctl;
    if (Atomics.load(ctl, 0) === -1) Atomics.wait(ctl, 0, -1, START_MS);
    if (Atomics.load(ctl, 0) !== 0) return this.late(text);
    this.port?.postMessage({ text });
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    if (Atomics.wait(ctl, 0, 1, this.deadlineMs) === 'timed-out' && Atomics.load(ctl, 0) === 1) return this.late(text);
    const answer = receiveMessageOnPort(this.port!)?.message as Answer | undefined;
    Atomics.store(ctl, 0, 0);
    if (answer === undefined || answer === null) return null;
    const m = Object.assign([...answer.all], { index: answer.index, input: text, groups: answer.groups });
    return m as unknown as RegExpExecArray;
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = null;
  }

  /** The thread is stuck on this text: replace it (starting now, off this thread) and give up the line. */
  private late(text: string): never {
    this.close();
    this.spawn();
    throw new RegexTimeout(`matching took over ${this.deadlineMs} ms on a ${text.length}-character line`);
  }

  private spawn(): void {
    const state = new SharedArrayBuffer(4);
    this.ctl = new Int32Array(state);
    Atomics.store(this.ctl, 0, -1);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER, {
      workerData: { source: this.source, flags: this.flags, state, port: port2 },
      transferList: [port2],
    });
    this.worker.unref();
    port1.unref();
    this.worker.on('error', () => {
      this.worker = null;
    });
  }
}

/** A guard that runs each catastrophic regex in a thread of its own, bounded by `deadlineMs` per line. */
export function threadGuard(deadlineMs = DEFAULT_DEADLINE_MS): RegexGuard & { close(): void } {
  const all: GuardedRegex[] = [];
  return {
    wrap(r: CompiledRegex) {
      if (r.catastrophic === null) return null;
      const g = new GuardedRegex(r.re.source, r.flags, deadlineMs);
      all.push(g);
      return (text: string) => g.exec(text);
    },
    close() {
      for (const g of all) g.close();
    },
  };
}
