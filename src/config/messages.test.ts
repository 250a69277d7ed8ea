// What a new admin's first mistakes produce: each warning or error as one exact line naming file:line.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { loadConfig } from './load.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-msg-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function tree(files: Record<string, string>): string {
  const dir = join(root, String(n++));
  mkdirSync(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

function error(files: Record<string, string>): { message: string; exitCode: number } {
  const dir = tree(files);
  try {
    loadConfig({ dir });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return { message: err.message.replace(`${dir}/`, ''), exitCode: err.exitCode };
  }
  assert.fail('loadConfig should have thrown');
}

describe('configuration messages', () => {
  it('warns about a misspelt jail option, naming the nearest known one', () => {
    const log = join(root, 'exists.log');
    writeFileSync(log, '');
    const dir = tree({ 'jail.local': `[sshd]\nenabled = true\nbantim = 1h\nlogpath = ${log}\nmyvariable = 1\n` });
    const c = loadConfig({ dir });
    const mine = c.warnings.filter((w) => w.includes('[sshd]'));
    assert.deepEqual(mine, [`${dir}/jail.local:3: [sshd] unknown option "bantim"; did you mean "bantime"?`]);
  });

  it('warns about a jail without logpath and a logpath that does not exist yet', () => {
    const dir = tree({
      'jail.local': '[sshd]\nenabled = true\nlogpath =\n\n[dovecot]\nenabled = true\nlogpath = /nonexistent/mail.log\n',
    });
    const c = loadConfig({ dir });
    assert.ok(
      c.warnings.includes(`${dir}/jail.local:2: [sshd] has no logpath, so it watches nothing; add "logpath = /path/to/log"`),
      c.warnings.join('\n'),
    );
    assert.ok(
      c.warnings.includes(
        `${dir}/jail.local:7: [dovecot] logpath /nonexistent/mail.log does not exist yet; the jail starts reading it when it appears`,
      ),
      c.warnings.join('\n'),
    );
  });

  it('an unclosed section header says so', () => {
    assert.deepEqual(error({ 'jail.local': '[dovecot\nenabled = true\n' }), {
      message: 'jail.local:1: section header "[dovecot" has no closing "]"; write "[dovecot]"',
      exitCode: 3,
    });
    assert.deepEqual(error({ 'jail.local': '[DEFAULT]\nbantime = 1h\n[dovecot\nenabled = true\n' }), {
      message: 'jail.local:3: section header "[dovecot" has no closing "]"; write "[dovecot]"',
      exitCode: 3,
    });
  });

  it('a missing ban action blames the line that names it, not the built-in action = %(action_)s', () => {
    const missing = 'asks for action "nosuchaction", but there is no action.d/nosuchaction.conf';
    const inDefault = error({ 'jail.local': '[DEFAULT]\nbanaction = nosuchaction\n' });
    assert.equal(inDefault.exitCode, 3);
    assert.match(inDefault.message, new RegExp(`^jail\\.local:2: jail "dovecot" ${missing}`));
    const inJail = error({ 'jail.local': '[dovecot]\nbanaction = nosuchaction\n' });
    assert.match(inJail.message, new RegExp(`^jail\\.local:2: jail "dovecot" ${missing}`));
  });
});
