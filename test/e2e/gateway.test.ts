// Issue 15 end to end, with the real daemon in a server namespace and real nftables:
// - every failure comes from the namespace's default gateway (Docker's userland proxy in miniature):
//   nothing is banned, one WARNING says the real client address is lost, and `status` and `doctor`
//   report it; a manual ban of the gateway needs --force;
// - ipv6_subnet = 64: three addresses of one /64 fail, the /64 is banned in nftables, a fourth address
//   of it is dropped, and unbanning any address inside lifts it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { cli, cliPath, sleep, startDaemon, waitFor } from './daemon-process.js';
import { dovecotFailure, jailStatus, mailSetup } from './mail-log.js';
import { IMAP, namespaceSuite } from './namespace-suite.js';
import { inNamespace, netnsUnavailable, tryConnect } from './netns.js';

const skip = netnsUnavailable(['nft']) ?? false;

function ipIn(ns: string, ...args: string[]): void {
  const r = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${r.stderr}`);
}

function nftRuleset(ns: string): string {
  return spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset'], { encoding: 'utf8' }).stdout;
}

describe('gateway and subnet bans in a network namespace', { skip, concurrency: false, timeout: 120_000 }, () => {
  const suite = namespaceSuite('gw');
  const { running, trees } = suite;

  it('failures for many users from the default gateway: no ban, one WARNING, status and doctor report it', async () => {
    // The attacker namespace's address becomes the server's default gateway.
    ipIn(suite.pair.server, 'route', 'add', 'default', 'via', suite.pair.attackerV4);
    const { dirs, mailLog } = mailSetup();
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { prefix: inNamespace(suite.pair.server) });
    running.push(daemon);
    const gateway = suite.pair.attackerV4;
    for (let i = 0; i < 8; i++) appendFileSync(mailLog, dovecotFailure(gateway, undefined, `user${i}@example.com`));
    const warning = await waitFor('the WARNING', () =>
      daemon.log().split('\n').find((l) => l.includes('WARNING') && l.includes('real client address lost')),
    );
    assert.match(warning, new RegExp(`\\[dovecot\\] .*${gateway.replaceAll('.', '\\.')} \\(a gateway of this host\\)`));
    assert.match(warning, /"userland-proxy": false.*IPv6 NAT.*PROXY protocol/);
    await waitFor('the ignored ticket', () => daemon.log().includes(`Ignore ${gateway}: a gateway of this host is never banned automatically`));
    await sleep(300);
    assert.equal(daemon.log().split('\n').filter((l) => l.includes('real client address lost')).length, 1, 'logged once');
    const status = await jailStatus(dirs, 'dovecot');
    assert.deepEqual(status.bannedIps, []);
    assert.ok(status.problems?.some((p) => p.includes('real client address lost') && p.includes(gateway)), String(status.problems));
    assert.doesNotMatch(nftRuleset(suite.pair.server), new RegExp(gateway.replaceAll('.', '\\.')));
    assert.equal(await tryConnect(suite.pair.attacker, suite.pair.serverV4, IMAP), 'connected', 'the gateway still reaches the server');

    const text = cli(dirs, ['status', 'dovecot']);
    assert.match(text.stdout, /Problems:\n.*real client address lost/);
    const doctor = spawnSync(process.execPath, [cliPath, 'doctor', '-c', dirs.config, '-s', dirs.socket], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(doctor.status, 1, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, new RegExp(`^FIX  client-address: \\[dovecot\\] .*real client address lost.*${gateway.replaceAll('.', '\\.')}.*; set "userland-proxy": false`, 'm'));
    assert.match(doctor.stdout, /^ok {3}socket: the server answers/m);
    const json = JSON.parse(spawnSync(process.execPath, [cliPath, 'doctor', '--json', '-c', dirs.config, '-s', dirs.socket], { encoding: 'utf8' }).stdout);
    assert.equal(json.ok, false);
    assert.ok(json.findings.some((f: { check: string; ok: boolean }) => f.check === 'client-address' && !f.ok));

    // A manual ban of the gateway is refused without --force and made with it.
    const refused = cli(dirs, ['ban', 'dovecot', gateway]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /is a gateway of this host .*--force/);
    const forced = cli(dirs, ['ban', '--force', 'dovecot', gateway]);
    assert.equal(forced.status, 0, forced.stderr);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, [gateway]);
    // Leave the namespace's kernel as found: the next daemon would take this ban over from it.
    assert.equal(cli(dirs, ['unban', gateway]).status, 0);
    ipIn(suite.pair.server, 'route', 'del', 'default');
  });

  it('ipv6_subnet = 64: three addresses of a /64 ban the /64 in nftables; a fourth is dropped; unban of any inside lifts it', async () => {
    // The attacker holds a /64 of its own behind it, routed by the server through the attacker's link.
    const net = '2001:db8:1::';
    for (const host of ['a', 'b', 'c', 'd']) ipIn(suite.pair.attacker, 'addr', 'add', `${net}${host}/128`, 'dev', 'va', 'nodad');
    ipIn(suite.pair.server, '-6', 'route', 'add', `${net}/64`, 'via', suite.pair.attackerV6);
    // The fourth address is the one that connects.
    ipIn(suite.pair.attacker, '-6', 'route', 'replace', `${suite.pair.serverV6}/128`, 'dev', 'va', 'src', `${net}d`);
    const { dirs, mailLog } = mailSetup({}, 'ipv6_subnet = 64\nblocktype = drop\n');
    trees.push(dirs);
    const daemon = await startDaemon(dirs, { prefix: inNamespace(suite.pair.server) });
    running.push(daemon);
    assert.equal(await tryConnect(suite.pair.attacker, suite.pair.serverV6, IMAP), 'connected', 'before the ban');

    for (const host of ['a', 'b', 'c']) appendFileSync(mailLog, dovecotFailure(`${net}${host}`));
    await waitFor('the /64 ban', async () => (await jailStatus(dirs, 'dovecot')).bannedIps.includes(`${net}/64`), 10_000);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, [`${net}/64`]);
    await waitFor('the /64 in nftables', () => nftRuleset(suite.pair.server).includes(`${net}/64`), 5000);
    assert.match(cli(dirs, ['banned']).stdout, /2001:db8:1::\/64/);
    assert.equal(await tryConnect(suite.pair.attacker, suite.pair.serverV6, IMAP, 800), 'timeout', 'the fourth address is dropped');

    const unban = cli(dirs, ['unban', `${net}d`]);
    assert.equal(unban.status, 0, unban.stderr);
    assert.deepEqual((await jailStatus(dirs, 'dovecot')).bannedIps, []);
    await waitFor('the /64 gone from nftables', () => !nftRuleset(suite.pair.server).includes(`${net}/64`), 5000);
    assert.equal(await tryConnect(suite.pair.attacker, suite.pair.serverV6, IMAP), 'connected', 'after the unban');
  });
});
