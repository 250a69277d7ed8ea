import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { copyConfigVolume, type DmsPaths, stateVolumeDbFile } from './config-volume.js';

function layout(): DmsPaths {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-dms-'));
  const paths = {
    configVolume: join(root, 'tmp-dms'),
    fail2banDir: join(root, 'etc-fail2ban'),
    stateDir: join(root, 'mail-state', 'lib-fail2ban'),
  };
  mkdirSync(paths.configVolume, { recursive: true });
  mkdirSync(paths.fail2banDir, { recursive: true });
  return paths;
}

test('both config-volume files are copied to fail2ban.local and jail.d/user-jail.local', () => {
  const paths = layout();
  writeFileSync(join(paths.configVolume, 'fail2ban-jail.cf'), '[DEFAULT]\nbantime = 1w\n');
  writeFileSync(join(paths.configVolume, 'fail2ban-fail2ban.cf'), '[Definition]\ndbpurgeage = 30d\n');
  const written = copyConfigVolume(paths);
  assert.deepEqual(written, [
    join(paths.fail2banDir, 'fail2ban.local'),
    join(paths.fail2banDir, 'jail.d', 'user-jail.local'),
  ]);
  assert.equal(readFileSync(join(paths.fail2banDir, 'jail.d', 'user-jail.local'), 'utf8'), '[DEFAULT]\nbantime = 1w\n');
  assert.equal(readFileSync(join(paths.fail2banDir, 'fail2ban.local'), 'utf8'), '[Definition]\ndbpurgeage = 30d\n');
});

test('a missing config-volume file is skipped and overwrites nothing', () => {
  const paths = layout();
  writeFileSync(join(paths.fail2banDir, 'fail2ban.local'), 'kept\n');
  assert.deepEqual(copyConfigVolume(paths), []);
  assert.equal(readFileSync(join(paths.fail2banDir, 'fail2ban.local'), 'utf8'), 'kept\n');
});

test('the database moves to the state volume only when its folder exists', () => {
  const paths = layout();
  assert.equal(stateVolumeDbFile(paths), null);
  mkdirSync(paths.stateDir, { recursive: true });
  assert.equal(stateVolumeDbFile(paths), join(paths.stateDir, 'fail2ban.sqlite3'));
});
