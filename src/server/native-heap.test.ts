// releaseFreedNativeMemory really hands freed C heap back: 50 MB of small native allocations (Buffers'
// backing stores) are freed while one allocated after them stays, so glibc cannot shrink the heap by
// itself; the trim must bring the process's RSS down.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const module = new URL('./native-heap.js', import.meta.url).href;
const script = `
import { readFileSync } from 'node:fs';
import { releaseFreedNativeMemory } from ${JSON.stringify(module)};
const rssMb = () => (Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096) / 2 ** 20;
let buffers = [];
for (let i = 0; i < 50_000; i++) buffers.push(Buffer.allocUnsafeSlow(1000).fill(1));
const last = buffers[buffers.length - 1];
buffers = null;
globalThis.gc();
globalThis.gc();
await new Promise((resolve) => setTimeout(resolve, 100));
const before = rssMb();
const released = releaseFreedNativeMemory();
console.log(JSON.stringify({ before, after: rssMb(), released, kept: last.length }));
`;

describe('releaseFreedNativeMemory', () => {
  it('returns freed C heap to the kernel (the addon is built and glibc trims)', () => {
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const { before, after, released, kept } = JSON.parse(run.stdout) as { before: number; after: number; released: boolean; kept: number };
    assert.equal(kept, 1000);
    assert.equal(released, true);
    assert.ok(before - after > 20, `RSS ${before.toFixed(1)} → ${after.toFixed(1)} MB: less than 20 MB given back`);
  });
});
