// The shared input of bench/compare: one configuration tree (Debian's /etc/fail2ban, unchanged, plus one
// jail.d file that enables dovecot with docker-mailserver's settings, and its blocktype drop), one mail log, and databases
// pre-populated with the same bans for each daemon: portcullis's through its own store, Fail2Ban's
// with its schema created by its own Python class.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { DaemonDirs } from '../test/e2e/daemon-process.js';
import { ipv4 } from './measure.js';

export const JAIL = 'dovecot';
/** Seconds; the jail's bantime, so neither daemon shortens a restored ban. */
export const BANTIME = 10_800;

export interface Tree {
  root: string;
  /** The config dir both daemons read. */
  config: string;
  mailLog: string;
  /** Fail2Ban's dbfile (set in the tree's fail2ban.local). */
  fail2banDb: string;
  /** portcullis's socket, pid file, database and daemon log (its dbfile comes from `--dbfile`). */
  portcullis: DaemonDirs;
}

/** A fresh tree in a temp dir: dovecot only, maxretry 3 in 10m, bantime 3h, nftables-allports. */
export function benchTree(): Tree {
  const root = mkdtempSync(join(tmpdir(), 'pc-compare-'));
  const config = join(root, 'fail2ban');
  cpSync('/etc/fail2ban', config, { recursive: true });
  const mailLog = join(root, 'mail.log');
  writeFileSync(mailLog, '');
  const fail2banDb = join(root, 'f2b', 'fail2ban.sqlite3');
  mkdirSync(join(root, 'f2b'), { recursive: true });
  mkdirSync(join(root, 'ours'), { recursive: true });
  // One log level for both daemons (Debian's and DMS's default, INFO), read by both from this file.
  writeFileSync(join(config, 'fail2ban.local'), `[Definition]\nloglevel = INFO\ndbfile = ${fail2banDb}\n`);
  // docker-mailserver's FAIL2BAN_BLOCKTYPE=drop (its default) is this file; Debian's own default is reject.
  writeFileSync(join(config, 'action.d', 'nftables-common.local'), '[Init]\nblocktype = drop\n');
  // Debian enables sshd in jail.d/defaults-debian.conf; a later .local file turns it off again.
  writeFileSync(
    join(config, 'jail.d', 'zz-bench.local'),
    [
      '[DEFAULT]',
      `bantime = ${BANTIME}`,
      'findtime = 10m',
      'maxretry = 3',
      'banaction = nftables-allports',
      'backend = auto',
      '',
      `[${JAIL}]`,
      'enabled = true',
      `logpath = ${mailLog}`,
      '',
      '[sshd]',
      'enabled = false',
      '',
    ].join('\n'),
  );
  const ours = join(root, 'ours');
  return {
    root,
    config,
    mailLog,
    fail2banDb,
    portcullis: {
      root: ours,
      config,
      socket: join(ours, 'fail2ban.sock'),
      pidfile: join(ours, 'fail2ban.pid'),
      dbfile: join(ours, 'fail2ban.sqlite3'),
      logfile: join(ours, 'fail2ban.log'),
    },
  };
}

export function removeTree(tree: Tree): void {
  rmSync(tree.root, { recursive: true, force: true });
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A syslog timestamp in local time, as docker-mailserver's mail.log has it (`Nov  5 09:04:01`). */
function syslogTime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** One Dovecot authentication failure from `ip`, matched by Debian's dovecot filter and ours. */
export function failureLine(ip: string, at = new Date()): string {
  return `${syslogTime(at)} mail dovecot: auth: passwd-file(admin@example.com,${ip},<Xy1AbC2d>): unknown user\n`;
}


/** Stores `count` current bans (10.0.0.0 onwards, banned `now`) through portcullis's own store. */
export function seedPortcullis(tree: Tree, count: number, now: number): void {
  const store = SqliteStore.open(tree.portcullis.dbfile);
  const bans = Array.from({ length: count }, (_, i) => ({
    ip: ipv4(i),
    jail: JAIL,
    time: now,
    bantime: BANTIME,
    banCount: 1,
    failures: 3,
    matches: [],
  }));
  store.addBans(bans);
  store.close();
}

// Fail2Ban's class creates its schema (version 4); the rows go in with one executemany, as its addBan
// would write them (bans + bips, data as JSON) but in one transaction rather than one per ban.
const SEED_FAIL2BAN = `
import json, sqlite3, sys
from fail2ban.server.database import Fail2BanDb
path, jail, count, now, bantime = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
Fail2BanDb(path).close()
db = sqlite3.connect(path)
data = json.dumps({"failures": 3, "matches": []})
rows = [("10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255), now) for i in range(count)]
with db:
    db.execute("INSERT OR IGNORE INTO jails(name, enabled) VALUES(?, 1)", (jail,))
    db.executemany("INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES(?, ?, ?, ?, 1, ?)",
                   [(jail, ip, t, bantime, data) for ip, t in rows])
    db.executemany("INSERT OR REPLACE INTO bips(ip, jail, timeofban, bantime, bancount, data) VALUES(?, ?, ?, ?, 1, ?)",
                   [(ip, jail, t, bantime, data) for ip, t in rows])
db.close()
`;

/** Stores the same `count` bans in Fail2Ban's database (its dbfile in the tree). */
export function seedFail2ban(tree: Tree, count: number, now: number): void {
  const run = spawnSync(
    '/usr/bin/python3',
    ['-c', SEED_FAIL2BAN, tree.fail2banDb, JAIL, String(count), String(Math.floor(now)), String(BANTIME)],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`seeding Fail2Ban's database failed: ${run.stderr.trim()}`);
}
