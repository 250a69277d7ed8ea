// The fleet link against a real redis-server, without daemons: the stream is trimmed by age (the longest
// bantime) on every write, and what is published while Redis is down waits in the outbox and arrives,
// once, when it is back.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Fleet, type FleetJail } from '../../src/fleet/fleet.js';
import { fleetSettings } from '../../src/config/fleet-settings.js';
import type { BanTicket } from '../../src/jail/bans.js';
import { FleetMemoryStore } from '../../src/store/fleet-store.js';
import { sleep, waitFor } from './daemon-process.js';
import { type RedisProcess, startRedis } from './redis-process.js';

const SECRET = 'stream-test-secret-0123456789abcdef';

describe('fleet link on a real Redis', { concurrency: false, timeout: 60_000 }, () => {
  let redis: RedisProcess;
  const fleets: Fleet[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const f of fleets) await f.stop();
    await redis?.stop();
  });

  const node = (name: string, retention: number, got: string[] = []) => {
    const jail: FleetJail = { name: 'dovecot', receive: (t) => got.push(t.ip) > 0, receiveUnban: () => true };
    const settings = fleetSettings({ url: redis.url, secret: SECRET, name, jail: '' })!;
    const fleet = new Fleet(settings, { state: new FleetMemoryStore(), now: () => Date.now() / 1000, log: () => {}, jail: () => jail, retention: () => retention });
    fleets.push(fleet);
    fleet.start();
    return fleet;
  };
  const ticket = (ip: string): BanTicket => ({ ip, jail: 'dovecot', time: Date.now() / 1000, bantime: 1, banCount: 1, failures: 3, matches: [] });

  it('trims entries older than the longest bantime on each write', async () => {
    const a = node('trimA', 1);
    await waitFor('connected', () => a.status().connected);
    a.publishBans([ticket('192.0.2.1'), ticket('192.0.2.2')]);
    await waitFor('sent', () => a.status().sent === 2);
    assert.equal(await redis.client().xlen('portcullis:fleet'), 2);
    await sleep(1200);
    a.publishBans([ticket('192.0.2.3')]);
    await waitFor('sent', () => a.status().sent === 3);
    assert.equal(await redis.client().xlen('portcullis:fleet'), 1, 'the two older than 1 s are gone');
  });

  it('queues while Redis is down and delivers each message once when it is back', async () => {
    const got: string[] = [];
    const a = node('downA', 3600);
    node('downB', 3600, got);
    await waitFor('connected', () => a.status().connected);
    await redis.kill();
    await waitFor('A sees Redis gone', () => !a.status().connected);
    a.publishBans([ticket('198.51.100.1'), ticket('198.51.100.2')]);
    await waitFor('queued', () => a.status().queued === 2);
    await redis.restart();
    await waitFor('both delivered to B', () => got.includes('198.51.100.1') && got.includes('198.51.100.2'), 10_000);
    await sleep(300);
    assert.deepEqual(got.filter((ip) => ip.startsWith('198.51.100.')).sort(), ['198.51.100.1', '198.51.100.2']);
    assert.equal(a.status().queued, 0);
  });

  it('connects as an ACL user limited to what the README lists, and not with a wrong password', async () => {
    const acl = await startRedis(['--user', 'fleet', 'on', '>fleetpw', '~portcullis:*', '+xadd', '+xread', '+xrange', '+xtrim', '+ping', '+info', '+auth', '+hello', '+select']);
    const open = (password: string, name: string, got: string[] = []) => {
      const jail: FleetJail = { name: 'dovecot', receive: (t) => got.push(t.ip) > 0, receiveUnban: () => true };
      const settings = fleetSettings({ url: `${acl.url}?user=fleet&password=${password}`, secret: SECRET, name, jail: '' })!;
      return new Fleet(settings, { state: new FleetMemoryStore(), now: () => Date.now() / 1000, log: () => {}, jail: () => jail, retention: () => 3600 });
    };
    const got: string[] = [];
    const a = open('fleetpw', 'aclA');
    const b = open('fleetpw', 'aclB', got);
    const wrong = open('nope', 'aclC');
    try {
      for (const f of [a, b, wrong]) f.start();
      await waitFor('connected', () => a.status().connected && b.status().connected);
      a.publishBans([ticket('192.0.2.77')]);
      await waitFor('received through the ACL user', () => got.includes('192.0.2.77'));
      await waitFor('lag checked', () => b.status().behind === 0);
      assert.equal(wrong.status().connected, false, 'a wrong password does not connect');
    } finally {
      for (const f of [a, b, wrong]) await f.stop();
      await acl.stop();
    }
  });

  it('speaks TLS (rediss://), checking the server certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const port = String(20_000 + (process.pid % 20_000));
    const tls = await startRedis(['--tls-port', port, '--tls-cert-file', cert, '--tls-key-file', key, '--tls-auth-clients', 'no']);
    // In a child: the CA must be known to Node before TLS starts (NODE_EXTRA_CA_CERTS, as an admin would).
    const script = `
      const { Fleet } = await import(${JSON.stringify(new URL('../../src/fleet/fleet.js', import.meta.url).href)});
      const { fleetSettings } = await import(${JSON.stringify(new URL('../../src/config/fleet-settings.js', import.meta.url).href)});
      const { FleetMemoryStore } = await import(${JSON.stringify(new URL('../../src/store/fleet-store.js', import.meta.url).href)});
      const got = [];
      const jail = { name: 'dovecot', receive: (t) => got.push(t.ip) > 0, receiveUnban: () => true };
      const open = (name) => new Fleet(fleetSettings({ url: 'rediss://localhost:${port}', secret: '${SECRET}', name, jail: '' }),
        { state: new FleetMemoryStore(), now: () => Date.now() / 1000, log: (l, m) => console.error(m), jail: () => jail, retention: () => 3600 });
      const a = open('tlsA'); const b = open('tlsB'); a.start(); b.start();
      const deadline = Date.now() + 8000;
      while (!a.status().connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      a.publishBans([{ ip: '192.0.2.88', jail: 'dovecot', time: Date.now() / 1000, bantime: 60, banCount: 1, failures: 3, matches: [] }]);
      while (!got.includes('192.0.2.88') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      console.log(got.join(','));
      await a.stop(); await b.stop();`;
    const run = (ca: string | undefined) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NODE_EXTRA_CA_CERTS: ca ?? '' } });
    try {
      const trusted = run(cert);
      assert.equal(trusted.stdout.trim(), '192.0.2.88', trusted.stderr);
      const untrusted = run(undefined);
      assert.equal(untrusted.stdout.trim(), '', 'an unknown certificate is refused');
      assert.match(untrusted.stderr, /certificate/i);
    } finally {
      await tls.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
