import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPolicyServers } from './policy-servers.js';
import { banSource } from './test-bans.js';

const settings = { postfix: null, postfixAction: 'REJECT banned', dovecot: null, dovecotMessage: 'banned' };

describe('openPolicyServers', () => {
  it('opens nothing when both are off', async () => {
    const lines: string[] = [];
    const servers = await openPolicyServers(settings, { log: (_t, level, m) => lines.push(`${level} ${m}`) }, () => []);
    assert.deepEqual(lines, []);
    await servers.close();
  });

  it('logs a port it cannot bind as an ERROR and opens the other server regardless', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'pc-policy-open-'));
    const path = join(dir, 'sub', 'policy.sock');
    const lines: string[] = [];
    try {
      const servers = await openPolicyServers(
        { ...settings, postfix: { path }, dovecot: { host: '127.0.0.1', port } },
        { log: (_t, level, m) => lines.push(`${level} ${m}`) },
        () => [banSource('j', [])],
      );
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(lines[0]!, /^INFO Postfix policy server at unix:.*policy\.sock$/);
      assert.match(lines[1]!, new RegExp(`^ERROR Dovecot policy server cannot listen on inet:127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      assert.equal(statSync(path).mode & 0o777, 0o666, "Postfix's smtpd (user postfix) may connect");
      await servers.close();
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
