// doctor over a real config tree, log file and database, with no server running (the e2e test in
// test/e2e/gateway.test.ts covers a running one). The jail bans with iptables so no nft probe runs on
// the host.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { doctor } from './doctor.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-doctor-'));
after(() => rmSync(root, { recursive: true, force: true }));

function capture() {
  let out = '';
  return { io: { out: (t: string) => void (out += t), err: () => {} }, text: () => out };
}

test('doctor names a missing log, a stale one, missing loopback in ignoreip and a silent socket; exit 1', async () => {
  const dir = join(root, 'conf');
  mkdirSync(join(dir, 'filter.d'), { recursive: true });
  const fresh = join(root, 'fresh.log');
  const stale = join(root, 'stale.log');
  const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');
  writeFileSync(fresh, `${iso(new Date())} host x: fine\n`);
  writeFileSync(stale, `${iso(new Date(Date.now() - 3 * 86400_000))} host x: old\n`);
  const old = new Date(Date.now() - 3 * 86400_000);
  utimesSync(stale, old, old);
  writeFileSync(join(dir, 'filter.d', 'f.conf'), '[Definition]\nfailregex = ^fail from <HOST>$\n');
  writeFileSync(join(dir, 'fail2ban.local'), `[Definition]\ndbfile = ${join(root, 'db.sqlite3')}\n`);
  writeFileSync(
    join(dir, 'jail.local'),
    `[DEFAULT]\nbanaction = iptables-multiport\n[dovecot]\nenabled = false\n[postfix]\nenabled = false\n[custom]\nenabled = false\n` +
      `[j]\nenabled = true\nfilter = f\nignoreip = 127.0.0.1/8\nlogpath = ${fresh}\n          ${stale}\n          ${join(root, 'missing.log')}\n`,
  );
  const { io, text } = capture();
  const code = await doctor({ config: dir, socket: join(root, 'none.sock') }, io);
  const out = text();
  assert.equal(code, 1, out);
  assert.match(out, new RegExp(`^ok {3}logs: \\[j\\] ${fresh} exists, is readable and growing$`, 'm'));
  assert.match(out, /^ok {3}clock: \[j\] .*fresh\.log: log dates agree/m);
  assert.match(out, /^FIX {2}logs: \[j\] .*stale\.log has not grown for 72\.0 h; /m);
  assert.match(out, /^FIX {2}logs: \[j\] .*missing\.log: no such file or directory/m);
  assert.match(out, /^FIX {2}ignoreip: \[j\] ignoreip misses ::1; add ::1 to ignoreip/m);
  assert.match(out, /^ok {3}database: .*db\.sqlite3 is healthy and writable$/m);
  assert.match(out, /^FIX {2}socket: no server answers on .*none\.sock/m);
  assert.doesNotMatch(out, /nftables/, 'no nft probe for a jail banning with iptables');
});
