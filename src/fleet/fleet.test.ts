import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BanTicket } from '../jail/bans.js';
import { FleetMemoryStore } from '../store/fleet-store.js';
import { Fleet, type FleetJail } from './fleet.js';
import { type FleetMessage, sign } from './message.js';
import { fleetSettings } from '../config/fleet-settings.js';

const SECRET = 'a-fleet-secret-of-32-characters!';

/** A Fleet that never connects (lazyConnect): handle() is fed stream entries directly. */
function setup(node = 'mx2') {
  const received: Array<{ ticket: BanTicket; origin: string }> = [];
  const unbanned: string[] = [];
  const jail: FleetJail = {
    name: 'custom',
    receive: (ticket, origin) => received.push({ ticket, origin }) > 0,
    receiveUnban: (ip) => unbanned.push(ip) > 0,
  };
  const settings = fleetSettings({ url: 'redis://127.0.0.1:1', secret: SECRET, name: node, jail: '' })!;
  const fleet = new Fleet(settings, { state: new FleetMemoryStore(), now: () => 1_800_000_100, log: () => {}, jail: (n) => (n === 'custom' ? jail : undefined), retention: () => 3600 });
  const entry = (m: FleetMessage, secret = SECRET) => Object.entries(sign(m, secret)).flat();
  return { fleet, received, unbanned, entry };
}

const ban: FleetMessage = { kind: 'ban', origin: 'mx1', jail: 'dovecot', ip: '203.0.113.7', start: 1_800_000_000, end: 1_800_003_600, failures: 5, banCount: 1 };

describe('Fleet receiving', () => {
  it('applies another node\'s ban to the fallback jail when its jail is not here, with its origin', () => {
    const { fleet, received, entry } = setup();
    fleet.handle(entry(ban));
    assert.equal(received.length, 1);
    assert.equal(received[0]!.origin, 'mx1');
    assert.equal(received[0]!.ticket.jail, 'custom');
    assert.equal(received[0]!.ticket.time + received[0]!.ticket.bantime, 1_800_003_600);
    assert.deepEqual([fleet.counters.received, fleet.counters.applied], [1, 1]);
  });

  it('no loops: its own messages are skipped, a message sent twice is applied once', () => {
    const { fleet, received, entry } = setup('mx1');
    fleet.handle(entry(ban));
    assert.equal(received.length, 0, 'own message');
    const other = setup('mx2');
    other.fleet.handle(other.entry(ban));
    other.fleet.handle(other.entry(ban));
    assert.equal(other.received.length, 1, 'duplicate applied once');
  });

  it('drops and counts forged or malformed messages', () => {
    const { fleet, received, entry } = setup();
    fleet.handle(entry(ban, 'not-the-fleet-secret-at-all!!'));
    fleet.handle(['m', JSON.stringify(ban)]);
    fleet.handle(['garbage']);
    assert.equal(received.length, 0);
    assert.equal(fleet.counters.rejected, 3);
  });

  it('applies unbans', () => {
    const { fleet, unbanned, entry } = setup();
    fleet.handle(entry({ kind: 'unban', origin: 'mx3', jail: 'custom', ip: '203.0.113.7', at: 1_800_000_050 }));
    assert.deepEqual(unbanned, ['203.0.113.7']);
  });

  it('queues what it publishes while Redis is away, in the state store', async () => {
    const { fleet } = setup();
    fleet.publishBans([{ ip: '192.0.2.9', jail: 'dovecot', time: 1_800_000_000, bantime: 600, banCount: 1, failures: 3, matches: [] }]);
    fleet.publishUnbans('dovecot', ['192.0.2.10']);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(fleet.status().queued, 2);
    assert.equal(fleet.status().connected, false);
  });

  it('a failing database never throws into the daemon: messages stay queued in memory', async () => {
    const broken = new FleetMemoryStore();
    const fail = () => {
      throw new Error('disk I/O error');
    };
    Object.assign(broken, { queue: fail, position: fail, queuedCount: fail, setPosition: fail });
    const logged: string[] = [];
    const settings = fleetSettings({ url: 'redis://127.0.0.1:1', secret: SECRET, name: 'mx2', jail: '' })!;
    const fleet = new Fleet(settings, { state: broken, now: () => 1_800_000_100, log: (_l, m) => logged.push(m), jail: () => undefined, retention: () => 3600 });
    fleet.publishBans([{ ip: '192.0.2.9', jail: 'dovecot', time: 1_800_000_000, bantime: 600, banCount: 1, failures: 3, matches: [] }]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(fleet.status().queued, 1, 'kept in memory');
    assert.ok(logged.some((m) => m.includes('fleet: database: disk I/O error')));
  });
});
