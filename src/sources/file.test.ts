// Real files in a temp dir, real timing, every wait bounded. Rotation tests write numbered lines while the
// log rotates and then check the whole sequence: each line exactly once, none lost, none doubled.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileSource, type FileSourceOptions } from './file.js';
import { FollowedFile } from './followed-file.js';
import type { FilePosition, LineBatch, PositionStore } from './source.js';
import { TRUNCATED_MARK } from './line-splitter.js';

const root = mkdtempSync(join(tmpdir(), 'pc-file-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
function freshPath(name = 'mail.log'): string {
  const dir = join(root, String(dirs++));
  mkdirSync(dir);
  return join(dir, name);
}

const PAD = ' postfix/smtpd[1234]: warning: unknown[192.0.2.1]: SASL LOGIN authentication failed';
const line = (n: number) => `line ${n}${PAD}`;

/** A syslog daemon: keeps its file open with O_APPEND until told to reopen. */
class Writer {
  next = 1;
  private fd: number;
  constructor(private readonly path: string) {
    this.fd = openSync(path, 'a');
  }
  write(count: number): void {
    let text = '';
    for (let i = 0; i < count; i++) text += `${line(this.next++)}\n`;
    writeSync(this.fd, text);
  }
  async writeFor(count: number, perTick = 10): Promise<void> {
    for (let i = 0; i < count; i += perTick) {
      this.write(perTick);
      await sleep(1);
    }
  }
  reopen(): void {
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
  }
  close(): void {
    closeSync(this.fd);
  }
  get written(): number {
    return this.next - 1;
  }
}

class Collector {
  readonly lines: string[] = [];
  readonly paths: string[] = [];
  batches = 0;
  readonly errors: Error[] = [];
  readonly onBatch = (batch: LineBatch): void => {
    this.batches++;
    for (const l of batch.lines) {
      this.lines.push(l);
      this.paths.push(batch.path);
    }
  };
  numbers(): number[] {
    return this.lines.map((l) => Number(l.split(' ')[1]));
  }
}

class MemoryPositions implements PositionStore {
  readonly saved = new Map<string, FilePosition>();
  get(path: string) {
    return this.saved.get(path);
  }
  set(path: string, position: FilePosition) {
    this.saved.set(path, position);
  }
}

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function assertExactlyOnce(c: Collector, total: number): void {
  const sorted = [...c.numbers()].sort((a, b) => a - b);
  assert.equal(c.lines.length, total, `expected ${total} lines, got ${c.lines.length}`);
  assert.deepEqual(sorted, range(1, total));
}

async function follow(
  path: string,
  c: Collector,
  extra: Partial<FileSourceOptions> = {},
  start: 'head' | 'tail' = 'head',
): Promise<FileSource> {
  const src = new FileSource({
    paths: [{ pattern: path, start }],
    onBatch: c.onBatch,
    onError: (e) => c.errors.push(e),
    pollIntervalMs: 100,
    rotateGraceMs: 300,
    ...extra,
  });
  await src.start();
  return src;
}

/** Runs a rotation scenario three times while writing, then checks the whole sequence. */
async function rotationScenario(rotate: (path: string, w: Writer, c: Collector) => Promise<void>, extra = {}) {
  const path = freshPath();
  const w = new Writer(path);
  const c = new Collector();
  const src = await follow(path, c, extra);
  try {
    for (let cycle = 0; cycle < 3; cycle++) {
      await w.writeFor(400);
      await rotate(path, w, c);
    }
    await w.writeFor(400);
    await waitFor(() => c.lines.length >= w.written, `${w.written} lines`);
    await sleep(500); // a doubled line would show up now (grace period and a few polls)
  } finally {
    await src.stop();
    w.close();
  }
  assertExactlyOnce(c, w.written);
  assert.deepEqual(c.errors, []);
  return c;
}

test('rename + create rotation while writing: every line exactly once', async () => {
  await rotationScenario(async (path, w) => {
    // logrotate renames and creates the new file at once; the daemon writes to the renamed file until
    // postrotate makes it reopen, even after the reader has switched to the new file.
    renameSync(path, `${path}.1`);
    writeFileSync(path, '');
    await w.writeFor(20);
    await sleep(150);
    await w.writeFor(30);
    w.reopen();
  });
});

test('rename + create rotation with polling only (no fs.watch): every line exactly once', async () => {
  await rotationScenario(
    async (path, w, c) => {
      // Polling alone cannot see a file that exists under the name for less than one poll interval
      // (fs.watch can): under load 400 lines take less than that, so let each file be seen before rotating.
      await waitFor(() => c.lines.length === w.written, 'the reader to reach the current file');
      renameSync(path, `${path}.${Date.now()}`);
      await w.writeFor(30);
      w.reopen();
    },
    { watch: false, pollIntervalMs: 50 },
  );
});

test('copytruncate while writing: every line exactly once, in order', async () => {
  const c = await rotationScenario(async (path, w, seen) => {
    // copytruncate loses whatever is written between the copy and the truncate, and whatever the reader
    // had not read yet (logrotate documents this race). So rotate once the reader has caught up; the
    // writer keeps its O_APPEND descriptor and writes on at once.
    await waitFor(() => seen.lines.length === w.written, 'catch-up before truncate');
    copyFileSync(path, `${path}.1`);
    truncateSync(path, 0);
  });
  assert.deepEqual(c.numbers(), range(1, c.lines.length));
});

test('copytruncate is noticed even when the file regrows past the old offset before the next poll', async () => {
  const path = freshPath();
  const w = new Writer(path);
  const c = new Collector();
  const src = await follow(path, c, { watch: false, pollIntervalMs: 300 });
  try {
    w.write(10);
    await waitFor(() => c.lines.length === 10, '10 lines');
    truncateSync(path, 0);
    w.write(30); // three times the old size, written before the next poll can see a shorter file
    await waitFor(() => c.lines.length >= 40, '40 lines');
    await sleep(400);
  } finally {
    await src.stop();
    w.close();
  }
  assert.deepEqual(c.numbers(), range(1, 40));
});

test('delete + re-create while writing: every line exactly once', async () => {
  await rotationScenario(async (path, w) => {
    unlinkSync(path);
    await w.writeFor(30); // still written through the open descriptor of the deleted file
    w.reopen();
  });
});

test('a file that does not exist yet is followed from its start once it appears (even with tail)', async () => {
  const path = freshPath();
  const c = new Collector();
  const src = await follow(path, c, {}, 'tail');
  let w: Writer | null = null;
  try {
    await sleep(250);
    assert.equal(c.lines.length, 0);
    w = new Writer(path);
    await w.writeFor(500);
    await waitFor(() => c.lines.length >= 500, '500 lines');
    await sleep(200);
  } finally {
    await src.stop();
    w?.close();
  }
  assert.deepEqual(c.numbers(), range(1, 500));
});

test('partial lines are held until the newline arrives', async () => {
  const path = freshPath();
  writeFileSync(path, '');
  const c = new Collector();
  const src = await follow(path, c, { pollIntervalMs: 50 });
  try {
    appendFileSync(path, 'Nov 24 10:00:00 host postfix/smtpd[1]: half');
    await sleep(300);
    assert.deepEqual(c.lines, []);
    appendFileSync(path, ' and the rest\nnext starts');
    await waitFor(() => c.lines.length === 1, 'the completed line');
    await sleep(300);
    assert.deepEqual(c.lines, ['Nov 24 10:00:00 host postfix/smtpd[1]: half and the rest']);
    appendFileSync(path, ' here\n');
    await waitFor(() => c.lines.length === 2, 'the second line');
    assert.equal(c.lines[1], 'next starts here');
  } finally {
    await src.stop();
  }
});

test('a burst of 200,000 lines arrives completely, in order, in batches', async () => {
  const path = freshPath();
  writeFileSync(path, '');
  const c = new Collector();
  const src = await follow(path, c);
  const total = 200_000;
  try {
    for (let part = 0; part < 4; part++) {
      let text = '';
      for (let n = part * 50_000 + 1; n <= (part + 1) * 50_000; n++) text += `${line(n)}\n`;
      appendFileSync(path, text);
    }
    await waitFor(() => c.lines.length >= total, `${total} lines`, 30_000);
    await sleep(200);
  } finally {
    await src.stop();
  }
  assert.equal(c.lines.length, total);
  for (let i = 0; i < total; i++) if (c.lines[i] !== line(i + 1)) assert.fail(`line ${i + 1} is ${c.lines[i]}`);
  assert.ok(c.batches < total / 100, `${c.batches} batches for ${total} lines: not batched`);
});

test('a glob picks up a file created later and ignores names that do not match', async () => {
  const dir = join(freshPath(), '..');
  writeFileSync(join(dir, 'a.log'), 'a 1\n');
  const c = new Collector();
  const src = new FileSource({
    paths: [{ pattern: join(dir, '*.log'), start: 'head' }],
    onBatch: c.onBatch,
    globIntervalMs: 60_000, // so only fs.watch can be what finds b.log promptly
  });
  await src.start();
  try {
    await waitFor(() => c.lines.length === 1, 'a.log');
    writeFileSync(join(dir, 'c.txt'), 'c 1\n');
    writeFileSync(join(dir, 'b.log'), 'b 1\nb 2\n');
    await waitFor(() => c.lines.length === 3, 'b.log', 3000);
    appendFileSync(join(dir, 'b.log'), 'b 3\n');
    await waitFor(() => c.lines.length === 4, 'b.log growing');
    await sleep(200);
  } finally {
    await src.stop();
  }
  assert.deepEqual(c.lines, ['a 1', 'b 1', 'b 2', 'b 3']);
  assert.deepEqual(c.paths, [join(dir, 'a.log'), join(dir, 'b.log'), join(dir, 'b.log'), join(dir, 'b.log')]);
  assert.deepEqual(src.files().sort(), [join(dir, 'a.log'), join(dir, 'b.log')]);
});

test('a glob is also re-expanded by polling alone', async () => {
  const dir = join(freshPath(), '..');
  const c = new Collector();
  const src = new FileSource({
    paths: [{ pattern: join(dir, '*.log'), start: 'head' }],
    onBatch: c.onBatch,
    watch: false,
    globIntervalMs: 100,
  });
  await src.start();
  try {
    writeFileSync(join(dir, 'new.log'), 'n 1\n');
    await waitFor(() => c.lines.length === 1, 'new.log');
  } finally {
    await src.stop();
  }
  assert.deepEqual(c.lines, ['n 1']);
});

test("a glob's file that is deleted is dropped once finished; a plain path is kept for its return", async () => {
  const dir = join(freshPath(), '..');
  writeFileSync(join(dir, 'x.log'), 'x 1\n');
  writeFileSync(join(dir, 'plain.txt'), 'p 1\n');
  const c = new Collector();
  const src = new FileSource({
    paths: [
      { pattern: join(dir, '*.log'), start: 'head' },
      { pattern: join(dir, 'plain.txt'), start: 'head' },
    ],
    onBatch: c.onBatch,
    pollIntervalMs: 50,
    globIntervalMs: 50,
    rotateGraceMs: 100,
  });
  await src.start();
  try {
    await waitFor(() => c.lines.length === 2, 'both files');
    unlinkSync(join(dir, 'x.log'));
    unlinkSync(join(dir, 'plain.txt'));
    await waitFor(() => src.files().length === 1, 'x.log dropped', 3000);
    assert.deepEqual(src.files(), [join(dir, 'plain.txt')]);
    writeFileSync(join(dir, 'plain.txt'), 'p 2\n');
    await waitFor(() => c.lines.length === 3, 'plain.txt again');
  } finally {
    await src.stop();
  }
  assert.deepEqual(c.lines.sort(), ['p 1', 'p 2', 'x 1']);
});

test('files rotated into names the glob matches (mail.log → .1 → .2) are not read twice', async () => {
  const dir = join(freshPath(), '..');
  const path = join(dir, 'mail.log');
  const w = new Writer(path);
  const c = new Collector();
  const src = new FileSource({
    paths: [{ pattern: join(dir, 'mail.log*'), start: 'head' }],
    onBatch: c.onBatch,
    pollIntervalMs: 100,
    globIntervalMs: 100,
    rotateGraceMs: 200,
  });
  await src.start();
  try {
    // logrotate's numbered rotation: .1 → .2, then mail.log → .1, twice; every name matches the glob.
    for (let cycle = 0; cycle < 2; cycle++) {
      await w.writeFor(200);
      if (cycle > 0) renameSync(`${path}.1`, `${path}.2`);
      renameSync(path, `${path}.1`);
      await w.writeFor(20);
      w.reopen();
    }
    await w.writeFor(200);
    await waitFor(() => c.lines.length >= w.written, 'all lines');
    await sleep(800); // several glob passes after the old file retired
  } finally {
    await src.stop();
    w.close();
  }
  assertExactlyOnce(c, w.written);
});

test('head reads existing lines, tail only new ones (from the start of an unfinished last line)', async () => {
  const path = freshPath();
  writeFileSync(path, 'old 1\nold 2\nunfini');
  const head = new Collector();
  const tail = new Collector();
  const a = await follow(path, head, {}, 'head');
  const b = await follow(path, tail, {}, 'tail');
  try {
    await waitFor(() => head.lines.length === 2, 'head lines');
    await sleep(200);
    assert.deepEqual(tail.lines, []);
    appendFileSync(path, 'shed\nnew 1\n');
    await waitFor(() => tail.lines.length === 2 && head.lines.length === 4, 'new lines');
  } finally {
    await a.stop();
    await b.stop();
  }
  assert.deepEqual(head.lines, ['old 1', 'old 2', 'unfinished', 'new 1']);
  assert.deepEqual(tail.lines, ['unfinished', 'new 1']);
});

test('restart from a saved position: no re-read, no loss (saved position wins over tail)', async () => {
  const path = freshPath();
  const w = new Writer(path);
  const positions = new MemoryPositions();
  const first = new Collector();
  let src = await follow(path, first, { positions });
  await w.writeFor(100);
  await waitFor(() => first.lines.length === 100, 'first 100');
  await src.stop();
  w.write(50); // written while the daemon is down
  const second = new Collector();
  src = await follow(path, second, { positions }, 'tail');
  try {
    await waitFor(() => second.lines.length >= 50, 'the 50 written while stopped');
    w.write(10);
    await waitFor(() => second.lines.length >= 60, '10 more');
    await sleep(200);
  } finally {
    await src.stop();
    w.close();
  }
  assert.deepEqual(first.numbers(), range(1, 100));
  assert.deepEqual(second.numbers(), range(101, 160));
  const st = statSync(path);
  assert.deepEqual(
    { ...positions.saved.get(path)!, firstLineHash: '' },
    { dev: st.dev, ino: st.ino, offset: st.size, firstLineHash: '' },
  );
  assert.match(positions.saved.get(path)!.firstLineHash, /^[0-9a-f]{40}$/);
});

test("a position saved with an MD5 first-line hash (portcullis's before it matched Fail2Ban's SHA-1): the inode decides", async () => {
  const path = freshPath();
  writeFileSync(path, 'old 1\nold 2\n');
  const st = statSync(path);
  const positions = new MemoryPositions();
  positions.set(path, { dev: st.dev, ino: st.ino, offset: st.size, firstLineHash: createHash('md5').update('old 1\n').digest('hex') });
  appendFileSync(path, 'new 1\n');
  const c = new Collector();
  const src = await follow(path, c, { positions }, 'head');
  try {
    await waitFor(() => c.lines.length >= 1, 'the line written after the saved position');
    await sleep(150);
  } finally {
    await src.stop();
  }
  assert.deepEqual(c.lines, ['new 1'], 'resumed at the saved offset, not read again from the start');
  assert.match(positions.saved.get(path)!.firstLineHash, /^[0-9a-f]{40}$/);
});

test('tail saves its starting point at once: lines written before a restart are not skipped', async () => {
  const path = freshPath();
  writeFileSync(path, 'old 1\nold 2\n');
  const positions = new MemoryPositions();
  let src = await follow(path, new Collector(), { positions }, 'tail');
  await src.stop();
  appendFileSync(path, 'while down\n');
  const c = new Collector();
  src = await follow(path, c, { positions }, 'tail');
  try {
    await waitFor(() => c.lines.length === 1, 'the line written while down');
    await sleep(150);
  } finally {
    await src.stop();
  }
  assert.deepEqual(c.lines, ['while down']);
});

test('a file replaced in place (same inode, same size) is detected by its first line and read again', async () => {
  const path = freshPath();
  writeFileSync(path, 'alpha 1\nalpha 2\n');
  const positions = new MemoryPositions();
  const first = new Collector();
  let src = await follow(path, first, { positions });
  await waitFor(() => first.lines.length === 2, 'alpha');
  await src.stop();
  const before = statSync(path);
  writeFileSync(path, 'bravo 1\nbravo 2\n'); // truncates and rewrites: same inode, same size
  const after = statSync(path);
  assert.equal(after.ino, before.ino);
  assert.equal(after.size, before.size);
  const second = new Collector();
  src = await follow(path, second, { positions }, 'tail');
  try {
    await waitFor(() => second.lines.length >= 2, 'bravo');
    await sleep(200);
  } finally {
    await src.stop();
  }
  assert.deepEqual(second.lines, ['bravo 1', 'bravo 2']);
});

test('a rotation while the daemon was down: the rest of the old file, then the new file', async () => {
  const path = freshPath();
  const w = new Writer(path);
  const positions = new MemoryPositions();
  const first = new Collector();
  let src = await follow(path, first, { positions });
  await w.writeFor(50);
  await waitFor(() => first.lines.length === 50, 'first 50');
  await src.stop();
  w.write(10); // 51..60 reach the old file after we stopped
  renameSync(path, `${path}.1`);
  w.reopen();
  w.write(10); // 61..70 in the new file
  const second = new Collector();
  src = await follow(path, second, { positions });
  try {
    await waitFor(() => second.lines.length >= 20, '20 lines');
    await sleep(500);
  } finally {
    await src.stop();
    w.close();
  }
  assert.deepEqual([...second.numbers()].sort((a, b) => a - b), range(51, 70));
});

test('the position is saved only after the batch was acknowledged (at-least-once)', async () => {
  const path = freshPath();
  writeFileSync(path, 'one\ntwo\n');
  const positions = new MemoryPositions();
  const seenAtDelivery: Array<number | undefined> = [];
  let release: () => void = () => undefined;
  const acked = new Promise<void>((r) => {
    release = r;
  });
  const src = new FileSource({
    paths: [{ pattern: path, start: 'head' }],
    positions,
    onBatch: async () => {
      seenAtDelivery.push(positions.saved.get(path)?.offset);
      await acked;
    },
  });
  await src.start();
  try {
    await waitFor(() => seenAtDelivery.length === 1, 'delivery');
    await sleep(100);
    assert.equal(positions.saved.get(path), undefined, 'saved before the acknowledgement');
    release();
    await waitFor(() => positions.saved.get(path)?.offset === 8, 'saved after the acknowledgement');
  } finally {
    await src.stop();
  }
  assert.deepEqual(seenAtDelivery, [undefined]);
});

test('a handler that throws is reported and does not stall the log', async () => {
  const path = freshPath();
  writeFileSync(path, 'boom\n');
  const errors: Error[] = [];
  const got: string[] = [];
  const src = new FileSource({
    paths: [{ pattern: path, start: 'head' }],
    onError: (e) => errors.push(e),
    onBatch: (b) => {
      got.push(...b.lines);
      if (b.lines.includes('boom')) throw new Error('handler failed');
    },
  });
  await src.start();
  try {
    await waitFor(() => got.length === 1, 'first');
    appendFileSync(path, 'fine\n');
    await waitFor(() => got.length === 2, 'second');
  } finally {
    await src.stop();
  }
  assert.deepEqual(got, ['boom', 'fine']);
  assert.match(errors[0]!.message, /handling lines of .*mail\.log failed: handler failed/);
});

test('a 1 MB line and binary junk neither crash nor swallow the next good line', async () => {
  const path = freshPath();
  writeFileSync(path, 'good 1\n');
  const c = new Collector();
  const src = await follow(path, c, { maxLineBytes: 65536 });
  try {
    await waitFor(() => c.lines.length === 1, 'good 1');
    const huge = 'A'.repeat(1_000_000);
    appendFileSync(path, huge.slice(0, 300_000));
    await sleep(150); // let a poll see the unfinished giant
    appendFileSync(path, huge.slice(300_000));
    appendFileSync(path, '\n');
    appendFileSync(path, Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x00, 0x0a, 0x80, 0x81, 0x0a]));
    appendFileSync(path, 'good 2\n');
    await waitFor(() => c.lines.length === 5, 'all lines');
    await sleep(200);
  } finally {
    await src.stop();
  }
  assert.equal(c.lines.length, 5);
  assert.equal(c.lines[0], 'good 1');
  assert.equal(c.lines[1], `${'A'.repeat(65536)}${TRUNCATED_MARK}`);
  assert.equal(c.lines[2], '\u0000\ufffd\ufffd\ufffd(\u0000');
  assert.equal(c.lines[3], '\ufffd\ufffd');
  assert.equal(c.lines[4], 'good 2');
});

test('a file shrunk in place keeping its head is not read again: reading resumes at its new end', async () => {
  const path = freshPath();
  const w = new Writer(path);
  const c = new Collector();
  const src = await follow(path, c, { watch: false, pollIntervalMs: 100 });
  try {
    w.write(10);
    await waitFor(() => c.lines.length === 10, '10 lines');
    // Cut the last three lines off; the first seven stay, already read.
    truncateSync(path, 7 * (line(1).length + 1));
    await sleep(300);
    w.write(2); // lines 11 and 12, appended after the shrink
    await waitFor(() => c.lines.length >= 12, '12 lines');
    await sleep(300);
  } finally {
    await src.stop();
    w.close();
  }
  assert.deepEqual(c.numbers(), range(1, 12), 'nothing read twice');
});

/** Counts FollowedFile.poll calls (each a fstat and a read) per path, for the idleness tests. */
const polls = new Map<string, number>();
const realPoll = FollowedFile.prototype.poll;
FollowedFile.prototype.poll = function (this: FollowedFile, now: number) {
  polls.set(this.path, (polls.get(this.path) ?? 0) + 1);
  return realPoll.call(this, now);
};

/** Idle for 15 poll intervals: not one poll (no JS at all from this source); then a line arrives in time. */
async function idleThenAppend(extra: Partial<FileSourceOptions>, boundMs: number): Promise<void> {
  const path = freshPath();
  writeFileSync(path, 'first\n');
  const c = new Collector();
  const src = await follow(path, c, { pollIntervalMs: 100, ...extra });
  try {
    await waitFor(() => c.lines.length === 1, 'the first line');
    await sleep(400); // the one extra poll after the stat watch started (see FileSource.watchStat)
    polls.set(path, 0);
    await sleep(1500);
    assert.equal(polls.get(path), 0, 'the file was polled although nothing changed');
    const at = Date.now();
    appendFileSync(path, 'second\n');
    await waitFor(() => c.lines.length === 2, 'the appended line', 5000);
    const took = Date.now() - at;
    assert.ok(took <= boundMs, `the appended line took ${took} ms (bound ${boundMs} ms)`);
  } finally {
    await src.stop();
  }
  assert.deepEqual(c.lines, ['first', 'second']);
  assert.deepEqual(c.errors, []);
}

test('an idle file is not read while nothing changes; inotify delivers an appended line at once', async () => {
  // The bound leaves room for a loaded machine; the 100 ms stat poll alone would also meet it, so the
  // second test is the one that proves the poll.
  await idleThenAppend({}, 1000);
});

test('where inotify says nothing (watch off), the stat poll still finds an appended line within its interval', async () => {
  await idleThenAppend({ watch: false }, 800); // 100 ms interval, with room for a loaded machine
});

test('a rotated-away file is drained on a timer only until it retires; then the source is idle again', async () => {
  const path = freshPath();
  const w = new Writer(path);
  const c = new Collector();
  const src = await follow(path, c, { watch: false, pollIntervalMs: 50, rotateGraceMs: 300 });
  try {
    w.write(5);
    await waitFor(() => c.lines.length === 5, '5 lines');
    renameSync(path, `${path}.1`);
    writeFileSync(path, '');
    await sleep(150);
    w.write(5); // to the renamed file: no stat of the path shows it, the drain timer must
    await waitFor(() => c.lines.length === 10, 'the lines written to the rotated-away file');
    await sleep(600); // grace period over: retired
    polls.set(path, 0);
    await sleep(600);
    assert.equal(polls.get(path), 0, 'still polled after the rotated-away file retired');
  } finally {
    await src.stop();
    w.close();
  }
  assert.deepEqual(c.numbers(), range(1, 10));
});

test('a path that cannot be read (a directory) is reported once and followed once it becomes a file', async () => {
  const path = freshPath();
  mkdirSync(path);
  const c = new Collector();
  const src = await follow(path, c, { watch: false, pollIntervalMs: 50 });
  let reported = 0;
  try {
    await sleep(300);
    assert.ok(c.errors.length > 0, 'not reported');
    for (const e of c.errors) assert.match(e.message, /cannot read .*mail\.log: EISDIR/);
    reported = c.errors.length;
    rmSync(path, { recursive: true });
    writeFileSync(path, 'now a file\n');
    await waitFor(() => c.lines.length === 1, 'the line of the new file', 3000);
  } finally {
    await src.stop();
  }
  assert.deepEqual(c.lines, ['now a file']);
  assert.equal(c.errors.length, reported, 'an error after the path became a readable file');
});
