// Differential test of the ban decisions: Fail2Ban's real engine (Debian's fail2ban modules, driven by
// fail2ban-engine.py) and `portcullis replay --json` read the same generated DMS mail logs with the same
// configuration tree, and must make the same bans: same (jail, address, time), same bantime — including
// rate-estimated counts, failures while banned prolonging a ban, bantime.increment with the observer's
// weighting of earlier offenders, overalljails, IPv6, ignoreip and injection attempts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mailLog, type Shape } from './engine-logs.js';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const engine = join(here, '../../../test/compat/fail2ban-engine.py');
const portcullis = join(here, '../../src/cli/main.js');
const SEEDS = Number(process.env.ENGINE_SEEDS ?? 20);
const LINES = Number(process.env.ENGINE_LINES ?? 20_000);
const FIRST_SEED = Number(process.env.ENGINE_SEED ?? 1);

interface Variant extends Shape {
  name: string;
  extra: string;
}

const VARIANTS: Variant[] = [
  { name: 'plain', findtime: 600, bantime: 600, maxretry: 3, extra: '' },
  { name: 'increment', findtime: 600, bantime: 600, maxretry: 3, extra: 'bantime.increment = true\nbantime.maxtime = 1d\n' },
  {
    name: 'multipliers-overalljails',
    findtime: 300,
    bantime: 300,
    maxretry: 5,
    extra: 'bantime.increment = true\nbantime.overalljails = true\nbantime.multipliers = 1 2 4 8 16\n',
  },
  { name: 'dms', findtime: 7 * 86400, bantime: 7 * 86400, maxretry: 6, extra: '' },
  { name: 'increment-factor', findtime: 900, bantime: 240, maxretry: 4, extra: 'bantime.increment = true\nbantime.factor = 2\n' },
];

const root = mkdtempSync(join(tmpdir(), 'portcullis-engine-'));
after(() => rmSync(root, { recursive: true, force: true }));

function configDir(v: Variant, log: string): string {
  const dir = join(root, `${v.name}-config`);
  mkdirSync(dir, { recursive: true });
  try {
    symlinkSync('/etc/fail2ban/filter.d', join(dir, 'filter.d'));
  } catch {
    // Already there from an earlier seed of this variant.
  }
  writeFileSync(
    join(dir, 'jail.conf'),
    `[DEFAULT]\nbantime = ${v.bantime}\nfindtime = ${v.findtime}\nmaxretry = ${v.maxretry}\n${v.extra}` +
      'ignoreip = 127.0.0.1/8 ::1 192.168.0.0/16 2001:db8:ffff::/48\nignoreself = false\nusedns = no\nbackend = polling\n' +
      `action =\nmode = normal\nfilter = %(__name__)s[mode=%(mode)s]\nlogpath = ${log}\n\n` +
      '[dovecot]\nenabled = true\n\n[postfix]\nenabled = true\nmode = extra\n',
  );
  return dir;
}

interface Ban {
  jail: string;
  ip: string;
  time: number;
  bantime: number;
}

const key = (b: Ban) => `${b.jail} ${b.ip} @${b.time}`;

function differences(ours: Ban[], theirs: Ban[]): string[] {
  const mine = new Map(ours.map((b) => [key(b), b]));
  const out: string[] = [];
  for (const b of theirs) {
    const m = mine.get(key(b));
    if (m === undefined) out.push(`only Fail2Ban bans ${key(b)} for ${b.bantime}s`);
    else if (Math.abs(m.bantime - b.bantime) > 1e-6 * Math.max(1, b.bantime)) out.push(`${key(b)}: bantime ${m.bantime} here, ${b.bantime} in Fail2Ban`);
    mine.delete(key(b));
  }
  for (const b of mine.values()) out.push(`only portcullis bans ${key(b)} for ${b.bantime}s`);
  return out;
}

test(`same bans as Fail2Ban's engine over ${SEEDS} seeds × ${LINES} generated mail log lines`, { timeout: 600_000 }, async () => {
  const jobs = Array.from({ length: SEEDS }, (_, i) => {
    const seed = FIRST_SEED + i;
    const variant = VARIANTS[i % VARIANTS.length]!;
    const log = join(root, `mail-${seed}.log`);
    writeFileSync(log, mailLog(seed, LINES, variant));
    return { seed, variant, log, config: configDir(variant, log) };
  });
  const started = Date.now();
  // Fail2Ban's side is the slow one: two processes, one per half of the runs.
  const half = Math.ceil(jobs.length / 2);
  const reference = Promise.all(
    [jobs.slice(0, half), jobs.slice(half)]
      .filter((part) => part.length > 0)
      .map((part) => run('/usr/bin/python3', [engine, ...part.flatMap((j) => [j.config, j.log])], { maxBuffer: 256 * 1024 * 1024 })),
  );
  const ours: Ban[][] = [];
  for (const j of jobs) {
    const { stdout } = await run(process.execPath, [portcullis, 'replay', '-c', j.config, '--json', j.log], { maxBuffer: 256 * 1024 * 1024 });
    ours.push((JSON.parse(stdout) as { bans: Ban[] }).bans);
  }
  const theirs = (await reference)
    .flatMap((r) => r.stdout.trim().split('\n'))
    .map((l) => (JSON.parse(l) as { bans: Ban[] }).bans);
  assert.equal(theirs.length, jobs.length);
  let total = 0;
  let prolonged = 0;
  const failures: string[] = [];
  for (const [i, j] of jobs.entries()) {
    const diff = differences(ours[i]!, theirs[i]!);
    total += theirs[i]!.length;
    prolonged += theirs[i]!.filter((b) => b.bantime !== j.variant.bantime).length;
    if (diff.length > 0) failures.push(`seed ${j.seed} (${j.variant.name}): ${diff.length} difference(s), e.g.\n  ${diff.slice(0, 5).join('\n  ')}`);
  }
  console.log(`# ${jobs.length} runs, ${jobs.length * LINES} lines: ${total} bans by Fail2Ban, ${prolonged} with a bantime other than the jail's, in ${Date.now() - started} ms`);
  assert.ok(total > jobs.length * 10, 'the logs make bans at all');
  assert.ok(prolonged > 0, 'some bans are prolonged or incremented');
  assert.deepEqual(failures, []);
});
