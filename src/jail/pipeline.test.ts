import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FilterDefinition, JailConfig } from '../config/model.js';
import { filterDefinition } from '../filter/test-definition.js';
import { Filter } from '../filter/filter.js';
import { Jail } from './jail.js';
import { LOST_CLIENT_USERS, LostClientWatch } from './lost-client.js';
import { JailPipeline, PipelineOutput } from './pipeline.js';

const def = filterDefinition({ failregex: ['auth failed from <HOST>$'] });

function pipeline(over: Partial<JailConfig> = {}, options = {}) {
  const config: JailConfig = {
    name: 'mail', enabled: true, backend: 'auto', filter: def, actions: [], logpaths: [], logencoding: 'utf-8',
    bantime: 100, findtime: 600, maxretry: 2, maxmatches: 0, ignoreip: ['192.168.0.0/16'], ignoreself: false,
    ignorecommand: '', usedns: 'no', options: {},
    increment: { enabled: false, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false },
    ...over,
  };
  return new JailPipeline(new Jail(config), new Filter(def), options);
}

const t0 = Date.UTC(2025, 2, 1) / 1000;
const at = (t: number, ip: string) => `${new Date(t * 1000).toISOString().replace('.000Z', 'Z')} host mail: auth failed from ${ip}`;

test('found lists counted failures only; a ban is committed at once; an ended ban is lifted before counting', () => {
  const p = pipeline({}, { reportFound: true });
  const out = new PipelineOutput();
  p.line(at(t0, '192.168.1.1'), t0, out);
  p.line(at(t0, '192.0.2.1'), t0, out);
  p.line('no failure here', t0, out);
  p.line(at(t0 + 1, '192.0.2.1'), t0 + 1, out);
  assert.deepEqual(out.found, [{ ip: '192.0.2.1', time: t0 }, { ip: '192.0.2.1', time: t0 + 1 }], 'the ignored address is not "found"');
  assert.deepEqual(out.commits.map((c) => [c.kind, c.ticket.ip, c.ticket.time]), [['ban', '192.0.2.1', t0 + 1]]);
  out.clear();
  assert.ok(out.empty);
  p.line(at(t0 + 200, '192.0.2.1'), t0 + 200, out);
  assert.deepEqual(out.lifted.map((t) => t.ip), ['192.0.2.1']);
});

test('with an ignorecommand, tickets wait in due; the log clock follows the latest failure', () => {
  const p = pipeline({ ignorecommand: 'true' }, { deferBans: true });
  const out = new PipelineOutput();
  let clock = 0;
  clock = p.line(at(t0, '192.0.2.2'), clock, out, t0, undefined, true);
  clock = p.line(at(t0 + 5, '192.0.2.2'), clock, out, t0, undefined, true);
  assert.equal(clock, t0 + 5);
  assert.deepEqual(out.due.map((t) => t.ip), ['192.0.2.2']);
  assert.deepEqual(out.commits, []);
  assert.equal(p.jail.bans.size, 0);
});

test('a gateway of the host is never banned automatically, ignoreself or not; many users from it are reported once', () => {
  const userDef: FilterDefinition = { ...def, failregex: ['auth failed for <F-USER>\\S+</F-USER> from <HOST>$'] };
  const config: JailConfig = {
    name: 'mail', enabled: true, backend: 'auto', filter: userDef, actions: [], logpaths: [], logencoding: 'utf-8',
    bantime: 100, findtime: 600, maxretry: 2, maxmatches: 0, ignoreip: [], ignoreself: false,
    ignorecommand: '', usedns: 'no', options: {},
    increment: { enabled: false, factor: 1, formula: null, multipliers: [], maxtime: 0, rndtime: 0, overalljails: false },
  };
  const gateway = '172.18.0.1';
  const p = new JailPipeline(new Jail(config), new Filter(userDef), {
    isGateway: (ip: string) => ip === gateway,
    lostClient: new LostClientWatch(600, (ip) => ip === gateway),
  });
  const out = new PipelineOutput();
  const line = (t: number, user: string, ip: string) =>
    `${new Date(t * 1000).toISOString().replace('.000Z', 'Z')} host mail: auth failed for ${user} from ${ip}`;
  for (let i = 0; i < 8; i++) p.line(line(t0 + i, `user${i}`, gateway), t0 + i, out);
  assert.equal(out.commits.length, 0, 'the gateway is not banned');
  assert.ok(out.ignoredGateway.length >= 1 && out.ignoredGateway.every((ip) => ip === gateway));
  assert.deepEqual(out.lostClient, [{ ip: gateway, users: LOST_CLIENT_USERS }], 'reported once, at the threshold');
  out.clear();
  // An ordinary address trying many names is banned as usual and is not a lost client.
  for (let i = 0; i < 8; i++) p.line(line(t0 + 10, `name${i}`, '192.0.2.7'), t0 + 10, out);
  assert.deepEqual(out.commits.map((c) => c.ticket.ip), ['192.0.2.7']);
  assert.deepEqual(out.lostClient, []);
});
