// `portcullis config dump --format fail2ban -c TREE` must print the lines `fail2ban-client -c TREE -d`
// prints (compared sorted): Debian's stock tree, docker-mailserver's jails on top of it (3h/10m/3 and
// 1w/1w/6), and a tree of our own that exercises the dialect's corners.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const STOCK = '/etc/fail2ban';

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => existsSync(join(d, cmd)));
}

const skipReason = !onPath('fail2ban-client')
  ? 'fail2ban-client is not installed'
  : !existsSync(join(STOCK, 'jail.conf'))
    ? `${STOCK}/jail.conf is missing (install Debian's fail2ban)`
    : false;

const work = mkdtempSync(join(tmpdir(), 'portcullis-dump-'));
after(() => rmSync(work, { recursive: true, force: true }));

function write(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  }
}

function stockCopy(name: string, files: Record<string, string> = {}): string {
  const root = join(work, name);
  cpSync(STOCK, root, { recursive: true });
  write(root, files);
  return root;
}

function lines(cmd: string, args: string[]): string[] {
  const run = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, LANG: 'C.UTF-8' } });
  assert.equal(run.status, 0, `${cmd} ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout.split('\n').filter((l) => l !== '');
}

/** Both dumps, sorted; asserts they are identical and returns ours. */
function assertSameDump(tree: string): string[] {
  const ours = lines(process.execPath, [CLI, 'config', 'dump', '--format', 'fail2ban', '-c', tree]);
  const theirs = lines('fail2ban-client', ['-c', tree, '-d']);
  assert.deepEqual([...ours].sort(), [...theirs].sort());
  return ours;
}

/** docker-mailserver's user-jail.local with the given defaults (its fail2ban-jail.cf). */
function dmsJails(root: string, bantime: string, findtime: string, maxretry: number): Record<string, string> {
  const log = join(root, 'mail.log');
  return {
    'mail.log': '',
    'filter.d/custom.conf': '[Definition]\n',
    'jail.d/user-jail.local': `[DEFAULT]
bantime = ${bantime}
findtime = ${findtime}
maxretry = ${maxretry}
banaction = nftables-allports

[dovecot]
enabled = true
logpath = ${log}

[postfix]
enabled = true
mode = extra
logpath = ${log}

[custom]
enabled = true
bantime = 180d
port = smtp,pop3,pop3s,imap,imaps,submission,submissions,sieve
logpath = ${log}
`,
  };
}

describe('config dump --format fail2ban matches fail2ban-client -d', { skip: skipReason }, () => {
  it("(a) Debian's stock /etc/fail2ban", () => {
    const ours = assertSameDump(stockCopy('stock'));
    assert.ok(ours.includes("['start', 'sshd']"));
  });

  it('(b) stock + DMS jails at 3h / 10m / 3', () => {
    const root = join(work, 'dms-3h');
    const ours = assertSameDump(stockCopy('dms-3h', dmsJails(root, '3h', '10m', 3)));
    assert.ok(ours.includes("['set', 'dovecot', 'maxretry', 3]"));
    assert.ok(ours.includes("['set', 'custom', 'bantime', '180d']"));
    assert.ok(ours.includes(`['set', 'postfix', 'addlogpath', '${root}/mail.log', 'head']`));
    assert.ok(ours.some((l) => l.startsWith("['multi-set', 'postfix', 'action', 'nftables-allports'")));
  });

  it('(c) stock + DMS jails at 1w / 1w / 6', () => {
    const root = join(work, 'dms-1w');
    const ours = assertSameDump(stockCopy('dms-1w', dmsJails(root, '1w', '1w', 6)));
    assert.ok(ours.includes("['set', 'postfix', 'findtime', '1w']"));
    assert.ok(ours.includes("['set', 'dovecot', 'maxretry', 6]"));
  });

  it('(d) our tree: [INCLUDES], %(known/x)s, quoted commas in action arguments, [Init?family=inet6]', () => {
    const root = join(work, 'own');
    mkdirSync(root);
    write(root, {
      'web.log': '',
      'fail2ban.conf': '[Definition]\nloglevel = NOTICE\nlogtarget = STDOUT\ndbfile = :memory:\ndbmaxmatches = 5\n',
      'fail2ban.d/10-purge.local': '[Definition]\ndbpurgeage = 2d ; inline comment\n',
      'paths.conf': `[DEFAULT]\nweb_log = ${root}/web.log\n`,
      'jail.conf': `[INCLUDES]
before = paths.conf

[DEFAULT]
bantime = 1h
findtime = 10m
maxretry = 3
port = 0:65535
banaction = fw
action = %(banaction)s[port="%(port)s", comment="a, b; c", family=inet]
         notify[to='root@example.org, admin@example.org']

[web]
enabled = true
filter = web[mode=strict]
port = http,https
logpath = %(web_log)s
	%(web_log)s tail
maxretry = 4
ignoreip = 127.0.0.1/8, ::1
           192.0.2.0/24

[off]
filter = does-not-exist
`,
      'jail.local': `[web]
# the value jail.conf gave, times ten
maxretry = %(known/maxretry)s0
bantime = 2h
`,
      'filter.d/common.conf': '[DEFAULT]\n_daemon = web\n',
      'filter.d/web.conf': `[INCLUDES]
before = common.conf

[Definition]
_prefix = ^\\s*\\S+ %(_daemon)s\\[\\d+\\]:
mode = normal
failregex_normal = %(_prefix)s login failed for <F-USER>\\S+</F-USER> from <HOST>$
failregex_strict = %(failregex_normal)s
                   %(_prefix)s bad request from <HOST>$

failregex = <failregex_<mode>>
ignoreregex = from 10\\.
datepattern = {^LN-BEG}
journalmatch = _SYSTEMD_UNIT=web.service + _COMM=web

[Init]
maxlines = 2
`,
      'filter.d/web.local': `[Definition]
failregex_normal = %(known/failregex_normal)s
                   %(_prefix)s 100%% denied <HOST>$
`,
      'action.d/fw-common.conf': '[Init]\nfw = /usr/sbin/fwtool\n',
      'action.d/fw.conf': `[INCLUDES]
before = fw-common.conf

[Definition]
actionstart = <fw> start <name> ports=<port> "<comment>"
actionstop = <fw> stop <name>
actioncheck = <fw> check <set>
actionban = <fw> add <set> <ip> # <known/fw>
actionunban = <fw> del <set> <ip>

[Init]
set = v4-<name>
comment = none

[Init?family=inet6]
set = v6-<name>
`,
      'action.d/notify.conf': `[Definition]
actionban = printf '%%s %%s\\n' '<to>' <ip>
[Init]
to = root
`,
    });
    const ours = assertSameDump(root);
    assert.ok(ours.includes("['set', 'web', 'maxretry', 40]"));
    assert.ok(ours.includes("['set', 'dbpurgeage', '2d']"));
    assert.ok(ours.some((l) => l.includes("['comment', 'a, b; c']")));
    assert.ok(ours.some((l) => l.includes("['set?family=inet6', 'v6-<name>']")));
    assert.ok(ours.some((l) => l.includes('100% denied')));
  });
});

describe('config dump (no Fail2Ban needed)', () => {
  function run(args: string[]) {
    return spawnSync(process.execPath, [CLI, 'config', 'dump', ...args], { encoding: 'utf8' });
  }

  it('--json prints the typed model of the tree', () => {
    const root = join(work, 'json');
    write(root, { 'jail.d/user-jail.local': '[DEFAULT]\nmaxretry = 6\n' });
    const out = run(['--json', '-c', root]);
    assert.equal(out.status, 0, out.stderr);
    const config = JSON.parse(out.stdout) as { dir: string; jails: Array<{ name: string; maxretry: number }> };
    assert.equal(config.dir, root);
    assert.deepEqual(
      config.jails.map((j) => [j.name, j.maxretry]),
      [
        ['dovecot', 6],
        ['postfix', 6],
        ['custom', 6],
      ],
    );
  });

  it('a malformed file is one line naming file:line, exit code 3, no stack trace', () => {
    const root = join(work, 'malformed');
    write(root, { 'jail.local': '[custom]\nbantime = 1h\nnot an option\n' });
    for (const format of ['json', 'fail2ban']) {
      const out = run(['--format', format, '-c', root]);
      assert.equal(out.status, 3);
      assert.equal(out.stdout, '');
      assert.equal(out.stderr, `portcullis: ${root}/jail.local:3: "not an option" is not an option; write "name = value" (continuation lines must be indented)\n`);
    }
  });

  it('rejects an unknown format', () => {
    const out = run(['--format', 'yaml']);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /unknown format "yaml"/);
  });
});
