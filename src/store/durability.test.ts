// A process killed with SIGKILL in the middle of a burst of ban writes must lose no ban it was told
// was committed. Real SQLite file, real child process, real SIGKILL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'pc-durability-'));
after(() => rmSync(root, { recursive: true, force: true }));

// The child writes batches of 25 permanent bans forever and reports each batch after addBans returned.
const CHILD = `
import { writeSync } from 'node:fs';
const { SqliteStore } = await import(process.env.STORE_MODULE);
const store = SqliteStore.open(process.env.DB_PATH);
for (let batch = 0; ; batch++) {
  const bans = [];
  for (let i = 0; i < 25; i++) {
    const n = batch * 25 + i;
    bans.push({ ip: '10.' + ((n >> 16) & 255) + '.' + ((n >> 8) & 255) + '.' + (n & 255), jail: 'burst', time: 1000, bantime: -1, banCount: 1, failures: 5, matches: ['line ' + n] });
  }
  if (!store.addBans(bans)) throw new Error('degraded: ' + store.degraded);
  writeSync(1, batch + '\\n');
}
`;

it('keeps every committed ban across kill -9 mid-burst', async () => {
  const path = join(root, 'crash.sqlite3');
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, STORE_MODULE: new URL('./sqlite-store.js', import.meta.url).href, DB_PATH: path },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      // Kill at an arbitrary point well into the burst, most likely inside a transaction.
      if (out.split('\n').length > 40) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`child exited early: ${err}`)));
  });
  assert.equal(await exited, 'SIGKILL');
  const reported = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
  const committed = Math.max(...reported) + 1;
  assert.ok(committed >= 40);

  const db = new Database(path);
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
  const store = SqliteStore.open(path);
  const active = store.activeBans(2000);
  store.close();
  const ips = new Set(active.map((b) => b.ip));
  for (let n = 0; n < committed * 25; n++) {
    const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    assert.ok(ips.has(ip), `ban ${n} (${ip}) reported committed but missing`);
  }
  // Whole transactions only: the count is a multiple of the batch size.
  assert.equal(active.length % 25, 0);
  assert.ok(active.length >= committed * 25);
});
