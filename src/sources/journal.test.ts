// Unit level: a fake `journalctl` (a small Node script put first on PATH) stands in for systemd's. It
// logs its argv, prints JSON records after `--after-cursor`, and can die after N records to exercise the
// restart. The real journalctl is exercised by the end-to-end tests, not here.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode, UserError } from '../errors.js';
import { decoderFor } from './encoding.js';
import { JournalSource, matchArgs } from './journal.js';
import { entryTime, formatEntry } from './journal-entry.js';
import { TRUNCATED_MARK } from './line-splitter.js';
import type { CursorStore, LineBatch } from './source.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fake = join(dir, 'journalctl');
writeFileSync(
  fake,
  `#!${process.execPath}
const fs = require('node:fs');
const env = process.env;
fs.appendFileSync(env.FAKE_ARGV_LOG, JSON.stringify(process.argv.slice(2)) + '\\n');
const records = fs.readFileSync(env.FAKE_RECORDS, 'utf8').split('\\n').filter(Boolean).map(JSON.parse);
const after = process.argv.find((a) => a.startsWith('--after-cursor='));
let start = 0;
if (after) start = records.findIndex((r) => r.__CURSOR === after.slice(15)) + 1;
const max = env.FAKE_MAX ? Number(env.FAKE_MAX) : Infinity;
const out = records.slice(start, start + max).map((r) => JSON.stringify(r) + '\\n').join('');
process.stdout.write(out, () => {
  if (env.FAKE_MAX) { process.stderr.write('Failed to iterate through journal: Bad message\\n'); process.exit(1); }
  setInterval(() => {}, 1000);
});
`,
);
chmodSync(fake, 0o755);
process.env['PATH'] = `${dir}:${process.env['PATH']}`;
const argvLog = join(dir, 'argv.log');
process.env['FAKE_ARGV_LOG'] = argvLog;

function writeRecords(records: object[]): void {
  const path = join(dir, 'records.json');
  writeFileSync(path, records.map((r) => JSON.stringify(r)).join('\n'));
  process.env['FAKE_RECORDS'] = path;
}

function invocations(): string[][] {
  try {
    return readFileSync(argvLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as string[]);
  } catch {
    return [];
  }
}

function record(n: number, extra: object = {}) {
  return {
    __CURSOR: `s=abc;i=${n}`,
    __REALTIME_TIMESTAMP: String(1_700_000_000_000_000 + n * 1_000_000),
    _HOSTNAME: 'mail',
    SYSLOG_IDENTIFIER: 'postfix/smtpd',
    SYSLOG_PID: '42',
    MESSAGE: `warning: unknown[192.0.2.${n}]: SASL LOGIN authentication failed`,
    ...extra,
  };
}

class MemoryCursors implements CursorStore {
  readonly saved = new Map<string, string>();
  get(key: string) {
    return this.saved.get(key);
  }
  set(key: string, cursor: string) {
    this.saved.set(key, cursor);
  }
}

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

test('formats entries like Fail2Ban: host ident[pid]: message, bytes decoded, newlines escaped', () => {
  const utf8 = decoderFor('auto');
  assert.equal(
    formatEntry(record(1), utf8, 1000),
    'mail postfix/smtpd[42]: warning: unknown[192.0.2.1]: SASL LOGIN authentication failed',
  );
  const bytes = [...Buffer.from('auth failed rip=198.51.100.7\n\u00ff')];
  assert.equal(
    formatEntry({ _COMM: 'dovecot', _PID: '7', MESSAGE: bytes }, utf8, 1000),
    'dovecot[7]: auth failed rip=198.51.100.7\\nÿ',
  );
  assert.equal(formatEntry({ MESSAGE: ['a', [0x62]] }, utf8, 1000), 'a b');
  assert.equal(formatEntry({ SYSLOG_IDENTIFIER: 'x', MESSAGE: 'y'.repeat(50) }, utf8, 10), `x: yyyyyyy${TRUNCATED_MARK}`);
  assert.equal(entryTime(record(2)), 1_700_000_002);
  assert.equal(entryTime({ _SOURCE_REALTIME_TIMESTAMP: '1500000', __REALTIME_TIMESTAMP: '9' }), 1.5);
  assert.equal(entryTime({}), null);
});

test('journalmatch lines become argv alternatives; option-like terms are refused', () => {
  assert.deepEqual(matchArgs(['_SYSTEMD_UNIT=postfix.service + _COMM=smtpd', '_COMM=dovecot']), [
    '_SYSTEMD_UNIT=postfix.service',
    '+',
    '_COMM=smtpd',
    '+',
    '_COMM=dovecot',
  ]);
  assert.throws(
    () => matchArgs(['--since=yesterday']),
    (e: unknown) => e instanceof UserError && /journalmatch term '--since=yesterday'/.test(e.message),
  );
});

test('delivers batches with times, passes terms as argv (no shell), saves the cursor after the ack', async () => {
  writeRecords([record(1), record(2), record(3)]);
  delete process.env['FAKE_MAX'];
  const cursors = new MemoryCursors();
  const batches: LineBatch[] = [];
  const cursorAtDelivery: Array<string | undefined> = [];
  const src = new JournalSource({
    key: 'postfix',
    matches: ['_SYSTEMD_UNIT=postfix.service + _COMM=smtpd;touch>/tmp/pc-pwned'],
    cursors,
    onBatch: (b) => {
      cursorAtDelivery.push(cursors.saved.get('postfix'));
      batches.push(b);
    },
  });
  const before = invocations().length;
  await src.start();
  try {
    await waitFor(() => batches.flatMap((b) => b.lines).length === 3, '3 lines');
    await waitFor(() => cursors.saved.get('postfix') === 's=abc;i=3', 'cursor saved');
  } finally {
    await src.stop();
  }
  const args = invocations()[before]!;
  assert.deepEqual(args.slice(-3), ['_SYSTEMD_UNIT=postfix.service', '+', '_COMM=smtpd;touch>/tmp/pc-pwned']);
  assert.ok(args.includes('--lines=0') && args.includes('--output=json') && args.includes('--follow'));
  assert.equal(cursorAtDelivery[0], undefined);
  const lines = batches.flatMap((b) => b.lines);
  const times = batches.flatMap((b) => b.times ?? []);
  assert.equal(lines[2], 'mail postfix/smtpd[42]: warning: unknown[192.0.2.3]: SASL LOGIN authentication failed');
  assert.deepEqual(times, [1_700_000_001, 1_700_000_002, 1_700_000_003]);
  assert.ok(batches.every((b) => b.path === 'journal'));
});

test('a saved cursor resumes with --after-cursor; since is used only without one', async () => {
  writeRecords([record(1), record(2), record(3)]);
  delete process.env['FAKE_MAX'];
  const cursors = new MemoryCursors();
  cursors.set('dovecot', 's=abc;i=2');
  const lines: string[] = [];
  const src = new JournalSource({
    key: 'dovecot',
    matches: ['_SYSTEMD_UNIT=dovecot.service'],
    cursors,
    since: 1_700_000_000,
    onBatch: (b) => {
      lines.push(...b.lines);
    },
  });
  const before = invocations().length;
  await src.start();
  try {
    await waitFor(() => lines.length === 1, 'the record after the cursor');
    await sleep(100);
  } finally {
    await src.stop();
  }
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /192\.0\.2\.3/);
  const args = invocations()[before]!;
  assert.ok(args.includes('--after-cursor=s=abc;i=2'));
  assert.ok(!args.some((a) => a.startsWith('--since')));
  assert.deepEqual(
    new JournalSource({ key: 'k', matches: [], since: 1_700_000_000.7, onBatch: () => undefined }).args().slice(-1),
    ['--since=@1700000000'],
  );
});

test('journalctl that dies is restarted with backoff and resumes after the last cursor: no loss, no doubles', async () => {
  writeRecords([1, 2, 3, 4, 5].map((n) => record(n)));
  process.env['FAKE_MAX'] = '2';
  const lines: string[] = [];
  const errors: string[] = [];
  const src = new JournalSource({
    key: 'postfix',
    matches: [],
    restartMinMs: 50,
    restartMaxMs: 200,
    onError: (e) => errors.push(e.message),
    onBatch: (b) => {
      lines.push(...b.lines);
    },
  });
  const before = invocations().length;
  await src.start();
  try {
    await waitFor(() => lines.length === 5, '5 lines across restarts');
    await waitFor(() => invocations().length - before >= 4, 'a restart after the end');
  } finally {
    await src.stop();
    delete process.env['FAKE_MAX'];
  }
  assert.deepEqual(
    lines.map((l) => Number(/192\.0\.2\.(\d+)/.exec(l)![1])),
    [1, 2, 3, 4, 5],
  );
  const runs = invocations().slice(before);
  assert.ok(runs[1]!.includes('--after-cursor=s=abc;i=2'));
  assert.ok(runs[2]!.includes('--after-cursor=s=abc;i=4'));
  assert.match(errors[0]!, /^journalctl exited with code 1: Failed to iterate through journal: Bad message; restarting in 50 ms$/);
  assert.match(errors[1]!, /restarting in 100 ms$/);
});

test('a missing journalctl is one clear error at start', async () => {
  const src = new JournalSource({ key: 'x', matches: [], command: 'no-such-journalctl', onBatch: () => undefined });
  await assert.rejects(
    src.start(),
    (e: unknown) =>
      e instanceof UserError &&
      e.exitCode === ExitCode.environment &&
      /^no-such-journalctl not found on PATH: backend = systemd needs/.test(e.message),
  );
});
