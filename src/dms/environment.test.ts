import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../errors.js';
import { readDmsEnvironment } from './environment.js';

test('ENABLE_FAIL2BAN defaults to off, as in docker-mailserver', () => {
  assert.equal(readDmsEnvironment({}).enabled, false);
  assert.equal(readDmsEnvironment({ ENABLE_FAIL2BAN: '1' }).enabled, true);
  assert.equal(readDmsEnvironment({ ENABLE_FAIL2BAN: '0' }).enabled, false);
});

test('ENABLE_FAIL2BAN other than 0 or 1 is an error naming the value', () => {
  assert.throws(() => readDmsEnvironment({ ENABLE_FAIL2BAN: 'yes' }), (err: unknown) => {
    return err instanceof UserError && err.message.includes("'yes'");
  });
});

test('FAIL2BAN_BLOCKTYPE: exactly "reject" rejects, anything else drops', () => {
  assert.equal(readDmsEnvironment({}).blocktype, 'drop');
  assert.equal(readDmsEnvironment({ FAIL2BAN_BLOCKTYPE: 'reject' }).blocktype, 'reject');
  assert.equal(readDmsEnvironment({ FAIL2BAN_BLOCKTYPE: 'REJECT' }).blocktype, 'drop');
  assert.equal(readDmsEnvironment({ FAIL2BAN_BLOCKTYPE: 'drop' }).blocktype, 'drop');
});

test('NETWORK_INTERFACE is taken as given and validated before it can reach a rule', () => {
  assert.equal(readDmsEnvironment({}).networkInterface, null);
  assert.equal(readDmsEnvironment({ NETWORK_INTERFACE: 'tap0' }).networkInterface, 'tap0');
  assert.throws(() => readDmsEnvironment({ NETWORK_INTERFACE: 'eth0; nft flush ruleset' }), UserError);
  assert.throws(() => readDmsEnvironment({ NETWORK_INTERFACE: 'averyveryverylongname0' }), UserError);
});
