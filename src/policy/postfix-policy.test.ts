import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BanLookup } from './ban-lookup.js';
import { MAX_REQUEST_BYTES, PolicyRequestReader, policyAction, startPostfixPolicyServer } from './postfix-policy.js';
import { banSource } from './test-bans.js';

const lookup = new BanLookup(() => [banSource('postfix-sasl', ['198.51.100.10', '2001:db8:1::/64'])]);
const options = { bannedBy: (a: string) => lookup.bannedBy(a), action: 'REJECT 5.7.1 banned' };

const request = (client: string | null) =>
  `request=smtpd_access_policy\nprotocol_state=CONNECT\nprotocol_name=SMTP\n${client === null ? '' : `client_address=${client}\n`}client_name=unknown\nsasl_username=\n\n`;

describe('policyAction', () => {
  it('rejects a banned client, DUNNO for others and for requests without a client address', () => {
    assert.equal(policyAction(new Map([['client_address', '198.51.100.10']]), options), 'REJECT 5.7.1 banned');
    assert.equal(policyAction(new Map([['client_address', '2001:db8:1::99']]), options), 'REJECT 5.7.1 banned');
    assert.equal(policyAction(new Map([['client_address', '198.51.100.20']]), options), 'DUNNO');
    assert.equal(policyAction(new Map([['client_address', '']]), options), 'DUNNO');
    assert.equal(policyAction(new Map([['client_address', 'not-an-ip']]), options), 'DUNNO');
    assert.equal(policyAction(new Map(), options), 'DUNNO');
  });
});

describe('PolicyRequestReader', () => {
  it('splits requests across arbitrary chunk boundaries and accepts CRLF', () => {
    const reader = new PolicyRequestReader();
    const text = `${request('198.51.100.10')}a=1\r\nclient_address=192.0.2.1\r\n\r\n`;
    const got: Map<string, string>[] = [];
    for (const ch of text) got.push(...(reader.push(ch) ?? assert.fail('rejected')));
    assert.equal(got.length, 2);
    assert.equal(got[0]!.get('client_address'), '198.51.100.10');
    assert.equal(got[0]!.get('sasl_username'), '');
    assert.equal(got[1]!.get('client_address'), '192.0.2.1');
  });

  it('gives up on binary data, lines without =, and oversized requests', () => {
    assert.equal(new PolicyRequestReader().push('client_address=1.2.3.4\0\n'), null);
    assert.equal(new PolicyRequestReader().push('GET / HTTP/1.1\n'), null);
    assert.equal(new PolicyRequestReader().push('=value\n'), null);
    assert.equal(new PolicyRequestReader().push(`x=${'a'.repeat(MAX_REQUEST_BYTES)}`), null, 'one endless line');
    const many = new PolicyRequestReader();
    let result: unknown = [];
    for (let i = 0; i < 10_000 && result !== null; i++) result = many.push(`name${i}=${'v'.repeat(20)}\n`);
    assert.equal(result, null, 'endless attributes');
  });
});

describe('Postfix policy server on a unix socket', () => {
  let dir: string;
  let server: Server;
  let path: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pc-policy-'));
    path = join(dir, 'policy.sock');
    server = await startPostfixPolicyServer({ path }, options);
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `text` on one connection; resolves with everything received until the server closes or `replies` answers arrive. */
  function exchange(text: string | Buffer, replies: number): Promise<{ data: string; closed: boolean }> {
    return new Promise((resolve, reject) => {
      const socket: Socket = connect(path);
      let data = '';
      const finish = (closed: boolean) => {
        socket.destroy();
        resolve({ data, closed });
      };
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        data += d;
        if (data.split('\n\n').length - 1 >= replies) finish(false);
      });
      socket.on('close', () => finish(true));
      socket.on('error', reject);
      socket.write(text);
    });
  }

  it('answers several requests on one connection, in order', async () => {
    const { data } = await exchange(request('198.51.100.10') + request('198.51.100.20') + request(null), 3);
    assert.equal(data, 'action=REJECT 5.7.1 banned\n\naction=DUNNO\n\naction=DUNNO\n\n');
  });

  it('closes a connection that sends binary or oversized data, and keeps serving others', async () => {
    const binary = await exchange(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0a, 0x00, 0x0a]), 1);
    assert.deepEqual(binary, { data: '', closed: true });
    const huge = await exchange(`client_address=${'9'.repeat(MAX_REQUEST_BYTES + 10)}`, 1);
    assert.deepEqual(huge, { data: '', closed: true });
    const { data } = await exchange(request('2001:db8:1::5'), 1);
    assert.equal(data, 'action=REJECT 5.7.1 banned\n\n');
  });
});
