import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExitCode, UserError } from '../errors.js';
import { CAP_MESSAGE, hasCapNetAdmin, nftIntervalProblem, probeFirewall } from './probe.js';
import type { Runner } from './runner.js';

const answering =
  (code: number, stderr: string): Runner =>
  async () => ({ code, stdout: '', stderr });

const skip = hasCapNetAdmin() === false ? 'this process lacks CAP_NET_ADMIN (probe stops before the runner)' : false;

test('a kernel without nftables interval/timeout sets names the iptables fallback', { skip }, async () => {
  await assert.rejects(probeFirewall('nftables', answering(1, 'Error: Could not process rule: Operation not supported\n')), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.exitCode, ExitCode.environment);
    assert.match(e.message, /lacks nftables sets .*Operation not supported.*banaction = iptables-multiport/);
    return true;
  });
});

test('permission errors from the tools become the CAP_NET_ADMIN line; a missing tool says so', { skip }, async () => {
  await assert.rejects(probeFirewall('nftables', answering(1, 'netlink: Error: cache initialization failed: Operation not permitted\n')), {
    message: CAP_MESSAGE,
  });
  await assert.rejects(probeFirewall('iptables', answering(4, 'Permission denied (you must be root)\n')), { message: CAP_MESSAGE });
  await assert.rejects(probeFirewall('nftables', answering(127, 'nft: spawn nft ENOENT')), /nft command is not installed/);
  await probeFirewall('log', answering(1, 'never run'));
});

test('an nft that hangs and is killed is reported as a timeout (exit 1), not as a kernel without sets', { skip }, async () => {
  const killed = answering(124, 'nft did not finish within 30 s and was killed');
  await assert.rejects(probeFirewall('nftables', killed), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.exitCode, ExitCode.failure);
    assert.equal(
      e.message,
      'cannot check the firewall: nft did not finish within 30 s and was killed; another process may hold the netlink or xtables lock, or the tool is stuck',
    );
    assert.doesNotMatch(e.message, /lacks/);
    return true;
  });
});

test('a kernel that refuses interval sets but has hash sets (DMS issue 3897) makes nftables fall back, with the reason', { skip }, async () => {
  const scripts: string[] = [];
  const nas: Runner = async (_argv, stdin = '') => {
    scripts.push(stdin);
    if (!stdin.includes('flags interval')) return { code: 0, stdout: '', stderr: '' };
    const stderr = '/dev/stdin:2:1-69: Error: Could not process rule: Operation not supported\nadd set inet f2b-probe v4 { type ipv4_addr; flags interval, timeout; }\n^^^^\n';
    return { code: 1, stdout: '', stderr };
  };
  assert.deepEqual(await probeFirewall('nftables', nas), { sets: 'hash', reason: 'Error: Could not process rule: Operation not supported' });
  assert.equal(scripts.length, 2);
  assert.doesNotMatch(scripts[1] ?? '', /flags/, 'the second probe asks for plain hash sets');
  const problem = await nftIntervalProblem(nas);
  assert.equal(problem?.fallback, true);
  assert.match(problem?.message ?? '', /refuses nftables interval sets \(Error: Could not process rule: Operation not supported\): using plain hash sets instead; .*subnet bans .* cannot be enforced/);
  assert.deepEqual(await probeFirewall('nftables', answering(0, '')), { sets: 'interval' });
});
