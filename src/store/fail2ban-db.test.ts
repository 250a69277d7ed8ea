import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { makeFail2BanDb } from '../../test/fixtures/fail2ban-db.js';
import { readFail2BanDb, writeFail2BanDb } from './fail2ban-db.js';

const root = mkdtempSync(join(tmpdir(), 'pc-f2bdb-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('Fail2Ban database files', () => {
  it('explains what is wrong with other files', () => {
    assert.throws(() => readFail2BanDb(join(root, 'missing')), /no such file; give the path of Fail2Ban's dbfile/);
    const other = join(root, 'other.sqlite3');
    new Database(other).exec('CREATE TABLE t(x)');
    assert.throws(() => readFail2BanDb(other), /is not a Fail2Ban database/);
    const old = join(root, 'old.sqlite3');
    new Database(old).exec('CREATE TABLE fail2banDb(version INTEGER); INSERT INTO fail2banDb VALUES (2); CREATE TABLE bans(x)');
    assert.throws(() => readFail2BanDb(old), /schema version 2; only version 4/);
    const junk = join(root, 'junk.sqlite3');
    writeFileSync(junk, 'hello, not sqlite at all'.repeat(500));
    assert.throws(() => readFail2BanDb(junk), /not a database or corrupt/);
  });

  it("reads a real Fail2Ban database: last bans, history and matches", () => {
    const path = join(root, 'real.sqlite3');
    makeFail2BanDb(path, 100_000);
    const { bips, bans } = readFail2BanDb(path);
    assert.equal(bips.length, 5);
    assert.equal(bans.length, 6, 'every ban, the repeated one included');
    assert.deepEqual(
      bips.find((b) => b.jail === 'dovecot' && b.bantime === -1),
      { ip: '2001:db8::1', jail: 'dovecot', time: 99_900, bantime: -1, banCount: 3, failures: 5, matches: ['line for 2001:DB8::1'] },
    );
  });

  it('writes what it reads back, byte for byte in meaning', () => {
    const source = join(root, 'source.sqlite3');
    makeFail2BanDb(source, 100_000);
    const content = readFail2BanDb(source);
    const copy = join(root, 'copy.sqlite3');
    writeFail2BanDb(copy, { ...content, logs: [{ jail: 'dovecot', path: '/var/log/mail.log', hash: 'abc', offset: 42 }] });
    assert.deepEqual(readFail2BanDb(copy), { ...content, logs: [{ jail: 'dovecot', path: '/var/log/mail.log', hash: 'abc', offset: 42 }] });
    assert.throws(() => writeFail2BanDb(copy, content), /already exists/);
  });
});
