import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ControlError, canonicalAddress, parseRequest } from './control-protocol.js';

describe('parseRequest', () => {
  it('turns any JSON value into a request or a ControlError, nothing else', () => {
    const cmd = fc.constantFrom('ping', 'status', 'ban', 'unban', 'get', 'set-loglevel', 'reload', 'x');
    const value = fc.oneof(fc.jsonValue(), fc.record({ cmd, jail: fc.jsonValue(), ips: fc.jsonValue(), key: fc.string() }));
    fc.assert(
      fc.property(value, (msg) => {
        try {
          const req = parseRequest(msg);
          assert.equal(typeof req.cmd, 'string');
        } catch (err) {
          assert.ok(err instanceof ControlError, String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts well-formed requests and canonicalises their addresses', () => {
    assert.deepEqual(parseRequest({ cmd: 'ban', jail: 'sshd', ips: ['192.0.2.1', '2001:DB8::0:1', '10.9.8.7/8'] }), {
      cmd: 'ban',
      jail: 'sshd',
      ips: ['192.0.2.1', '2001:db8::1', '10.0.0.0/8'],
    });
    assert.deepEqual(parseRequest({ cmd: 'ban', jail: 'sshd', ips: ['172.18.0.1'], force: true }), {
      cmd: 'ban',
      jail: 'sshd',
      ips: ['172.18.0.1'],
      force: true,
    });
    assert.equal('force' in parseRequest({ cmd: 'ban', jail: 'sshd', ips: ['172.18.0.1'], force: 'yes' }), false, 'only true forces');
    assert.deepEqual(parseRequest({ cmd: 'unban', ips: 'all' }), { cmd: 'unban', ips: 'all' });
    assert.deepEqual(parseRequest({ cmd: 'get', jail: 'a', key: 'bantime' }), { cmd: 'get', jail: 'a', key: 'bantime' });
  });

  it('rejects what is not an address', () => {
    for (const bad of ['', ' 1.2.3.4', '1.2.3.4 ', '01.2.3.4', '1.2.3.4/33', '::1/129', 'fe80::1%eth0', '$(reboot)', 'localhost']) {
      assert.throws(() => canonicalAddress(bad), (e: unknown) => e instanceof ControlError && e.code === 'invalid-ip', bad);
    }
  });
});
