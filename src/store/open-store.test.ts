import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { fail2banPythonUnavailable, makeFail2BanDb } from '../../test/fixtures/fail2ban-db.js';
import { readFail2BanDb, writeFail2BanDb } from './fail2ban-db.js';
import { asideName, exportToFail2Ban, openStore } from './open-store.js';
import { SqliteStore } from './sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'pc-open-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dir = () => {
  const d = join(root, String(n++));
  mkdirSync(d, { recursive: true });
  return d;
};

const active = (s: SqliteStore, now: number) => s.activeBans(now).map((b) => `${b.jail} ${b.ip} ${b.bantime} ${b.banCount}`).sort();

describe('openStore: an existing Fail2Ban install', { skip: fail2banPythonUnavailable() ?? false }, () => {
  it('migrates a Fail2Ban database in place at first open: running bans, history, the original kept', () => {
    const now = Math.floor(Date.now() / 1000);
    const path = join(dir(), 'fail2ban.sqlite3');
    makeFail2BanDb(path, now);
    const original = readFileSync(path);
    const opened = openStore(path, {}, now);
    try {
      assert.equal(opened.log.length, 1);
      assert.equal(opened.log[0]?.level, 'NOTICE');
      const backup = /kept as (\S+) /.exec(opened.log[0]?.message ?? '')?.[1] ?? '';
      assert.match(opened.log[0]?.message ?? '', /^Migrated Fail2Ban database .*: 4 running ban\(s\) and 6 ban record\(s\) imported; the original is kept as .*fail2ban\.sqlite3\.fail2ban\.\d{8}-\d{6} \(to go back: portcullis export-fail2ban-db --in-place\)$/);
      assert.deepEqual(readFileSync(backup), original, 'the backup is the untouched Fail2Ban file');
      assert.deepEqual(active(opened.store, now), [
        'custom 192.0.66.0/24 15552000 1',
        'dovecot 192.0.2.1 600 1',
        'dovecot 2001:db8::1 -1 3',
        'postfix 192.0.2.1 3600 2',
      ]);
      assert.equal(opened.store.previousBans('192.0.2.1', 'postfix'), 2, 'ban counts carry over for bantime.increment');
      assert.equal(opened.store.previousBans('198.51.100.7', 'postfix'), 1, 'expired bans count too');
      assert.equal(existsSync(`${path}.migrating`), false);
    } finally {
      opened.store.close();
    }
    const again = openStore(path, {}, now);
    assert.deepEqual(again.log, [], 'migrated once');
    again.store.close();
  });

  it('goes back: export writes a Fail2Ban v4 file with every ban and the history, in place keeping ours', () => {
    const now = Math.floor(Date.now() / 1000);
    const path = join(dir(), 'fail2ban.sqlite3');
    makeFail2BanDb(path, now);
    const before = readFail2BanDb(path);
    openStore(path, {}, now).store.close();
    const out = join(root, `export-${n}.sqlite3`);
    const r = exportToFail2Ban(path, out, now);
    assert.deepEqual(r, { running: 4, history: 6, kept: null });
    const exported = readFail2BanDb(out);
    const key = (b: { jail: string; ip: string; time: number; bantime: number; banCount: number }) => `${b.jail} ${b.ip} ${b.time} ${b.bantime} ${b.banCount}`;
    const canon = (ip: string) => (ip === '2001:DB8::1' ? '2001:db8::1' : ip);
    assert.deepEqual(exported.bips.map(key).sort(), before.bips.map((b) => key({ ...b, ip: canon(b.ip) })).sort());
    assert.deepEqual(exported.bans.map(key).sort(), before.bans.map((b) => key({ ...b, ip: canon(b.ip) })).sort());

    const inPlace = exportToFail2Ban(path, path, now);
    assert.match(inPlace.kept ?? '', /fail2ban\.sqlite3\.portcullis\.\d{8}-\d{6}$/);
    assert.equal(readFail2BanDb(path).bips.length, 5, 'the dbfile is a Fail2Ban database again');
    const kept = SqliteStore.open(inPlace.kept!);
    assert.equal(kept.activeBans(now).length, 4);
    kept.close();
  });
});

describe('openStore: log positions from Fail2Ban', () => {
  it('are kept under the path Fail2Ban read and under its real path (DMS: /var/log/mail.log is a link)', () => {
    const d = dir();
    writeFileSync(join(d, 'mail.log.real'), 'first line\n');
    symlinkSync(join(d, 'mail.log.real'), join(d, 'mail.log'));
    const path = join(d, 'fail2ban.sqlite3');
    writeFail2BanDb(path, { bips: [], bans: [], logs: [{ jail: 'dovecot', path: join(d, 'mail.log'), hash: 'abc', offset: 11 }] });
    const opened = openStore(path, {});
    try {
      const expected = { dev: 0, ino: 0, offset: 11, firstLineHash: 'abc' };
      assert.deepEqual(opened.store.getFilePosition('dovecot', join(d, 'mail.log')), expected);
      assert.deepEqual(opened.store.getFilePosition('dovecot', join(d, 'mail.log.real')), expected);
    } finally {
      opened.store.close();
    }
  });
});

describe('openStore: a Fail2Ban database that cannot be migrated', () => {
  it('runs on an in-memory database and says so, leaving the file as it was', () => {
    const path = join(dir(), 'fail2ban.sqlite3');
    const db = new Database(path);
    db.exec('CREATE TABLE fail2banDb(version INTEGER); INSERT INTO fail2banDb VALUES (2); CREATE TABLE bans(x)');
    db.close();
    const before = readFileSync(path);
    const opened = openStore(path, {});
    try {
      assert.equal(opened.store.path, ':memory:');
      assert.match(opened.problems[0] ?? '', /^cannot migrate Fail2Ban database .*schema version 2.*; running on an in-memory database with its 0 running ban\(s\)/);
      assert.equal(opened.log[0]?.level, 'ERROR');
      assert.equal(opened.store.addBan({ ip: '192.0.2.9', jail: 'j', time: 1, bantime: -1, banCount: 1, failures: 1, matches: [] }), true);
    } finally {
      opened.store.close();
    }
    assert.deepEqual(readFileSync(path), before);
    assert.equal(existsSync(`${path}.migrating`), false);
  });
});

describe('openStore: a corrupt database', () => {
  it('is moved aside with a timestamp, a fresh one opens, and the admin is told', () => {
    const now = Date.UTC(2026, 10, 28, 23, 5, 9) / 1000;
    const d = dir();
    const path = join(d, 'fail2ban.sqlite3');
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    const opened = openStore(path, {}, now);
    try {
      assert.equal(opened.log[0]?.level, 'ERROR');
      assert.match(opened.log[0]?.message ?? '', /is corrupt \(.+\); moved it aside to .*fail2ban\.sqlite3\.20261128-230509 and started a new one/);
      assert.deepEqual(opened.problems, [opened.log[0]?.message]);
      assert.deepEqual(readFileSync(join(d, 'fail2ban.sqlite3.20261128-230509')), Buffer.alloc(8192, 0x5a));
      assert.equal(opened.store.addBan({ ip: '192.0.2.9', jail: 'j', time: now, bantime: 60, banCount: 1, failures: 1, matches: [] }), true);
    } finally {
      opened.store.close();
    }
    assert.equal(asideName(path, '', now), `${path}.20261128-230509.1`, 'never overwrites an earlier backup');
  });

  it('a database with damaged pages is caught too (quick_check), not only a bad header', () => {
    const path = join(dir(), 'fail2ban.sqlite3');
    const s = SqliteStore.open(path);
    const bans = Array.from({ length: 3000 }, (_, i) => ({ ip: `10.0.${i >> 8}.${i & 255}`, jail: 'j', time: 1, bantime: -1, banCount: 1, failures: 1, matches: ['x'.repeat(100)] }));
    s.addBans(bans);
    s.close();
    const bytes = readFileSync(path);
    bytes.fill(0x77, 4096 * 3, 4096 * 6);
    writeFileSync(path, bytes);
    const opened = openStore(path, {});
    opened.store.close();
    assert.equal(opened.problems.length, 1);
    assert.match(opened.problems[0] ?? '', /is corrupt/);
  });
});

describe('SqliteStore.recreateIfDeleted', () => {
  it('recreates a database file deleted while running, with every ban, and keeps writing there', () => {
    const path = join(dir(), 'fail2ban.sqlite3');
    const s = SqliteStore.open(path);
    try {
      s.addBan({ ip: '192.0.2.1', jail: 'j', time: 100, bantime: -1, banCount: 1, failures: 1, matches: [] });
      assert.equal(s.recreateIfDeleted(), null, 'nothing to do while the file is there');
      rmSync(path);
      s.addBan({ ip: '192.0.2.2', jail: 'j', time: 100, bantime: -1, banCount: 1, failures: 1, matches: [] });
      assert.match(s.recreateIfDeleted() ?? '', /was deleted while running; recreated it with its 2 last-ban record\(s\)/);
      s.addBan({ ip: '192.0.2.3', jail: 'j', time: 100, bantime: -1, banCount: 1, failures: 1, matches: [] });
    } finally {
      s.close();
    }
    const r = SqliteStore.open(path);
    assert.deepEqual(r.activeBans(200).map((b) => b.ip).sort(), ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    r.close();
  });
});
