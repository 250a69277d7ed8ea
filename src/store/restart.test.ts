// The jail and the store together across a restart: bans come back, and bantime.increment keeps
// counting from the database's ban history.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import type { JailConfig } from '../config/model.js';
import { Jail } from '../jail/jail.js';
import { SqliteStore } from './sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'pc-restart-'));
after(() => rmSync(root, { recursive: true, force: true }));

const config: JailConfig = {
  name: 'dovecot', enabled: true, backend: 'auto', filter: null, actions: [], logpaths: [], logencoding: 'utf-8',
  bantime: 600, findtime: 600, maxretry: 2, maxmatches: 2, ignoreip: [], ignoreself: false, ignorecommand: '', usedns: 'warn',
  options: {}, increment: { enabled: true, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false },
};

it('restores bans after a restart and grows bantime from stored history', () => {
  const path = join(root, 'db.sqlite3');
  let store = SqliteStore.open(path);
  let jail = new Jail(config, { history: store });
  jail.addFailure({ ip: '192.0.2.1', time: 100, line: 'fail 1' }, 100);
  const first = jail.addFailure({ ip: '192.0.2.1', time: 101, line: 'fail 2' }, 101)!;
  assert.ok(jail.commitBan(first, 101));
  assert.ok(store.addBans([first]));
  store.close();

  // Restart 5 minutes later: the ban is back with its original end.
  store = SqliteStore.open(path);
  jail = new Jail(config, { history: store });
  for (const ban of store.activeBans(400)) jail.restore(ban, 400);
  assert.deepEqual(jail.status().bannedIps, ['192.0.2.1']);
  assert.deepEqual(jail.expire(701), [], 'a ban ending now still holds');
  assert.deepEqual(jail.expire(702).map((t) => [t.ip, t.time + t.bantime]), [['192.0.2.1', 701]]);

  // Second offence after it expired: the history survived expiry, so one failure weighs 2 (= maxretry)
  // and the ban is twice as long, ban count 2.
  const second = jail.addFailure({ ip: '192.0.2.1', time: 800 }, 800)!;
  assert.deepEqual([second.bantime, second.banCount], [1200, 2]);
  jail.commitBan(second, 800);
  store.addBans([second]);
  assert.equal(store.previousBans('192.0.2.1', 'dovecot'), 2);
  store.close();
});
