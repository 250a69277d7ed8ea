// Jails Fail2Ban would not start (config/jail-problems.ts), and `fail2ban-client -t`, which refuses
// them as Fail2Ban's does: a jail without any log file, a missing filter file.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { jailProblems } from '../config/jail-problems.js';
import { loadConfig } from '../config/load.js';
import { runFail2banClient } from './fail2ban-client.js';

const root = mkdtempSync(join(tmpdir(), 'pc-configtest-'));
after(() => rmSync(root, { recursive: true, force: true }));

function tree(jails: string): string {
  const dir = mkdtempSync(join(root, 't-'));
  mkdirSync(join(dir, 'filter.d'));
  writeFileSync(join(dir, 'filter.d', 'f.conf'), '[Definition]\nfailregex = ^fail <HOST>$\n');
  writeFileSync(join(dir, 'present.log'), '');
  writeFileSync(join(dir, 'jail.conf'), `[DEFAULT]\nbackend = polling\naction =\nfilter = f\n${jails}`);
  return dir;
}

async function clientTest(dir: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = { out: (s: string) => void (out += s), err: (s: string) => void (err += s) };
  const code = await runFail2banClient(['-c', dir, '-t'], { io });
  return { code, out, err };
}

describe('fail2ban-client -t', () => {
  it('fail2ban-client -t fails where Fail2Ban fails, and says OK otherwise', async () => {
    const bad = await clientTest(tree(`[b]\nenabled = true\nlogpath = ${root}/nope.log\n`));
    assert.equal(bad.code, 255);
    assert.equal(bad.out, '');
    assert.match(bad.err, /Failed during configuration: Have not found any log file for b jail/);
    assert.match(bad.err, /ERROR: test configuration failed/);
    const good = await clientTest(tree(`[c]\nenabled = true\nlogpath = ${root}/*/present.log\n`));
    assert.equal(good.code, 0, good.err);
    assert.equal(good.out, 'OK: configuration test is successful\n');
  });
});

describe('jails Fail2Ban would not start', () => {
  it('a missing filter file and a jail without any log file are named; a sound jail is not', async () => {
    const dir = tree(
      `[a]\nenabled = true\nfilter = nosuch\nlogpath = ${root}/*/present.log\n[b]\nenabled = true\nlogpath = ${root}/nope-*.log\n[c]\nenabled = true\nlogpath = ${root}/*/present.log\n`,
    );
    const problems = jailProblems(loadConfig({ dir }));
    assert.deepEqual([...problems.keys()].sort(), ['a', 'b']);
    assert.match(problems.get('a')?.[0] ?? '', /^jail "a" asks for filter "nosuch", but there is no filter\.d\/nosuch\.conf/);
    assert.deepEqual(problems.get('b'), [`Have not found any log file for b jail (logpath ${root}/nope-*.log)`]);
  });
});
