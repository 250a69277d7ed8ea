import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FleetSqliteStore } from './fleet-store.js';
import { SqliteStore } from './sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-fleet-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('read position, outbox and origins survive a reopen, beside the ban tables', () => {
  const path = join(root, 'db.sqlite3');
  const bans = SqliteStore.open(path);
  let fleet = new FleetSqliteStore(path);
  assert.equal(fleet.position(), '0');
  fleet.setPosition('1800000000000-3');
  fleet.queue([{ m: 'a', s: '1' }, { m: 'b', s: '2' }]);
  fleet.markOrigin('dovecot', '203.0.113.5', 'mx1', 1_800_000_000);
  fleet.close();
  fleet = new FleetSqliteStore(path);
  assert.equal(fleet.position(), '1800000000000-3');
  const queued = fleet.queued(10);
  assert.deepEqual(queued.map((q) => q.fields.m), ['a', 'b'], 'oldest first');
  fleet.dequeue([queued[0]!.seq]);
  assert.equal(fleet.queuedCount(), 1);
  assert.equal(fleet.origin('dovecot', '203.0.113.5'), 'mx1');
  fleet.close();
  bans.close();
});
