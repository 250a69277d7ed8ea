import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from './load.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-fleet-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

function load(local: string) {
  const dir = mkdtempSync(join(root, 'c-'));
  writeFileSync(join(dir, 'fail2ban.local'), `[Definition]\n${local}\n`);
  return loadConfig({ dir }).server;
}

describe('fleet settings in fail2ban.local', () => {
  it('off without `fleet`: the server settings carry nothing of it', () => {
    assert.equal('fleet' in load('loglevel = INFO'), false);
  });

  it('on with a URL and a secret; the fallback jail defaults to custom', () => {
    const s = load('fleet = unix:///run/redis/redis.sock?user=fleet&password=pw\nfleetsecret = 0123456789abcdef0123\nfleetname = mx1');
    assert.equal(s.fleet?.redis.path, '/run/redis/redis.sock');
    assert.equal(s.fleet?.node, 'mx1');
    assert.equal(s.fleet?.fallbackJail, 'custom');
  });

  it('says which option is wrong, with file:line where there is one', () => {
    assert.throws(() => load('fleet = http://x\nfleetsecret = 0123456789abcdef0123'), /fail2ban\.local:2: fleet: unsupported scheme/);
    assert.throws(() => load('fleet = redis://x'), /fleetsecret: must be set, 16 characters or more/);
    assert.throws(() => load('fleet = redis://x\nfleetsecret = 0123456789abcdef0123\nfleetname = a b'), /fail2ban\.local:4: fleetname:/);
  });
});
