import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { databaseProblem } from './health.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-health-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a healthy database passes and is left unchanged; a missing one in a writable directory is fine', () => {
  const path = join(root, 'ok.sqlite3');
  const db = new Database(path);
  db.exec('CREATE TABLE bans (ip TEXT)');
  db.close();
  assert.equal(databaseProblem(path), null);
  const check = new Database(path, { readonly: true });
  assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(), [{ name: 'bans' }], 'the probe table was rolled back');
  check.close();
  assert.equal(databaseProblem(join(root, 'later.sqlite3')), null);
});

test('a file that is not a database, or a missing file in a missing directory, is a problem', () => {
  const junk = join(root, 'junk.sqlite3');
  writeFileSync(junk, 'this is not a database, just text long enough to fill a header page'.repeat(20));
  assert.match(databaseProblem(junk) ?? '', /junk\.sqlite3: .*not a database/);
  assert.match(databaseProblem(join(root, 'nowhere', 'x', 'db.sqlite3')) ?? '', /does not exist and its directory .* is not writable/);
});
