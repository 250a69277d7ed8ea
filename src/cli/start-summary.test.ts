import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinDefaultsDir } from '../config/defaults-dir.js';
import { loadConfig } from '../config/load.js';
import { startSummary } from './start-summary.js';

test('on start: the tree read, each jail with its logs and ban action, the warnings, where the log goes', () => {
  const config = loadConfig({ dir: null });
  const lines = startSummary(config, '/opt/portcullis/defaults');
  const missing = '/var/log/mail/mail.log';
  assert.deepEqual(lines.slice(0, 4), [
    'portcullis: configuration: the built-in defaults (/opt/portcullis/defaults); no /etc/fail2ban, and no -c DIR',
    `portcullis: jail dovecot: reads ${missing}; bans with nftables-multiport`,
    `portcullis: jail postfix: reads ${missing}; bans with nftables-multiport`,
    `portcullis: jail custom: reads ${missing}; bans with nftables-multiport`,
  ]);
  assert.equal(lines.at(-1), 'portcullis: log: /var/log/fail2ban.log (--logtarget STDOUT shows it here)');
  assert.equal(lines.length, 5 + config.warnings.length);
  const stdout = startSummary({ ...config, dir: '/etc/fail2ban', server: { ...config.server, logtarget: 'STDOUT' } }, builtinDefaultsDir());
  assert.equal(stdout[0], 'portcullis: configuration: /etc/fail2ban (over the built-in defaults)');
  assert.equal(stdout.at(-1), 'portcullis: log: here (logtarget STDOUT)');
});
