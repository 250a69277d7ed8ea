import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Command } from 'commander';
import { fail2banPythonUnavailable, makeFail2BanDb } from '../../test/fixtures/fail2ban-db.js';
import { readFail2BanDb } from '../store/fail2ban-db.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { register } from './import-fail2ban-db.js';

const root = mkdtempSync(join(tmpdir(), 'pc-import-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<string> {
  const program = new Command().exitOverride();
  register(program);
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  return out.join('');
}

describe('import-fail2ban-db and export-fail2ban-db', { skip: fail2banPythonUnavailable() ?? false }, () => {
  it('imports into another file and prints the counts', async () => {
    const now = Math.floor(Date.now() / 1000);
    const source = join(root, 'f2b.sqlite3');
    makeFail2BanDb(source, now);
    const target = join(root, 'ours.sqlite3');
    assert.equal(await run('import-fail2ban-db', source, '--db', target), `Imported 4 running ban(s) and 6 ban record(s) from ${source} into ${target}\n`);
    const store = SqliteStore.open(target);
    assert.equal(store.activeBans(now).length, 4);
    assert.equal(store.previousBans('192.0.2.1', null), 3, 'ban counts carry over for bantime.increment');
    store.close();
  });

  it('takes the place of the Fail2Ban file when both are the same dbfile, keeping it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const path = join(root, 'same.sqlite3');
    makeFail2BanDb(path, now);
    assert.match(await run('import-fail2ban-db', path, '--db', path), /^Imported 4 running ban\(s\) and 6 ban record\(s\) .*\(Fail2Ban's file kept as .*same\.sqlite3\.fail2ban\.\d{8}-\d{6}\)\n$/);
    const store = SqliteStore.open(path);
    assert.equal(store.activeBans(now).length, 4);
    store.close();
  });

  it('exports to a new file, and refuses a missing argument', async () => {
    const now = Math.floor(Date.now() / 1000);
    const path = join(root, 'ours2.sqlite3');
    makeFail2BanDb(join(root, 'src2.sqlite3'), now);
    await run('import-fail2ban-db', join(root, 'src2.sqlite3'), '--db', path);
    const out = join(root, 'back.sqlite3');
    assert.equal(await run('export-fail2ban-db', out, '--db', path), `Exported 4 running ban(s) and 6 ban record(s) to ${out} (Fail2Ban schema version 4)\n`);
    assert.equal(readFail2BanDb(out).bips.length, 5);
    await assert.rejects(run('export-fail2ban-db', '--db', path), /either the file to write or --in-place/);
    assert.ok(existsSync(path));
  });
});
