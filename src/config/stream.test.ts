import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readRawConfig } from './load.js';
import { pyRepr } from './pyvalue.js';
import { configStream, shlexSplit, splitWords } from './stream.js';

describe('fail2ban-client -d stream', () => {
  it('built-in tree: server settings first, each jail from add to its actions, then the starts', () => {
    const raw = readRawConfig({ dir: null });
    const lines = configStream(raw.server, raw.jails).map((c) => pyRepr(c));
    assert.deepEqual(lines.slice(0, 7), [
      "['set', 'syslogsocket', 'auto']",
      "['set', 'loglevel', 'INFO']",
      "['set', 'logtarget', '/var/log/fail2ban.log']",
      "['set', 'allowipv6', 'auto']",
      "['set', 'dbfile', '/var/lib/fail2ban/fail2ban.sqlite3']",
      "['set', 'dbmaxmatches', 10]",
      "['set', 'dbpurgeage', '1d']",
    ]);
    const custom = lines.indexOf("['add', 'custom', 'auto']");
    assert.ok(custom > 0);
    assert.ok(lines.indexOf("['set', 'custom', 'bantime', '180d']") > custom);
    assert.ok(lines.includes("['set', 'custom', 'addignoreip', '127.0.0.1/8', '::1']"));
    assert.ok(lines.includes("['set', 'custom', 'addaction', 'nftables-multiport']"));
    assert.deepEqual(lines.slice(-1), ["['start', 'custom']"]);
  });

  it('splits journalmatch like shlex and ignoreip like splitwords', () => {
    assert.deepEqual(shlexSplit(`_SYSTEMD_UNIT=a.service + "_COMM=x y" 'z\\'`), ['_SYSTEMD_UNIT=a.service', '+', '_COMM=x y', 'z\\']);
    assert.throws(() => shlexSplit('"open'), /unclosed/);
    assert.deepEqual(splitWords('127.0.0.1/8 ::1,10.0.0.1\n\n 192.0.2.1'), ['127.0.0.1/8', '::1', '10.0.0.1', '192.0.2.1']);
  });
});
