import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { ownString } from './own-string.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap in use after keeping one 15-character capture from each of 40 chunks of 1 MB. */
function keptHeap(keep: (s: string) => string): { kept: string[]; bytes: number } {
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept: string[] = [];
  for (let i = 0; i < 40; i++) {
    const chunk = `${String(i).padStart(2, '0')}${'x'.repeat(1 << 20)} from 192.168.100.${100 + i} port 22\n`;
    const ip = /from (\S+) port/.exec(chunk)?.[1] as string;
    kept.push(keep(ip));
  }
  gc();
  return { kept, bytes: process.memoryUsage().heapUsed - before };
}

test('a kept capture holds only its own characters, not the chunk it was read from', () => {
  const sliced = keptHeap((s) => s);
  assert.ok(sliced.bytes > 30 << 20, `a plain capture keeps its chunk (${sliced.bytes} bytes): the test would not see the leak`);
  const own = keptHeap(ownString);
  // At most the last chunk stays, held by RegExp's legacy last-match statics.
  assert.ok(own.bytes < 4 << 20, `${own.bytes} bytes kept`);
  assert.deepEqual(own.kept, sliced.kept);
  assert.equal(ownString('10.0.0.1'), '10.0.0.1');
});
