// The thread behind filter-thread.ts: one jail's Filter, fed batch by batch. Before each line it
// publishes the line's index, so the parent's watchdog can see which line a stuck regex is on.
import { parentPort, workerData } from 'node:worker_threads';
import type { FilterDefinition } from '../config/model.js';
import type { Failure } from '../filter/failure.js';
import { Filter } from '../filter/filter.js';
import { resolveLogZone } from '../filter/timezone.js';

interface Setup {
  def: FilterDefinition;
  useDns?: string;
  logtimezone?: string;
  progress: SharedArrayBuffer;
}

export interface BatchRequest {
  lines: string[];
  now: number;
  times?: number[];
  /** Lines given up on (a regex ran past the deadline on them): not matched again. */
  skip: number[];
}

export interface BatchResult {
  failures: Array<[number, readonly Failure[]]>;
  skipped: Array<[number, string]>;
}

const { def, useDns, logtimezone, progress } = workerData as Setup;
const filter = new Filter(def, { useDns, zone: resolveLogZone(logtimezone) });
const at = new Int32Array(progress);
parentPort?.on('message', (req: BatchRequest) => {
  const skip = new Set(req.skip);
  const out: BatchResult = { failures: [], skipped: [] };
  for (let i = 0; i < req.lines.length; i++) {
    Atomics.store(at, 0, i);
    if (skip.has(i)) continue;
    const found = filter.processLine(req.lines[i] as string, req.now, req.times?.[i]);
    if (found.length > 0) out.failures.push([i, found]);
    if (filter.lastSkipped !== null) out.skipped.push([i, filter.lastSkipped]);
  }
  Atomics.store(at, 0, -1);
  parentPort?.postMessage(out);
});
