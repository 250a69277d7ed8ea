// When jails' firewalls are checked (firewall-checks.ts): on notifications for firewalls that watch,
// periodically for the others, retried when incomplete, one at a time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Firewall } from '../firewall/firewall.js';
import { type CheckedJail, FirewallChecks } from './firewall-checks.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A firewall that can watch (its notify() plays the kernel), or not. */
function firewall(watches: boolean): Firewall & { notify(why?: 'change' | 'overflow'): void } {
  let onChange: ((why: 'change' | 'overflow') => void) | null = null;
  const fw = {
    notify: (why: 'change' | 'overflow' = 'change') => onChange?.(why),
    ...(watches
      ? {
          watchChanges: (cb: (why: 'change' | 'overflow') => void) => {
            onChange = cb;
            return true;
          },
        }
      : {}),
  };
  return fw as unknown as Firewall & { notify(why?: 'change' | 'overflow'): void };
}

/** A jail whose checks are counted; `result` says whether a check was complete, `ms` how long it takes. */
function jail(firewalls: Firewall[], options: { result?: () => boolean; ms?: number; suspected?: boolean } = {}): CheckedJail & { checks: number } {
  const j = {
    checks: 0,
    firewalls,
    firewallSuspected: options.suspected ?? false,
    onFirewallSuspect: null as (() => void) | null,
    async checkFirewall() {
      j.checks++;
      if (options.ms) await sleep(options.ms);
      return options.result?.() ?? true;
    },
  };
  return j;
}

function setup(jails: CheckedJail[], intervalMs: number) {
  const lines: string[] = [];
  const checks = new FirewallChecks(() => jails, intervalMs, { log: (_section, level, line) => lines.push(`${level} ${line}`) });
  checks.start();
  return { checks, lines };
}

test('a watched firewall is checked once after a burst of notifications, and never periodically', async () => {
  const fw = firewall(true);
  const a = jail([fw]);
  const b = jail([fw]);
  const { checks, lines } = setup([a, b], 20);
  await sleep(100);
  assert.deepEqual([a.checks, b.checks], [0, 0], 'no periodic check');
  fw.notify();
  fw.notify();
  fw.notify();
  await sleep(300);
  assert.deepEqual([a.checks, b.checks], [1, 1]);
  assert.equal(lines.filter((l) => /changed by another program/.test(l)).length, 3);
  fw.notify('overflow');
  await sleep(300);
  assert.deepEqual([a.checks, b.checks], [2, 2]);
  assert.ok(lines.some((l) => /notifications were lost/.test(l)));
  checks.stop();
});

test('a jail with a firewall that cannot watch keeps the periodic check; a watched one is left out of it', async () => {
  const watching = firewall(true);
  const mixed = jail([watching, firewall(false)]);
  const watched = jail([watching]);
  const { checks } = setup([mixed, watched], 30);
  await sleep(200);
  checks.stop();
  assert.ok(mixed.checks >= 3, `periodic checks: ${mixed.checks}`);
  assert.equal(watched.checks, 0);
});

test('a check that was incomplete (deferred or failed) comes back; a failed command asks for one', async () => {
  const fw = firewall(true);
  let complete = false;
  const j = jail([fw], { result: () => complete });
  const { checks } = setup([j], 300);
  fw.notify();
  await sleep(250);
  assert.equal(j.checks, 1);
  complete = true;
  await sleep(450);
  assert.equal(j.checks, 2, 'retried after the interval');
  await sleep(500);
  assert.equal(j.checks, 2, 'and no more once complete');
  j.onFirewallSuspect?.();
  await sleep(500);
  assert.equal(j.checks, 3, 'a failure since is checked');
  checks.stop();
});

test('a watched jail whose firewall failed during its start is checked without a notification', async () => {
  const fw = firewall(true);
  const failed = jail([fw], { suspected: true });
  const fine = jail([fw]);
  const { checks } = setup([failed, fine], 100);
  await sleep(300);
  checks.stop();
  assert.equal(failed.checks, 1);
});

test('checks run one at a time; a notification during one gets a check after it; none after stop()', async () => {
  const fw = firewall(true);
  let running = 0;
  let overlapped = false;
  const j = jail([fw], { ms: 200 });
  const check = j.checkFirewall;
  j.checkFirewall = async () => {
    overlapped ||= ++running > 1;
    try {
      return await check();
    } finally {
      running--;
    }
  };
  const { checks } = setup([j], 10_000);
  fw.notify();
  await sleep(200);
  fw.notify();
  await sleep(600);
  assert.equal(j.checks, 2);
  assert.equal(overlapped, false);
  checks.stop();
  fw.notify();
  await sleep(250);
  assert.equal(j.checks, 2);
});
