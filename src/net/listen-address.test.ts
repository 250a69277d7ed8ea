import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatListenAddress, parseListenAddress } from './listen-address.js';

test('a port alone listens on loopback; off, none and empty disable', () => {
  assert.deepEqual(parseListenAddress('9191'), { host: '127.0.0.1', port: 9191 });
  for (const off of ['', ' ', 'off', 'None', 'false', 'no', '0']) assert.equal(parseListenAddress(off), null, off);
});

test('explicit addresses, IPv6 in brackets, localhost', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:9191'), { host: '127.0.0.1', port: 9191 });
  assert.deepEqual(parseListenAddress('[::1]:9191'), { host: '::1', port: 9191 });
  assert.deepEqual(parseListenAddress('localhost:80'), { host: '127.0.0.1', port: 80 });
  assert.deepEqual(parseListenAddress('0.0.0.0:9191'), { host: '0.0.0.0', port: 9191 });
  assert.deepEqual(parseListenAddress('[2001:DB8::1]:1'), { host: '2001:db8::1', port: 1 });
  assert.equal(formatListenAddress({ host: '::1', port: 9191 }), '[::1]:9191');
  assert.equal(formatListenAddress({ host: '127.0.0.1', port: 9191 }), '127.0.0.1:9191');
});

test('refuses what it would have to guess', () => {
  assert.throws(() => parseListenAddress(':9191'), /has no address; write 127\.0\.0\.1:9191/);
  assert.throws(() => parseListenAddress('example.com:9191'), /'example\.com' in 'example\.com:9191' is not an IP address/);
  assert.throws(() => parseListenAddress('127.0.0.1:70000'), /port 70000 .* out of range 1-65535/);
  assert.throws(() => parseListenAddress('::1:9191'), /is not HOST:PORT/);
  assert.throws(() => parseListenAddress('127.0.0.1'), /is not HOST:PORT/);
});
