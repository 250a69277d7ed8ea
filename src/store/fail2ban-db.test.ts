import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { readFail2BanBans } from './fail2ban-db.js';

const root = mkdtempSync(join(tmpdir(), 'pc-f2bdb-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('readFail2BanBans', () => {
  it('explains what is wrong with other files', () => {
    assert.throws(() => readFail2BanBans(join(root, 'missing')), /no such file; give the path of Fail2Ban's dbfile/);
    const other = join(root, 'other.sqlite3');
    new Database(other).exec('CREATE TABLE t(x)');
    assert.throws(() => readFail2BanBans(other), /is not a Fail2Ban database/);
    const old = join(root, 'old.sqlite3');
    new Database(old).exec('CREATE TABLE fail2banDb(version INTEGER); INSERT INTO fail2banDb VALUES (2); CREATE TABLE bans(x)');
    assert.throws(() => readFail2BanBans(old), /schema version 2; only version 4/);
    const junk = join(root, 'junk.sqlite3');
    writeFileSync(junk, 'hello, not sqlite at all'.repeat(500));
    assert.throws(() => readFail2BanBans(junk), /not a database or corrupt/);
  });
});
