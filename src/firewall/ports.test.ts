import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../errors.js';
import { parseServices, resolvePorts } from './ports.js';

test("docker-mailserver's jail ports resolve without /etc/services", () => {
  const none = '/nonexistent/services';
  assert.deepEqual(resolvePorts('pop3,pop3s,imap,imaps,submission,465,sieve', none), [110, 143, 465, 587, 993, 995, 4190]);
  assert.deepEqual(resolvePorts('smtp,465,submission', none), [25, 465, 587]);
});

test('ranges expand; the full range and "all" mean every port', () => {
  assert.deepEqual(resolvePorts('8000:8003'), [8000, 8001, 8002, 8003]);
  assert.equal(resolvePorts('0:65535'), null);
  assert.equal(resolvePorts('all'), null);
  assert.equal(resolvePorts(''), null);
});

test('unknown names and bad numbers are one clear error', () => {
  assert.throws(() => resolvePorts('smtp,nosuchservice', '/nonexistent'), (e: unknown) => e instanceof UserError && /nosuchservice/.test(e.message));
  assert.throws(() => resolvePorts('70000'), UserError);
  assert.throws(() => resolvePorts('10:5'), UserError);
});

test('/etc/services lines and aliases are read', () => {
  const map = parseServices('# comment\nssh\t\t22/tcp\nsubmissions\t465/tcp ssmtp smtps # x\n');
  assert.equal(map.get('ssh'), 22);
  assert.equal(map.get('ssmtp'), 465);
});
