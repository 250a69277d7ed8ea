// The nftables backend against a scripted `nft`: what it sends, how it batches, how it recovers when
// the kernel is not what it expected. The real kernel is exercised in test/e2e/firewall.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Address, parseAddress } from './address.js';
import type { FirewallJail } from './firewall.js';
import { NftablesFirewall } from './nftables.js';
import type { RunResult } from './runner.js';

const a = (t: string) => parseAddress(t) as Address;
const jail: FirewallJail = { name: 'dovecot', ports: null, protocol: 'tcp', blocktype: 'drop', interface: null };
const ok = (stdout = ''): RunResult => ({ code: 0, stdout, stderr: '' });

function fake(answer: (argv: readonly string[], stdin: string) => RunResult) {
  const calls: Array<{ argv: string; stdin: string }> = [];
  const fw = new NftablesFirewall({
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
  assert.equal(
    calls[0]?.stdin,
    'add element inet f2b-table addr-set-dovecot { 192.0.2.2 timeout 60s }\n' +
      'add element inet f2b-table addr6-set-dovecot { 2001:db8::/64 }\n',
  );
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
    'add element inet f2b-table addr-set-dovecot { 192.0.2.2 timeout 60s }\n',
    'delete element inet f2b-table addr-set-dovecot { 192.0.2.0/28 }\nadd element inet f2b-table addr-set-dovecot { 192.0.2.2 timeout 60s }\n',
  ]);
  assert.equal(fw.errors.length, 0);
});

test('a failure that survives the re-read is kept for status and thrown as one line', async () => {
  const { fw } = fake((argv) => (argv.includes('-j') ? ok('{"nftables":[]}') : { code: 1, stdout: '', stderr: 'Error: No such file or directory\n' }));
  await assert.rejects(fw.ban(jail, [{ address: a('192.0.2.2'), timeout: 60 }]), /firewall ban failed for jail dovecot: Error: No such file or directory/);
  assert.equal(fw.errors.length, 1);
});
