import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Command } from 'commander';
import { readFail2BanBans } from '../store/fail2ban-db.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { importFail2BanDb, register } from './import-fail2ban-db.js';

// The database is written by Debian's Fail2Ban itself (its Fail2BanDb class), not by a copy of its schema.
const PYTHON = '/usr/bin/python3';
const hasFail2Ban = spawnSync(PYTHON, ['-c', 'import fail2ban.server.database']).status === 0;

/** Python that creates a Fail2Ban v4 database with: an active and a permanent ban in dovecot, an expired and an active one in postfix. */
const MAKE_FAIL2BAN_DB = `
import sys
from fail2ban.server.database import Fail2BanDb
from fail2ban.server.ticket import BanTicket
class Actions:
    def getBanTime(self): return 600
class Jail:
    def __init__(self, name): self.name = name; self.actions = Actions()
db = Fail2BanDb(sys.argv[1])
now = float(sys.argv[2])
dovecot, postfix = Jail('dovecot'), Jail('postfix')
db.addJail(dovecot); db.addJail(postfix)
def ban(jail, ip, t, bantime, count):
    ticket = BanTicket(ip, t, ['line for ' + ip])
    ticket.setBanTime(bantime); ticket.setBanCount(count); ticket.setData('failures', 5)
    db.addBan(jail, ticket)
ban(dovecot, '192.0.2.1', now - 100, 600, 1)
ban(dovecot, '2001:DB8::1', now - 100, -1, 3)
ban(postfix, '198.51.100.7', now - 5000, 600, 1)
ban(postfix, '192.0.2.1', now - 10, 3600, 2)
db.close()
`;

function makeFail2BanDb(path: string, now: number): void {
  execFileSync(PYTHON, ['-c', MAKE_FAIL2BAN_DB, path, String(now)], { stdio: 'ignore' });
}

const root = mkdtempSync(join(tmpdir(), 'pc-import-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('import-fail2ban-db', { skip: hasFail2Ban ? false : 'Debian fail2ban not installed' }, () => {
  it('reads the last ban per ip and jail of a real Fail2Ban database', () => {
    const path = join(root, 'fail2ban.sqlite3');
    makeFail2BanDb(path, 100_000);
    const { version, bans } = readFail2BanBans(path);
    assert.equal(version, 4);
    assert.equal(bans.length, 4);
    const perm = bans.find((b) => b.ip === '2001:db8::1');
    assert.deepEqual(perm, { ip: '2001:db8::1', jail: 'dovecot', time: 99_900, bantime: -1, banCount: 3, failures: 5, matches: ['line for 2001:DB8::1'] });
  });

  it('imports running bans, skips expired ones, normalises addresses', () => {
    const now = Math.floor(Date.now() / 1000);
    const source = join(root, 'f2b.sqlite3');
    makeFail2BanDb(source, now);
    const target = join(root, 'ours.sqlite3');
    assert.deepEqual(importFail2BanDb(source, target, now), { imported: 3, expired: 1, invalid: 0, movedTo: null });
    const store = SqliteStore.open(target);
    const active = store.activeBans(now).map((b) => `${b.jail} ${b.ip} ${b.bantime} ${b.banCount}`).sort();
    assert.deepEqual(active, ['dovecot 192.0.2.1 600 1', 'dovecot 2001:db8::1 -1 3', 'postfix 192.0.2.1 3600 2']);
    assert.equal(store.previousBans('192.0.2.1', null), 3, 'ban counts carry over for bantime.increment');
    store.close();
  });

  it('prints the counts from the command line', async () => {
    const now = Math.floor(Date.now() / 1000);
    const source = join(root, 'cli-f2b.sqlite3');
    makeFail2BanDb(source, now);
    const target = join(root, 'cli-ours.sqlite3');
    const program = new Command().exitOverride();
    register(program);
    const out: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write;
    try {
      await program.parseAsync(['import-fail2ban-db', source, '--db', target], { from: 'user' });
    } finally {
      process.stdout.write = write;
    }
    assert.equal(out.join(''), `Imported 3 ban(s) from ${source} into ${target}; skipped 1 expired\n`);
  });

  it('takes the place of the Fail2Ban file when both are the same dbfile, keeping it as .fail2ban', () => {
    const now = Math.floor(Date.now() / 1000);
    const path = join(root, 'same.sqlite3');
    makeFail2BanDb(path, now);
    const r = importFail2BanDb(path, path, now);
    assert.deepEqual(r, { imported: 3, expired: 1, invalid: 0, movedTo: `${path}.fail2ban` });
    assert.ok(existsSync(`${path}.fail2ban`));
    const store = SqliteStore.open(path);
    assert.equal(store.activeBans(now).length, 3);
    store.close();
  });
});
