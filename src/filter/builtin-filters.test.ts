// The built-in filters against their data files (sshguard style): testdata/<filter>.attacks.txt lists
// lines that must match and the address they must yield (and, written as "user=<name> " after the
// address, the user it must name), <filter>.not-attacks.txt lines that must not.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadFilterDefinition } from '../config/filter-def.js';
import { Filter } from './filter.js';

const NOW = Date.UTC(2024, 10, 25, 12) / 1000;
const dataDir = new URL('./testdata/', import.meta.url);

interface Entry {
  mode: string | null;
  line: string;
  ip: string | null;
  user?: string;
  lineNo: number;
}

function readData(file: string, withIp: boolean): Entry[] {
  const out: Entry[] = [];
  let mode: string | null = null;
  const lines = readFileSync(new URL(file, dataDir), 'utf8').split('\n');
  lines.forEach((raw, i) => {
    const m = /^# mode: (\S+)/.exec(raw);
    if (m) mode = m[1] as string;
    if (raw.trim() === '' || raw.startsWith('#')) return;
    if (withIp) {
      const sp = raw.indexOf(' ');
      let rest = raw.slice(sp + 1);
      let user: string | undefined;
      if (rest.startsWith('user=<')) {
        const end = rest.indexOf('> ');
        user = rest.slice(6, end);
        rest = rest.slice(end + 2);
      }
      out.push({ mode, ip: raw.slice(0, sp), ...(user === undefined ? {} : { user }), line: rest, lineNo: i + 1 });
    } else out.push({ mode, ip: null, line: raw, lineNo: i + 1 });
  });
  return out;
}

const filters = new Map<string, Filter>();
function filterFor(name: string, mode: string | null): Filter {
  const key = `${name}/${mode}`;
  let f = filters.get(key);
  if (!f) {
    f = new Filter(loadFilterDefinition(name, { dir: null, args: mode ? { mode } : {} }));
    filters.set(key, f);
  }
  return f;
}

for (const name of ['dovecot', 'postfix', 'sshd']) {
  test(`built-in ${name}: every attack line yields its address`, () => {
    const entries = readData(`${name}.attacks.txt`, true);
    assert.ok(entries.length >= 10);
    for (const e of entries) {
      const found = filterFor(name, e.mode).processLine(e.line, NOW);
      assert.equal(found.length, 1, `${name}.attacks.txt:${e.lineNo} should match once: ${e.line}`);
      assert.equal(found[0]?.ip, e.ip, `${name}.attacks.txt:${e.lineNo}`);
      if (e.user !== undefined) assert.equal(found[0]?.fields.user, e.user, `${name}.attacks.txt:${e.lineNo} user`);
    }
  });
  test(`built-in ${name}: no non-attack line matches`, () => {
    const entries = readData(`${name}.not-attacks.txt`, false);
    assert.ok(entries.length >= 5);
    for (const e of entries) {
      const found = filterFor(name, e.mode).processLine(e.line, NOW);
      assert.deepEqual(found, [], `${name}.not-attacks.txt:${e.lineNo} must not match: ${e.line}`);
    }
  });
}

test('built-in postfix-sasl counts SASL failures only', () => {
  const f = new Filter(loadFilterDefinition('postfix-sasl', { dir: null }));
  const sasl = 'Nov 24 10:00:00 mail postfix/smtpd[1]: warning: unknown[1.2.3.4]: SASL LOGIN authentication failed: x';
  const relay =
    'Nov 24 10:00:00 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[1.2.3.4]: 554 5.7.1 <x@y>: Relay access denied; from=<a@b> to=<x@y>';
  assert.equal(f.processLine(sasl, NOW)[0]?.ip, '1.2.3.4');
  assert.deepEqual(f.processLine(relay, NOW), []);
});

test('100 KB hostile lines against the built-in filters are handled in well under a second', () => {
  const user = 'a,'.repeat(25_000);
  const lines = [
    `Nov 24 10:00:00 mail dovecot: imap-login: Disconnected: ${'x('.repeat(25_000)} (auth failed, 1 attempts): user=<${user}>, rip=1.2.3.4`,
    `Nov 24 10:00:00 mail dovecot: auth: passwd-file(${user}${'1.2.3.4,'.repeat(5_000)}): Password mismatch ${'(x) '.repeat(5_000)}!`,
    `Nov 24 10:00:00 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from ${'a'.repeat(100_000)}[1.2.3.4]: 554 5.7.1 <x>: x`,
    `Nov 24 10:00:00 mail postfix/smtpd[1]: disconnect from unknown[1.2.3.4]${' a=1'.repeat(25_000)} auth=1/1`,
  ];
  for (const [name, mode] of [
    ['dovecot', 'aggressive'],
    ['postfix', 'aggressive'],
  ] as const) {
    const f = filterFor(name, mode);
    for (const line of lines) {
      const start = process.hrtime.bigint();
      f.processLine(line, NOW);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      assert.ok(ms < 250, `${name}: ${ms} ms for a ${line.length}-character line`);
    }
  }
});

test('built-in sshd: a user name never supplies the address, in any mode', () => {
  // Every line sshd writes with a user name, the user replaced by names that carry a victim.
  const templates = [
    'Failed password for U from 1.2.3.4 port 5 ssh2',
    'Failed password for invalid user U from 1.2.3.4 port 5 ssh2',
    'Failed publickey for U from 1.2.3.4 port 5 ssh2: RSA SHA256:abc',
    'Failed keyboard-interactive/pam for invalid user U from 1.2.3.4 port 5 ssh2',
    'Invalid user U from 1.2.3.4 port 5',
    'User U from 1.2.3.4 not allowed because listed in DenyUsers',
    'Authentication failure for U from 1.2.3.4',
    'error: maximum authentication attempts exceeded for U from 1.2.3.4 port 5 ssh2 [preauth]',
    'Connection closed by invalid user U 1.2.3.4 port 5 [preauth]',
    'Connection closed by authenticating user U 1.2.3.4 port 5 [preauth]',
    'Disconnected from invalid user U 1.2.3.4 port 5 [preauth]',
    'Disconnected from authenticating user U 1.2.3.4 port 5',
    'Disconnecting invalid user U 1.2.3.4 port 5: Change of username or service not allowed: (U,ssh-connection) -> (v,ssh-connection) [preauth]',
    'Disconnecting authenticating user U 1.2.3.4 port 5: Change of username or service not allowed: (U,ssh-connection) -> (U,ssh-connection) [preauth]',
  ];
  const users = [
    'x from 6.6.6.6',
    'x from 6.6.6.6:',
    'x from 6.6.6.6 port 22',
    'x from 6.6.6.6 port 22 ssh2',
    'x from 6.6.6.6 port 22 ssh2:',
    'x from 6.6.6.6 port 22 ssh2: RSA SHA256:abc',
    'x from 6.6.6.6 on',
    'x 6.6.6.6',
    'x 6.6.6.6 port 22',
    'x 6.6.6.6 on',
    'x 6.6.6.6 port 22 [preauth]',
    'x from 6.6.6.6 not allowed because listed in DenyUsers',
    'x 6.6.6.6 port 22: Change of username or service not allowed: (x,y) -> (z',
    'x 6.6.6.6 port 22: Change of username or service not allowed:',
  ];
  let matched = 0;
  for (const mode of ['normal', 'ddos', 'extra', 'aggressive']) {
    const f = filterFor('sshd', mode);
    let pid = 1000;
    for (const t of templates)
      for (const u of users) {
        const line = `Nov 24 10:00:00 host sshd[${pid++}]: ${t.replaceAll('U', u)}`;
        for (const found of f.processLine(line, NOW)) {
          assert.equal(found.ip, '1.2.3.4', `${mode}: ${line}`);
          matched++;
        }
      }
  }
  assert.ok(matched > 100, `only ${matched} of the injected lines matched at all`);
});
