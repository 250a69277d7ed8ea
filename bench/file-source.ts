// Measures src/sources/file.ts: throughput on a 1,000,000-line file read from the head, and delivery
// latency (append by another process → onBatch) with fs.watch on.
// Usage: node dist/bench/file-source.js [lines=1000000] [samples=2000]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileSource } from '../src/sources/file.js';

const lineCount = Number(process.argv[2] ?? 1_000_000);
const samples = Number(process.argv[3] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'pc-bench-'));

async function throughput(): Promise<void> {
  const path = join(dir, 'mail.log');
  const parts: string[] = [];
  for (let n = 1; n <= lineCount; n++) {
    parts.push(
      `Nov 24 10:${String(n % 60).padStart(2, '0')}:00 mail postfix/smtpd[${n % 32768}]: warning: unknown[192.0.2.${n % 250}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6\n`,
    );
  }
  writeFileSync(path, parts.join(''));
  const bytes = statSync(path).size;
  let seen = 0;
  let batches = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const began = performance.now();
  const src = new FileSource({
    paths: [{ pattern: path, start: 'head' }],
    onBatch: (b) => {
      batches++;
      seen += b.lines.length;
      if (seen >= lineCount) done();
    },
  });
  await src.start();
  await finished;
  const secs = (performance.now() - began) / 1000;
  await src.stop();
  console.log(
    `throughput: ${lineCount} lines (${(bytes / 1e6).toFixed(0)} MB) in ${secs.toFixed(2)} s = ${Math.round(lineCount / secs).toLocaleString('en')} lines/s, ${batches} batches`,
  );
}

async function latency(): Promise<void> {
  const path = join(dir, 'latency.log');
  writeFileSync(path, '');
  const delays: number[] = [];
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const src = new FileSource({
    paths: [{ pattern: path, start: 'tail' }],
    onBatch: (b) => {
      const now = performance.timeOrigin + performance.now();
      for (const line of b.lines) delays.push(now - Number(line.split(' ')[0]));
      if (delays.length >= samples) done();
    },
  });
  await src.start();
  // Another process appends one line every 2 ms, as a mail server under attack would.
  const writer = spawn(process.execPath, [
    '-e',
    `const fs = require('node:fs'); const fd = fs.openSync(${JSON.stringify(path)}, 'a'); let n = 0;
     const t = setInterval(() => {
       fs.writeSync(fd, (performance.timeOrigin + performance.now()) + ' postfix/smtpd[1]: SASL LOGIN authentication failed\\n');
       if (++n >= ${samples}) { clearInterval(t); fs.closeSync(fd); }
     }, 2);`,
  ]);
  await finished;
  writer.kill();
  await src.stop();
  delays.sort((a, b) => a - b);
  const pick = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))]!.toFixed(2);
  console.log(`latency (fs.watch on, ${delays.length} appends): median ${pick(0.5)} ms, p99 ${pick(0.99)} ms, max ${pick(1)} ms`);
}

try {
  await throughput();
  await latency();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
