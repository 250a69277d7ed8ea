// The nftables backend against a scripted `nft`: what it sends, how it batches, how it recovers when
// the kernel is not what it expected. The real kernel is exercised in test/e2e/firewall.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Address, parseAddress } from './address.js';
import { FirewallError, type FirewallJail } from './firewall.js';
import { NftablesFirewall } from './nftables.js';
import type { RunResult } from './runner.js';

const a = (t: string) => parseAddress(t) as Address;
const jail: FirewallJail = { name: 'dovecot', ports: null, protocol: 'tcp', blocktype: 'drop', interface: null };
const ok = (stdout = ''): RunResult => ({ code: 0, stdout, stderr: '' });

function fake(answer: (argv: readonly string[], stdin: string) => RunResult, setType: 'interval' | 'hash' = 'interval') {
  const calls: Array<{ argv: string; stdin: string }> = [];
  const fw = new NftablesFirewall({
    setType,
    now: () => 1_000_000,
    runner: async (argv, stdin = '') => {
      calls.push({ argv: argv.join(' '), stdin });
      return answer(argv, stdin);
    },
  });
  return { fw, calls };
}

test('bans that arrive while nft runs are written together in the next batch', async () => {
  const { fw, calls } = fake(() => ok());
  await Promise.all([
    fw.ban(jail, [{ address: a('192.0.2.1'), timeout: 60 }]),
    fw.ban(jail, [{ address: a('192.0.2.2'), timeout: 60 }]),
    fw.unban(jail, [a('192.0.2.1')]),
    fw.ban(jail, [{ address: a('2001:db8::/64'), timeout: null }]),
  ]);
  assert.equal(calls.length, 1);
  // DMS's sets: no element timeouts; the first IPv6 ban creates the IPv6 set and rule in the same batch.
  assert.equal(
    calls[0]?.stdin,
    'add set inet f2b-table addr6-set-dovecot { type ipv6_addr; flags interval; }\n' +
      'add rule inet f2b-table f2b-chain meta l4proto { tcp } ip6 saddr @addr6-set-dovecot counter\n' +
      'add rule inet f2b-table f2b-chain meta l4proto { tcp } ip6 saddr @addr6-set-dovecot drop\n' +
      'add element inet f2b-table addr-set-dovecot { 192.0.2.2 }\n' +
      'add element inet f2b-table addr6-set-dovecot { 2001:db8::/64 }\n',
  );
});

test('with element_timeouts on, elements carry the time left; one beyond what nft accepts goes in without', async () => {
  const { fw, calls } = fake(() => ok());
  const timed: FirewallJail = { ...jail, elementTimeouts: true };
  await fw.ban(timed, [
    { address: a('192.0.2.1'), timeout: 60 },
    { address: a('192.0.2.2'), timeout: 4 * 365 * 86400 },
    { address: a('192.0.2.3'), timeout: null },
  ]);
  assert.equal(calls[0]?.stdin, 'add element inet f2b-table addr-set-dovecot { 192.0.2.1 timeout 60s, 192.0.2.2, 192.0.2.3 }\n');
});

test('when nft refuses a batch, the kernel is read and the difference written instead', async () => {
  const kernel = JSON.stringify({
    nftables: [{ set: { elem: [{ prefix: { addr: '192.0.2.0', len: 28 } }, { elem: { val: '198.51.100.9', timeout: 600, expires: 500 } }] } }],
  });
  let scripts = 0;
  const { fw, calls } = fake((argv) => {
    if (argv.includes('-j')) return ok(argv.includes('addr-set-dovecot') ? kernel : '{"nftables":[{"set":{}}]}');
    scripts++;
    return scripts === 1 ? { code: 1, stdout: '', stderr: 'Error: interval overlaps with an existing one\n' } : ok();
  });
  // The /28 was banned by an earlier run: this process does not know it.
  await fw.ban(jail, [{ address: a('192.0.2.2'), timeout: 60 }]);
  await fw.unban(jail, [a('192.0.2.0/28')]);
  const written = calls.filter((c) => c.argv === 'nft -f -').map((c) => c.stdin);
  // The first write fails; the kernel's /28 already covers 192.0.2.2, so nothing more is written then.
  assert.deepEqual(written, [
    'add element inet f2b-table addr-set-dovecot { 192.0.2.2 }\n',
    'delete element inet f2b-table addr-set-dovecot { 192.0.2.0/28 }\nadd element inet f2b-table addr-set-dovecot { 192.0.2.2 }\n',
  ]);
  assert.equal(fw.errors.length, 0);
});

test('a failure that survives the re-read is kept for status and thrown as one line', async () => {
  const { fw } = fake((argv) => (argv.includes('-j') ? ok('{"nftables":[]}') : { code: 1, stdout: '', stderr: 'Error: No such file or directory\n' }));
  await assert.rejects(fw.ban(jail, [{ address: a('192.0.2.2'), timeout: 60 }]), /firewall ban failed for jail dovecot: Error: No such file or directory/);
  assert.equal(fw.errors.length, 1);
});

test('a refused element does not keep the rest of its batch out: the batch is split until it is alone', async () => {
  const { fw, calls } = fake((argv, stdin) => {
    if (argv.includes('-j')) return ok('{"nftables":[]}');
    return stdin.includes('198.51.100.66') ? { code: 1, stdout: '', stderr: 'Error: Could not process rule: No buffer space available\n' } : ok();
  });
  const entries = ['192.0.2.1', '192.0.2.2', '198.51.100.66', '192.0.2.4', '192.0.2.5'].map((t) => ({ address: a(t), timeout: null }));
  await assert.rejects(fw.ban(jail, entries), (err: unknown) => {
    assert.deepEqual((err as { addresses: string[] }).addresses, ['198.51.100.66']);
    assert.match((err as Error).message, /firewall ban failed for jail dovecot: Error: Could not process rule/);
    return true;
  });
  const written = calls.filter((c) => c.argv === 'nft -f -' && !c.stdin.includes('198.51.100.66')).map((c) => c.stdin).join('');
  for (const t of ['192.0.2.1', '192.0.2.2', '192.0.2.4', '192.0.2.5']) assert.ok(written.includes(t), `${t} was written on its own`);
});

test("an urgent ban goes ahead of other jails' queued batches, never ahead of its own jail's", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const order: string[] = [];
  const fw = new NftablesFirewall({
    runner: async (_argv, stdin = '') => {
      order.push(stdin.trim());
      if (order.length === 1) await gate;
      return ok();
    },
  });
  const other: FirewallJail = { ...jail, name: 'postfix' };
  const running = fw.ban(other, [{ address: a('10.0.0.1'), timeout: null }]);
  await new Promise((r) => setImmediate(r));
  const bulk = fw.ban(other, [{ address: a('10.0.0.2'), timeout: null }]);
  const manual = fw.ban(jail, [{ address: a('192.0.2.9'), timeout: null }], { urgent: true });
  release();
  await Promise.all([running, bulk, manual]);
  assert.deepEqual(order, [
    'add element inet f2b-table addr-set-postfix { 10.0.0.1 }',
    'add element inet f2b-table addr-set-dovecot { 192.0.2.9 }',
    'add element inet f2b-table addr-set-postfix { 10.0.0.2 }',
  ]);
});

test('adopt keeps kernel elements the wanted bans lack and returns them; reconcile removes them', async () => {
  const kernel = JSON.stringify({ nftables: [{ set: { elem: ['203.0.113.5', '192.0.2.1'] } }] });
  const { fw, calls } = fake((argv) => (argv.includes('-j') ? ok(kernel) : ok()));
  const adoption = await fw.adopt(jail, [{ address: a('192.0.2.1'), timeout: null }, { address: a('192.0.2.7'), timeout: null }]);
  assert.deepEqual(adoption, { found: [{ text: '203.0.113.5', expires: null }] });
  assert.deepEqual(calls.filter((c) => c.argv === 'nft -f -').map((c) => c.stdin), ['add element inet f2b-table addr-set-dovecot { 192.0.2.7 }\n']);
  calls.length = 0;
  await fw.reconcile(jail, [{ address: a('192.0.2.1'), timeout: null }]);
  assert.match(calls.filter((c) => c.argv === 'nft -f -').map((c) => c.stdin).join(''), /delete element inet f2b-table addr-set-dovecot \{ 203\.0\.113\.5 \}/);
});

test('audit puts back lost elements and reports an accept rule placed before the jail\'s rule', async () => {
  const ruleset = [
    'table inet f2b-table { # handle 9',
    '\tset addr-set-dovecot { # handle 2',
    '\t\ttype ipv4_addr',
    '\t\tflags interval',
    '\t}',
    '\tchain f2b-chain { # handle 1',
    '\t\ttype filter hook input priority filter - 1; policy accept;',
    '\t\tip saddr 192.0.2.1 accept # handle 7',
    '\t\tmeta l4proto { tcp } ip saddr @addr-set-dovecot drop # handle 3',
    '\t}',
    '}',
  ].join('\n');
  const { fw, calls } = fake((argv) => {
    if (argv.includes('ruleset')) return ok(ruleset);
    if (argv.includes('-j')) return ok('{"nftables":[{"set":{}}]}');
    return ok();
  });
  await fw.ban(jail, [{ address: a('192.0.2.1'), timeout: null }]);
  calls.length = 0;
  const result = await fw.audit(jail, [{ address: a('192.0.2.1'), timeout: null }]);
  assert.equal(result.restored, 1);
  assert.deepEqual(result.bypass, [
    'rule "ip saddr 192.0.2.1 accept" (handle 7) in f2b-table f2b-chain comes before this jail\'s rule and lets banned addresses in',
  ]);
  assert.deepEqual(calls.filter((c) => c.argv === 'nft -f -').map((c) => c.stdin), ['add element inet f2b-table addr-set-dovecot { 192.0.2.1 }\n']);
  assert.ok(fw.errors.some((e) => e.operation === 'check' && /lets banned addresses in/.test(e.message)));
  assert.ok(fw.errors.some((e) => /1 ban\(s\) were missing from the kernel/.test(e.message)));
});

test('plain hash sets: single addresses go in, a subnet ban is refused with the kernel limit and noted, never sent to nft', async () => {
  const { fw, calls } = fake((argv) => (argv.includes('ruleset') ? ok('table inet f2b-table {\n}\n') : ok()), 'hash');
  await fw.start(jail);
  assert.equal(fw.setKind('dovecot'), 'hash');
  assert.match(calls.at(-1)?.stdin ?? '', /add set inet f2b-table addr-set-dovecot \{ type ipv4_addr; \}\n/);
  calls.length = 0;
  await assert.rejects(
    fw.ban(jail, [
      { address: a('192.0.2.1'), timeout: 60 },
      { address: a('198.51.100.0/24'), timeout: 60 },
    ]),
    (e: unknown) => {
      assert.ok(e instanceof FirewallError);
      assert.deepEqual(e.addresses, ['198.51.100.0/24']);
      assert.match(e.message, /firewall ban failed for jail dovecot: cannot enforce the subnet ban\(s\) 198\.51\.100\.0\/24: this kernel lacks nftables interval sets/);
      return true;
    },
  );
  assert.deepEqual(calls.map((c) => c.stdin), ['add element inet f2b-table addr-set-dovecot { 192.0.2.1 }\n'], 'the single address still goes in');
  assert.match(fw.errors.at(-1)?.message ?? '', /plain hash sets used instead hold single addresses only/);
  // Unbanning the subnet sends nothing (a hash set never held it); reconcile writes the rest and notes it.
  calls.length = 0;
  await fw.unban(jail, [a('198.51.100.0/24')]);
  assert.equal(calls.length, 0);
  const kernel = JSON.stringify({ nftables: [{ set: { elem: [] } }] });
  const r = fake((argv) => (argv.includes('-j') ? ok(kernel) : ok()), 'hash');
  await r.fw.reconcile(jail, [
    { address: a('192.0.2.7'), timeout: null },
    { address: a('2001:db8::/64'), timeout: null },
  ]);
  assert.equal(r.calls.at(-1)?.stdin, 'add element inet f2b-table addr-set-dovecot { 192.0.2.7 }\n');
  assert.match(r.fw.errors.at(-1)?.message ?? '', /2001:db8::\/64/);
});

test('a set left by an earlier run with other flags (interval where the kernel now needs hash) is made anew, subnets not carried', async () => {
  const table = 'table inet f2b-table {\n\tset addr-set-dovecot {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n}\n';
  const kernel = JSON.stringify({ nftables: [{ set: { elem: ['192.0.2.5', { prefix: { addr: '10.0.0.0', len: 8 } }] } }] });
  const { fw, calls } = fake((argv) => (argv.includes('ruleset') ? ok(table) : argv.includes('-j') ? ok(kernel) : ok()), 'hash');
  await fw.start(jail);
  const script = calls.at(-1)?.stdin ?? '';
  assert.match(script, /delete set inet f2b-table addr-set-dovecot\nadd set inet f2b-table addr-set-dovecot \{ type ipv4_addr; \}/);
  assert.match(script, /add element inet f2b-table addr-set-dovecot \{ 192\.0\.2\.5 \}\n$/);
  // And a hash set from a fallback run, on a kernel that has interval sets again, becomes an interval set.
  const hashTable = table.replace('\t\tflags interval\n', '');
  const back = fake((argv) => (argv.includes('ruleset') ? ok(hashTable) : argv.includes('-j') ? ok(kernel) : ok()));
  await back.fw.start(jail);
  assert.match(back.calls.at(-1)?.stdin ?? '', /delete set inet f2b-table addr-set-dovecot\nadd set inet f2b-table addr-set-dovecot \{ type ipv4_addr; flags interval; \}/);
});

test('change notifications only where the netlink path reaches the kernel nft writes to', () => {
  const runner = async () => ok();
  const never = () => assert.fail('no notification expected');
  // A runner aimed elsewhere (ip netns exec …) without its namespace: our socket would watch the wrong kernel.
  assert.equal(new NftablesFirewall({ runner }).watchChanges(never), false);
  assert.equal(new NftablesFirewall({ netlink: false }).watchChanges(never), false, 'PORTCULLIS_NETLINK=off');
  assert.equal(new NftablesFirewall({ watch: false }).watchChanges(never), false, 'PORTCULLIS_NFT_EVENTS=off');
});
