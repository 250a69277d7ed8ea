import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../config/load.js';
import type { ActionDefinition, JailConfig } from '../config/model.js';
import { ConfigError, UserError } from '../errors.js';
import { type Address, parseAddress } from './address.js';
import { LogFirewall } from './log.js';
import { hasCapNetAdmin } from './probe.js';
import { ScriptFirewall } from './script.js';
import { firewallFor, firewallJail, nativeAction } from './select.js';

function jailConfig(name: string, options: Record<string, string>): JailConfig {
  return { name, options } as unknown as JailConfig;
}

function action(name: string, args: Record<string, string> = {}): ActionDefinition {
  const commands = { actionstart: '', actionstop: '', actioncheck: '', actionban: '', actionunban: '', actionflush: '', actionreban: '', actionprolong: '' };
  return { name, file: null, args, commands, properties: {} };
}

test("docker-mailserver's dovecot jail becomes a multiport drop on its mail ports", () => {
  const jail = jailConfig('dovecot', { port: 'pop3,pop3s,imap,imaps,submission,465,sieve', blocktype: 'drop' });
  assert.deepEqual(firewallJail(jail, action('nftables'), {}), {
    name: 'dovecot',
    ports: [110, 143, 465, 587, 993, 995, 4190],
    protocol: 'tcp',
    blocktype: 'drop',
    interface: null,
  });
});

test('allports actions ignore ports; NETWORK_INTERFACE applies unless the jail names an interface', () => {
  const jail = jailConfig('postfix', { port: 'smtp', blocktype: 'REJECT --reject-with icmp-port-unreachable' });
  const fj = firewallJail(jail, action('nftables-allports'), { NETWORK_INTERFACE: 'tap0' });
  assert.equal(fj.ports, null);
  assert.equal(fj.blocktype, 'reject');
  assert.equal(fj.interface, 'tap0');
  assert.equal(firewallJail(jailConfig('postfix', { interface: 'eth1' }), action('nftables-allports'), { NETWORK_INTERFACE: 'tap0' }).interface, 'eth1');
  assert.equal(firewallJail(jailConfig('p', {}), action('nftables', { blocktype: 'drop' }), {}).blocktype, 'drop', 'action argument');
});

test('bad names, ports, protocols and interfaces are one clear error', () => {
  assert.throws(() => firewallJail(jailConfig('a b', {}), action('nftables'), {}), UserError);
  assert.throws(() => firewallJail(jailConfig('x', { port: 'nosuch' }), action('nftables'), {}), ConfigError);
  assert.throws(() => firewallJail(jailConfig('x', { protocol: 'sctp' }), action('nftables'), {}), /protocol 'sctp'/);
  assert.throws(() => firewallJail(jailConfig('x', {}), action('nftables'), { NETWORK_INTERFACE: 'eth0; reboot' }), UserError);
});

test('native names map to backends; anything else runs as an action.d script', () => {
  assert.deepEqual(nativeAction('iptables-ipset-proto6-allports'), { backend: 'iptables-ipset', allports: true });
  assert.equal(nativeAction('sendmail-whois'), null);
  assert.ok(firewallFor(action('log')) instanceof LogFirewall);
  assert.ok(firewallFor(action('sendmail-whois')) instanceof ScriptFirewall);
});

test('the log backend records and lists without touching the kernel', async () => {
  const lines: string[] = [];
  const fw = new LogFirewall((l) => lines.push(l), () => 0);
  const jail = { name: 'custom', ports: null, protocol: 'tcp', blocktype: 'drop', interface: null } as const;
  await fw.start(jail);
  await fw.ban(jail, [{ address: parseAddress('192.0.2.0/24') as Address, timeout: 60 }]);
  assert.deepEqual(await fw.list(jail), [{ text: '192.0.2.0/24', expires: 60 }]);
  await fw.unban(jail, [parseAddress('192.0.2.0/24') as Address]);
  assert.deepEqual(await fw.list(jail), []);
  assert.equal(lines[1], '[custom] ban 192.0.2.0/24 (dry run, firewall untouched)');
});

test('CAP_NET_ADMIN is read from the effective capability mask', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-cap-'));
  try {
    writeFileSync(join(dir, 'with'), 'Name:\tnode\nCapEff:\t000001fffeffffff\n');
    writeFileSync(join(dir, 'without'), 'Name:\tnode\nCapEff:\t000001fffeffefff\n');
    assert.equal(hasCapNetAdmin(join(dir, 'with')), true);
    assert.equal(hasCapNetAdmin(join(dir, 'without')), false);
    assert.equal(hasCapNetAdmin(join(dir, 'missing')), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("nftables.conf reads action.d/nftables-common.local (docker-mailserver's FAIL2BAN_BLOCKTYPE); reject otherwise", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-common-'));
  try {
    writeFileSync(join(dir, 'jail.local'), '[dovecot]\nenabled = true\nlogpath = /dev/null\n');
    const dovecot = () => {
      const jail = loadConfig({ dir }).jails.find((j) => j.name === 'dovecot') as JailConfig;
      return firewallJail(jail, jail.actions[0], {});
    };
    assert.equal(dovecot().blocktype, 'reject', "Fail2Ban's default");
    assert.equal(dovecot().elementTimeouts, undefined, "docker-mailserver's sets: no element timeouts");
    mkdirSync(join(dir, 'action.d'));
    writeFileSync(join(dir, 'action.d', 'nftables-common.local'), '[Init]\nblocktype = drop\nelement_timeouts = true\n');
    assert.equal(dovecot().blocktype, 'drop');
    assert.equal(dovecot().elementTimeouts, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('element_timeouts as an action argument', () => {
  const j = jailConfig('p', {});
  assert.equal(firewallJail(j, action('nftables-multiport', { element_timeouts: 'true' }), {}).elementTimeouts, true);
  assert.equal(firewallJail(j, action('nftables-multiport', { element_timeouts: 'false' }), {}).elementTimeouts, undefined);
});
