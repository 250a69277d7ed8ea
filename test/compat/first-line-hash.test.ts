// Fail2Ban recognises a log file by the hash of its first line (`logs.firstlinemd5` in its database, SHA-1
// under Python 3 despite the name: see sources/sha1.ts), and portcullis keeps the same hash beside its read
// position (migrated from, and exported to, Fail2Ban's database). It must be Fail2Ban's own, byte for byte,
// for a first line with bytes beyond ASCII and a `\r\n` end: Debian's real fail2ban-server writes its row,
// and portcullis follows a file with the same content and writes its own.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDatabase } from '../../src/store/database.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { removeDirs, sleep, startDaemon, waitFor } from '../e2e/daemon-process.js';
import { dovecotFailure, mailSetup } from '../e2e/mail-log.js';
import { fail2banUnavailable, startRealFail2ban } from './fail2ban-server.js';

const skip = fail2banUnavailable();

/** A log whose first line has Latin-1 and UTF-8 bytes and ends in \r\n, then ordinary lines. */
const content = Buffer.concat([
  Buffer.from('Nov 29 08:00:00 mail postfix/smtpd[1]: connect from r\u00e9sum\u00e9.example[192.0.2.9]\r\n', 'utf8'),
  Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0x20, 0xe9, 0x0a]),
  Buffer.from(`${dovecotFailure('192.0.2.1')}${dovecotFailure('192.0.2.2')}`),
]);

describe('first-line hash as Fail2Ban stores it', { skip: skip ?? false }, () => {
  it("portcullis's hash of a log's first line is fail2ban-server's `firstlinemd5`", async () => {
    const real = await startRealFail2ban({ jails: [{ name: 'custom' }] });
    let theirs: { firstlinemd5: string; lastfilepos: number } | undefined;
    try {
      // After start-up's first poll, so that the polling backend sees the file grow.
      await sleep(1500);
      appendFileSync(real.logFile, content);
      await sleep(2500);
      // Fail2Ban writes the position it reached when it stops (and only every few seconds while running).
      real.client('stop');
      await waitFor('fail2ban-server stopped', () => !existsSync(real.socket) || null, 10_000);
      const db = openDatabase(join(real.dir, 'fail2ban.sqlite3'), { readonly: true, fileMustExist: true });
      try {
        theirs = db.prepare('SELECT firstlinemd5, lastfilepos FROM logs').get() as typeof theirs;
      } finally {
        db.close();
      }
    } finally {
      await real.stop();
    }
    assert.ok(theirs, 'Fail2Ban wrote no logs row');
    assert.equal(theirs.lastfilepos, content.length, 'Fail2Ban read the whole file');
    assert.match(theirs.firstlinemd5, /^[0-9a-f]{40}$/);

    const { dirs, mailLog } = mailSetup();
    writeFileSync(mailLog, content);
    const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
    try {
      // Read to its end, and the first line learnt (the position is written at stop).
      await sleep(1000);
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    const store = SqliteStore.open(dirs.dbfile);
    try {
      const ours = store.getFilePosition('dovecot', mailLog);
      assert.ok(ours, 'no read position stored');
      assert.equal(ours.offset, content.length);
      assert.equal(ours.firstLineHash, theirs.firstlinemd5);
    } finally {
      store.close();
      removeDirs(dirs);
    }
  });
});
