import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ActionCommands, ActionDefinition } from '../config/model.js';
import { type Address, parseAddress } from './address.js';
import { FirewallError, type FirewallJail } from './firewall.js';
import { buildCommand, ScriptFirewall, UnsafeTagError } from './script.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-script-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const a = (t: string) => parseAddress(t) as Address;
const jail: FirewallJail = { name: 'postfix', ports: [25, 465, 587], protocol: 'tcp', blocktype: 'drop', interface: null };

function action(commands: Partial<ActionCommands>, properties: Record<string, string> = {}): ActionDefinition {
  const empty = { actionstart: '', actionstop: '', actioncheck: '', actionban: '', actionunban: '', actionflush: '', actionreban: '', actionprolong: '' };
  return { name: 'test-action', file: null, args: {}, commands: { ...empty, ...commands }, properties };
}

test('validated values are pasted, config tags resolve through each other', () => {
  const cmd = buildCommand('<cmd> -s <ip> -j <blocktype>', { cmd: 'iptables -I f2b-<name> 1', name: 'postfix', blocktype: 'DROP' }, { ip: '192.0.2.2' });
  assert.deepEqual(cmd, { script: 'iptables -I f2b-postfix 1 -s 192.0.2.2 -j DROP', params: [] });
});

test('a run-time value that could be shell is refused, never pasted', () => {
  for (const evil of ['1.2.3.4; rm -rf /', '$(id)', '`id`', "a'b", 'a b', 'x|y', '<ip>']) {
    assert.throws(() => buildCommand('ban <ip>', {}, { ip: evil }), UnsafeTagError, evil);
  }
});

test('free text from logs becomes a positional parameter, whatever it contains', () => {
  const cmd = buildCommand(`logger "m=<matches>" <F-USER> 'u=<F-USER>'`, {}, {}, { matches: '$(touch x)', 'F-USER': "'; id; '" });
  assert.deepEqual(cmd, { script: `logger "m=\${1}" "\${2}" 'u='"\${2}"''`, params: ['$(touch x)', "'; id; '"] });
});

test('the action runs with the ticket and hostile log text stays text', async () => {
  const out = join(dir, 'ban.txt');
  const pwned = join(dir, 'pwned');
  const fw = new ScriptFirewall(
    action(
      { actionban: `printf '%s|%s|%s|%s|%s|%s\\n' <ip> <name> <family> <failures> "<matches>" '<matches>' >> ${out}` },
      { name: 'from-config-wins' },
    ),
  );
  const hostile = `$(touch ${pwned}) \`touch ${pwned}\` "; touch ${pwned}; "`;
  await fw.ban(jail, [
    { address: a('2001:db8::2'), timeout: 60, ticket: { failures: 3, time: 1700000000, bantime: 60, extra: { matches: hostile } } },
  ]);
  assert.equal(readFileSync(out, 'utf8'), `2001:db8::2|from-config-wins|inet6|3|${hostile}|${hostile}\n`);
  assert.equal(existsSync(pwned), false);
  assert.deepEqual((await fw.list(jail)).map((k) => k.text), ['2001:db8::2']);
});

test('a failing command is retried once, then kept as an error and thrown', async () => {
  const count = join(dir, 'count.txt');
  const fw = new ScriptFirewall(action({ actionban: `echo try >> ${count}; echo "no such chain" >&2; exit 1` }));
  await assert.rejects(fw.ban(jail, [{ address: a('192.0.2.2'), timeout: 60 }]), (e: unknown) => {
    return e instanceof FirewallError && /test-action actionban failed for jail postfix: no such chain/.test(e.message);
  });
  assert.equal(readFileSync(count, 'utf8'), 'try\ntry\n');
  assert.equal(fw.errors.length, 1);
  assert.equal(fw.errors[0]?.message, 'no such chain');
  assert.deepEqual(await fw.list(jail), [], 'a failed ban is not counted as held');
});

test('actioncheck decides check(); stop flushes then stops', async () => {
  const log = join(dir, 'lifecycle.txt');
  const fw = new ScriptFirewall(
    action({
      actionstart: `echo start <name> <port> >> ${log}`,
      actioncheck: 'exit 1',
      actionban: 'true',
      actionflush: `echo flush >> ${log}`,
      actionstop: `echo stop >> ${log}`,
    }),
  );
  await fw.start(jail);
  assert.equal(await fw.check(jail), false);
  await fw.ban(jail, [{ address: a('192.0.2.2'), timeout: 60 }]);
  await fw.stop(jail);
  assert.equal(readFileSync(log, 'utf8'), 'start postfix 25,465,587\nflush\nstop\n');
});

test('property: any log text reaches the command as exactly itself, bare, in "…" or in \'…\'', async () => {
  const { default: fc } = await import('fast-check');
  const { commandRunner } = await import('./runner.js');
  const run = commandRunner();
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary-ascii', maxLength: 40 }).filter((s) => !s.includes('\0')), async (value) => {
      const cmd = buildCommand(`printf '[%s]' <m> "<m>" '<m>'`, {}, {}, { m: value });
      const r = await run(['/bin/sh', '-c', cmd.script, 'sh', ...cmd.params]);
      assert.equal(r.stdout, `[${value}]`.repeat(3));
    }),
    { numRuns: 60 },
  );
});

test("every ticket tag of Fail2Ban's ActionInfo is filled, free text as text", async () => {
  const out = join(dir, 'tags.txt');
  const pwned = join(dir, 'pwned-tags');
  const fw = new ScriptFirewall(
    action({
      actionban: `printf '%s\\n' <ip> <fid> <failures> <time> <bantime> <bancount> <ipfailures> <ipjailfailures> "<F-USER>" "<matches>" '<ipmatches>' <ipjailmatches> "<raw-ticket>" "[<ip-host>]" > ${out}`,
    }),
  );
  const user = `x'; touch ${pwned}; '`;
  const lines = ['line one', `user=<${user}> $(touch ${pwned})`];
  await fw.ban(jail, [
    {
      address: a('192.0.2.7'),
      timeout: 100,
      ticket: { failures: 3, time: 1700000000, bantime: 10800, banCount: 2, matches: lines, fields: { user } },
    },
  ]);
  const joined = lines.join('\n');
  const raw = `BanTicket: ip=192.0.2.7 time=1700000000 bantime=10800 bancount=2 #attempts=3 matches=['line one', 'user=<x\\'; touch ${pwned}; \\'> $(touch ${pwned})']`;
  assert.equal(
    readFileSync(out, 'utf8'),
    ['192.0.2.7', '192.0.2.7', '3', '1700000000', '10800', '2', '3', '3', user, joined, joined, joined, raw, '[]', ''].join('\n'),
  );
  assert.equal(existsSync(pwned), false);
});
