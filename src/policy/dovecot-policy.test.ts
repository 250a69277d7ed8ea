import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BanLookup } from './ban-lookup.js';
import { dovecotAnswer, MAX_BODY_BYTES, startDovecotPolicyServer } from './dovecot-policy.js';
import { banSource } from './test-bans.js';

const lookup = new BanLookup(() => [banSource('dovecot', ['198.51.100.10', '203.0.113.0/24'])]);
const options = { bannedBy: (a: string) => lookup.bannedBy(a), message: 'banned' };
const body = (remote: unknown) => JSON.stringify({ login: 'user@portcullis.test', pwhash: 'abcd', remote, device_id: '', protocol: 'imap' });

describe('dovecotAnswer', () => {
  it('refuses a banned remote on command=allow, allows everything else', () => {
    assert.deepEqual(dovecotAnswer('allow', body('198.51.100.10'), options), { status: -1, msg: 'banned' });
    assert.deepEqual(dovecotAnswer('allow', body('203.0.113.9'), options), { status: -1, msg: 'banned' });
    assert.deepEqual(dovecotAnswer('allow', body('198.51.100.20'), options), { status: 0, msg: '' });
    assert.deepEqual(dovecotAnswer('report', body('198.51.100.10'), options), { status: 0, msg: '' }, 'reports are not verdicts');
  });

  it('allows on malformed requests', () => {
    for (const text of ['', '{', 'null', '[]', '"198.51.100.10"', body(42), body(null), JSON.stringify({ login: 'x' }), '\u0000\u00ff']) {
      assert.deepEqual(dovecotAnswer('allow', text, options), { status: 0, msg: '' }, text);
    }
    assert.deepEqual(dovecotAnswer(null, body('198.51.100.10'), options), { status: 0, msg: '' }, 'no command');
  });
});

describe('Dovecot policy server over HTTP', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = (await startDovecotPolicyServer({ host: '127.0.0.1', port: 0 }, options)) as Server;
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('answers Dovecot\'s POST ?command=allow with JSON, reusing the connection', async () => {
    for (const [remote, status] of [
      ['198.51.100.10', -1],
      ['198.51.100.20', 0],
      ['198.51.100.10', -1],
    ] as const) {
      const res = await fetch(`${base}/?command=allow`, { method: 'POST', body: body(remote), headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.equal(((await res.json()) as { status: number }).status, status);
    }
    const report = await fetch(`${base}/?command=report`, { method: 'POST', body: JSON.stringify({ remote: '198.51.100.10', success: false }) });
    assert.deepEqual(await report.json(), { status: 0, msg: '' });
  });

  it('handles garbage without dying: wrong method, broken JSON, oversized body', async () => {
    assert.equal((await fetch(`${base}/?command=allow`)).status, 405);
    const broken = await fetch(`${base}/?command=allow`, { method: 'POST', body: '{"remote": "198.51.100.10"' });
    assert.deepEqual(await broken.json(), { status: 0, msg: '' });
    const huge = await fetch(`${base}/?command=allow`, { method: 'POST', body: 'x'.repeat(MAX_BODY_BYTES + 1) }).then(
      (r) => r.status,
      () => 'reset',
    );
    assert.ok(huge === 413 || huge === 'reset', String(huge));
    const after = await fetch(`${base}/?command=allow`, { method: 'POST', body: body('198.51.100.10') });
    assert.deepEqual(await after.json(), { status: -1, msg: 'banned' }, 'still serving');
  });
});
