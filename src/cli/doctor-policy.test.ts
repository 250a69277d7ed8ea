// doctor's policy check against the real policy servers, and against addresses where nothing listens.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startDovecotPolicyServer } from '../policy/dovecot-policy.js';
import { startPostfixPolicyServer } from '../policy/postfix-policy.js';
import { policyFindings } from './doctor-policy.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-doctor-policy-'));
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(root, { recursive: true, force: true });
});

test('doctor asks each configured policy server one question in its own protocol', async () => {
  const path = join(root, 'postfix.sock');
  servers.push(await startPostfixPolicyServer({ path }, { bannedBy: () => null, action: 'REJECT banned' }));
  const dovecot = await startDovecotPolicyServer({ host: '127.0.0.1', port: 0 }, { bannedBy: () => null, message: 'banned' });
  servers.push(dovecot);
  const port = (dovecot.address() as AddressInfo).port;
  const findings = await policyFindings({ postfix: { path }, dovecot: { host: '127.0.0.1', port }, postfixAction: 'REJECT banned', dovecotMessage: 'banned' });
  assert.deepEqual(
    findings.map((f) => [f.ok, f.message]),
    [
      [true, `the postfix policy server on unix:${path} answers (action=DUNNO)`],
      [true, `the dovecot policy server on inet:127.0.0.1:${port} answers (status 0)`],
    ],
  );
});

test('a configured policy server that does not answer is a finding with the fix and the fail-open setting', async () => {
  const findings = await policyFindings({
    postfix: { path: join(root, 'absent.sock') },
    dovecot: { host: '127.0.0.1', port: 1 },
    postfixAction: 'REJECT banned',
    dovecotMessage: 'banned',
  });
  assert.equal(findings.length, 2);
  assert.ok(findings.every((f) => !f.ok));
  assert.match(findings[0]!.message, /^the postfix policy server on unix:.*absent\.sock does not answer: .*ENOENT/);
  assert.match(findings[0]!.fix ?? '', /default_action=DUNNO/);
  assert.match(findings[1]!.message, /^the dovecot policy server on inet:127\.0\.0\.1:1 does not answer: .*ECONNREFUSED/);
  assert.match(findings[1]!.fix ?? '', /auth_policy_reject_on_fail = no/);
});

test('no policy server configured: no finding', async () => {
  assert.deepEqual(await policyFindings({ postfix: null, dovecot: null, postfixAction: 'REJECT banned', dovecotMessage: 'banned' }), []);
});
