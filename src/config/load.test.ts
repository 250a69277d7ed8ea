import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { loadFilterDefinition } from './filter-def.js';
import { loadConfig } from './load.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-load-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A user tree with the given files; everything else comes from the built-in defaults. */
function tree(files: Record<string, string>): string {
  const dir = join(root, String(n++));
  mkdirSync(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

const FILTER = '[Definition]\nfailregex = ^fail from <HOST>$\n';

function rejects(files: Record<string, string>, pattern: RegExp): void {
  const dir = tree(files);
  assert.throws(
    () => loadConfig({ dir }),
    (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
  );
}

describe('loadConfig', () => {
  it('built-in defaults alone: the docker-mailserver jails', () => {
    const c = loadConfig({ dir: null });
    assert.equal(c.dir, null);
    assert.deepEqual(
      c.jails.map((j) => j.name),
      ['dovecot', 'postfix', 'custom'],
    );
    const custom = c.jails.find((j) => j.name === 'custom');
    assert.equal(custom?.bantime, 180 * 86400);
    assert.deepEqual(custom?.filter?.failregex, []);
    const dovecot = c.jails[0];
    assert.equal(dovecot?.bantime, 3 * 3600);
    assert.equal(dovecot?.findtime, 600);
    assert.equal(dovecot?.maxretry, 3);
    assert.deepEqual(dovecot?.ignoreip, ['127.0.0.1/8', '::1']);
    assert.deepEqual(dovecot?.logpaths, [{ pattern: '/var/log/mail/mail.log', start: 'head' }]);
    assert.equal(dovecot?.actions[0]?.name, 'nftables-multiport');
    assert.match(dovecot?.actions[0]?.commands.actionban ?? '', /^nft add element inet f2b-table <addr_set> '\{ <ip> \}'$/);
    assert.equal(dovecot?.actions[0]?.properties['addr_set?family=inet6'], 'addr6-set-dovecot');
    assert.equal(c.jails[1]?.options.mode, 'extra');
    assert.deepEqual(c.server, {
      loglevel: 'INFO',
      logtarget: '/var/log/fail2ban.log',
      socket: '/var/run/fail2ban/fail2ban.sock',
      pidfile: '/var/run/fail2ban/fail2ban.pid',
      dbfile: '/var/lib/fail2ban/fail2ban.sqlite3',
      dbpurgeage: 86400,
      dbmaxmatches: 10,
      metrics: null,
      policy: { postfix: null, postfixAction: 'REJECT 5.7.1 Your address is banned', dovecot: null, dovecotMessage: 'Your address is banned' },
    });
  });

  it('a jail whose filter has no definition loads with filter null and a warning naming it', () => {
    const dir = tree({ 'jail.local': '[mine]\nenabled = true\nfilter = nowhere\n' });
    const c = loadConfig({ dir });
    const mine = c.jails.find((j) => j.name === 'mine');
    assert.ok(mine);
    assert.equal(mine.filter, null);
    assert.ok(c.warnings.some((w) => w.includes('"mine"') && w.includes('"nowhere"')));
  });

  it('users override the defaults: 1w / 1w / 6 in jail.d/user-jail.local, settings in fail2ban.local', () => {
    const dir = tree({
      'jail.d/user-jail.local': '[DEFAULT]\nbantime = 1w\nfindtime = 1w\nmaxretry = 6\nbanaction = nftables-allports\n',
      'fail2ban.local': '[Definition]\nloglevel = debug\ndbpurgeage = 7d\nlogtarget = /var/log/mail/fail2ban.log\n',
    });
    const c = loadConfig({ dir });
    const custom = c.jails.find((j) => j.name === 'custom');
    assert.equal(custom?.bantime, 180 * 86400);
    assert.equal(c.jails[0]?.bantime, 604800);
    assert.equal(c.jails[0]?.findtime, 604800);
    assert.equal(c.jails[0]?.maxretry, 6);
    assert.equal(c.jails[0]?.actions[0]?.name, 'nftables-allports');
    assert.match(c.jails[0]?.actions[0]?.commands.actionstart ?? '', /meta l4proto \{ tcp \} <addr_family> saddr/);
    assert.equal(c.server.loglevel, 'DEBUG');
    assert.equal(c.server.dbpurgeage, 7 * 86400);
    assert.equal(c.server.logtarget, '/var/log/mail/fail2ban.log');
  });

  it('passes jail arguments to filters and actions', () => {
    const dir = tree({
      'filter.d/web.conf': '[Definition]\nfailregex = ^<mode> from <HOST>$\n[Init]\nmode = normal\n',
      'jail.local': '[web]\nenabled = true\nfilter = web[mode="x, y"]\naction = nftables[name=w, port="80,443"]\n',
    });
    const web = loadConfig({ dir }).jails.find((j) => j.name === 'web');
    assert.deepEqual(web?.filter?.failregex, ['^x, y from <HOST>$']);
    assert.deepEqual(web?.filter?.args, { mode: 'x, y' });
    assert.match(web?.actions[0]?.commands.actionstart ?? '', /tcp dport \{ 80,443 \}/);
    assert.equal(web?.actions[0]?.properties['addr_set?family=inet6'], 'addr6-set-w');
  });

  it('validates types with file:line', () => {
    const jail = (body: string) => ({ 'filter.d/f.conf': FILTER, 'jail.local': `[j]\nenabled = true\nfilter = f\n${body}` });
    rejects(jail('maxretry = three\n'), /jail\.local:4: \[j\] maxretry: "three" is not an integer/);
    rejects(jail('bantime = 3 fortnights\n'), /jail\.local:4: \[j\] bantime: invalid duration/);
    rejects(jail('findtime = \n'), /jail\.local:4: \[j\] findtime: empty duration/);
    rejects(jail('usedns = maybe\n'), /jail\.local:4: \[j\] usedns: "maybe" is not one of/);
    rejects(jail('maxretry = 0\n'), /jail\.local:4: \[j\] maxretry: 0 is not a positive/);
    rejects({ 'fail2ban.local': '[Definition]\ndbmaxmatches = ten\n' }, /fail2ban\.local:2: dbmaxmatches/);
    rejects({ 'fail2ban.local': '[Definition]\nloglevel = LOUD\n' }, /fail2ban\.local:2: loglevel: unknown level/);
    rejects({ 'fail2ban.local': '[Definition]\nmetrics = :9191\n' }, /fail2ban\.local:2: metrics: ':9191' has no address; write 127\.0\.0\.1:9191/);
    assert.deepEqual(loadConfig({ dir: tree({ 'fail2ban.local': '[Definition]\nmetrics = 9191\n' }) }).server.metrics, { host: '127.0.0.1', port: 9191 });
    const policy = (text: string) => loadConfig({ dir: tree({ 'fail2ban.local': `[Definition]\n${text}\n` }) }).server.policy;
    assert.deepEqual(policy('postfixpolicy = /run/portcullis/policy.sock').postfix, { path: '/run/portcullis/policy.sock' });
    assert.deepEqual(policy('postfixpolicy = 12340').postfix, { host: '127.0.0.1', port: 12340 });
    assert.deepEqual(policy('dovecotpolicy = [::1]:12341').dovecot, { host: '::1', port: 12341 });
    assert.equal(policy('postfixpolicyaction = DEFER_IF_PERMIT 4.7.1 later').postfixAction, 'DEFER_IF_PERMIT 4.7.1 later');
    rejects({ 'fail2ban.local': '[Definition]\ndovecotpolicy = /run/x.sock\n' }, /fail2ban\.local:2: dovecotpolicy: '\/run\/x\.sock' is not HOST:PORT/);
    rejects({ 'fail2ban.local': '[Definition]\npostfixpolicy = policy.sock\n' }, /fail2ban\.local:2: postfixpolicy: .*or an absolute unix socket path/);
    rejects({ 'fail2ban.local': '[Definition]\npostfixpolicyaction = action=REJECT\n' }, /fail2ban\.local:2: postfixpolicyaction: .* is not a Postfix access action/);
  });

  it('names the jail that asks for an unknown action', () => {
    rejects(
      { 'filter.d/f.conf': FILTER, 'jail.local': '[j]\nenabled = true\nfilter = f\naction = nope\n' },
      /jail\.local:4: jail "j" asks for action "nope", but there is no action\.d\/nope\.conf/,
    );
  });

  it('reports malformed files, interpolation loops and tag loops as ConfigError', () => {
    rejects({ 'jail.local': 'bantime = 1h\n' }, /jail\.local:1: .*before any \[section\]/);
    rejects({ 'jail.local': '[custom]\nbantime = %(a)s\na = %(bantime)s\n' }, /jail\.local:2: .*loop/);
    rejects({ 'fail2ban.local': '[Definition\n' }, /fail2ban\.local:1: /);
    rejects(
      {
        'action.d/loop.conf': '[Definition]\nactionban = <a>\n[Init]\na = x<b>\nb = y<a>\n',
        'jail.local': '[custom]\naction = loop\n',
      },
      /refers to itself/,
    );
    assert.throws(() => loadConfig({ dir: join(root, 'missing') }), /configuration directory does not exist/);
  });

  it('disabled jails are not loaded, even when broken', () => {
    const dir = tree({ 'jail.local': '[broken]\nenabled = no\nmaxretry = x\nfilter = nowhere\n' });
    assert.ok(!loadConfig({ dir }).jails.some((j) => j.name === 'broken'));
  });

  it('warns when enabled is not a yes/no word (Fail2Ban would silently disable the jail)', () => {
    const dir = tree({ 'jail.local': '[typo]\nenabled = ture\n' });
    const c = loadConfig({ dir });
    assert.ok(!c.jails.some((j) => j.name === 'typo'));
    assert.ok(c.warnings.includes(`${dir}/jail.local:2: [typo] enabled: "ture" is not a yes/no value, so the jail stays disabled`));
  });
});

describe('loadFilterDefinition', () => {
  it('loads a filter by name with arguments and extra options', () => {
    const dir = tree({
      'filter.d/common.conf': '[DEFAULT]\n_pre = ^\\S+\n',
      'filter.d/app.conf':
        '[INCLUDES]\nbefore = common.conf\n[Definition]\nfailregex = %(_pre)s <mode> <HOST>\n            %(_pre)s <logtype> <HOST>\nmaxlines = 2\n[Init]\nmode = normal\n',
    });
    const f = loadFilterDefinition('app[mode=aggressive]', { dir, args: { logtype: 'journal' } });
    assert.deepEqual(f.failregex, ['^\\S+ aggressive <HOST>', '^\\S+ journal <HOST>']);
    assert.equal(f.maxlines, 2);
    assert.equal(f.name, 'app');
    assert.equal(f.file, join(dir, 'filter.d/app.conf'));
    assert.equal(f.options.mode, 'aggressive');
    const byPath = loadFilterDefinition(join(dir, 'filter.d/app.conf'), { dir: null });
    assert.deepEqual(byPath.failregex, ['^\\S+ normal <HOST>', '^\\S+ file <HOST>']);
  });

  it('says which filter is unknown', () => {
    assert.throws(() => loadFilterDefinition('nope', { dir: null }), /unknown filter "nope"/);
    assert.throws(() => loadFilterDefinition('bad[x', { dir: null }), /bad filter specification/);
  });

  it('ipv6_subnet / ipv4_subnet: absent by default, read per jail, rejected outside their range with file:line', () => {
    const jail = (body: string) => ({ 'filter.d/f.conf': FILTER, 'jail.local': `[j]\nenabled = true\nfilter = f\n${body}` });
    const j = (body: string) => loadConfig({ dir: tree(jail(body)) }).jails.find((x) => x.name === 'j');
    assert.equal(j('')?.subnets, undefined);
    assert.deepEqual(j('ipv6_subnet = 64\n')?.subnets, { v4: 32, v6: 64 });
    assert.deepEqual(j('ipv4_subnet = 24\n')?.subnets, { v4: 24, v6: 128 });
    rejects(jail('ipv6_subnet = 8\n'), /jail\.local:4.*ipv6_subnet: "8" is not a prefix length from 16 to 128/);
    rejects(jail('ipv4_subnet = x\n'), /ipv4_subnet: "x" is not a prefix length from 8 to 32/);
  });
});
