// Case 3: log rotation in the middle of a burst, in each style logrotate uses. Failures keep arriving
// before, during and after the rotation; proves that every attacker (3 failures, some split across
// the old and the new file) is banned, no near-miss is, and every failure is counted once.
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, renameSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { type DaemonDirs, removeDirs, type RunningDaemon, sleep, startDaemon, waitFor } from '../e2e/daemon-process.js';
import {
  addresses,
  allBans,
  dovecotFailure,
  jailStatus,
  mailSetup,
  noiseLine,
  postfixSaslFailure,
  rng,
  runSeed,
} from '../e2e/mail-log.js';

interface Style {
  rotate: (log: string) => void;
  /**
   * Wait until the daemon has read everything before rotating. copytruncate needs it: lines not yet
   * read when the file is truncated exist only in the copy, which no reader follows (logrotate
   * documents this loss window; Fail2Ban has it too). The other styles keep the old file readable.
   */
  catchUpFirst: boolean;
  /** Write the rest of the burst at once right after the rotation: the new file outgrows the old offset. */
  restAtOnce: boolean;
}

const copytruncate = (log: string) => {
  copyFileSync(log, `${log}.1`);
  truncateSync(log, 0);
};

const styles: Record<string, Style> = {
  'rename + create': {
    rotate: (log) => {
      renameSync(log, `${log}.1`);
      writeFileSync(log, '');
    },
    catchUpFirst: false,
    restAtOnce: false,
  },
  copytruncate: { rotate: copytruncate, catchUpFirst: true, restAtOnce: false },
  'copytruncate, the new file at once longer than the old offset': { rotate: copytruncate, catchUpFirst: true, restAtOnce: true },
  'delete + recreate': {
    rotate: (log) => {
      unlinkSync(log);
      writeFileSync(log, '');
    },
    catchUpFirst: false,
    restAtOnce: false,
  },
};

describe('reliability: log rotation mid-burst', () => {
  const running: RunningDaemon[] = [];
  const trees: DaemonDirs[] = [];
  after(async () => {
    for (const d of running) await d.kill();
    for (const t of trees) removeDirs(t);
  });

  for (const [style, { rotate, catchUpFirst, restAtOnce }] of Object.entries(styles)) {
    it(`${style}: attackers split across old and new file are banned, no failure lost or counted twice`, { timeout: 60_000 }, async (t) => {
      const seed = runSeed();
      t.diagnostic(`seed ${seed} (RELIABILITY_SEED=${seed} replays it)`);
      const random = rng(seed);
      const { dirs, mailLog } = mailSetup();
      trees.push(dirs);
      const daemon = await startDaemon(dirs, { args: ['--dry-run'] });
      running.push(daemon);

      const attackers = addresses('172.22', 200);
      const nearMisses = addresses('192.168', 100);
      const jailOf = new Map<string, 'dovecot' | 'postfix'>();
      const lines: string[] = [];
            const expected = { dovecot: 0, postfix: 0 };
      for (const [ips, times] of [[attackers, 3], [nearMisses, 2]] as const) {
        for (const ip of ips) {
          const jail = random() < 0.5 ? 'dovecot' : 'postfix';
          jailOf.set(ip, jail);
          for (let k = 0; k < times; k++) {
            lines.push(jail === 'dovecot' ? dovecotFailure(ip) : postfixSaslFailure(ip));
            expected[jail]++;
          }
        }
      }
      for (let i = 0; i < 1500; i++) lines.push(noiseLine(`10.9.0.${(i % 200) + 1}`, i));
      for (let i = lines.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      }
      // 50 chunks, 20 ms apart; the rotation comes right after a random chunk in the second quarter, so
      // the daemon may or may not have read the old file's last lines when it is rotated.
      const chunks = 50;
      const size = Math.ceil(lines.length / chunks);
      const rotateAfter = Math.floor(chunks / 4 + random() * (chunks / 4));
      const failuresIn = (text: string) => (text.match(/unknown user|SASL LOGIN/g) ?? []).length;
      let written = 0;
      for (let c = 0; c < chunks; c++) {
        const text = lines.slice(c * size, (c + 1) * size).join('');
        appendFileSync(mailLog, text);
        written += failuresIn(text);
        if (c === rotateAfter) {
          if (catchUpFirst) {
            await waitFor('the daemon caught up before the rotation', async () => {
              const [d, p] = await Promise.all([jailStatus(dirs, 'dovecot'), jailStatus(dirs, 'postfix')]);
              return d.totalFailed + p.totalFailed >= written || null;
            });
          }
          rotate(mailLog);
          if (restAtOnce) {
            // A copytruncated file already longer than the old offset is told from the old content by
            // its first line (as Fail2Ban does, by its hash). The same failure twice in one second makes
            // byte-identical lines, and two contents starting with the same line cannot be told apart
            // by anyone: the new content starts with a line of its own, as a real log's next line does.
            appendFileSync(mailLog, noiseLine('10.9.1.1', 1_000_000 + c) + lines.slice((c + 1) * size).join(''));
            break;
          }
        }
        await sleep(20);
      }
      const want = expected.dovecot + expected.postfix;
      await waitFor(`${want} failures counted`, async () => {
        const [d, p] = await Promise.all([jailStatus(dirs, 'dovecot'), jailStatus(dirs, 'postfix')]);
        return d.totalFailed + p.totalFailed >= want || null;
      }, 10_000).catch(() => {}); // the assertions below say what is missing
      await sleep(300);
      const [d, p] = await Promise.all([jailStatus(dirs, 'dovecot'), jailStatus(dirs, 'postfix')]);
      t.diagnostic(`rotated after chunk ${rotateAfter}/${chunks}; counted dovecot ${d.totalFailed}/${expected.dovecot}, postfix ${p.totalFailed}/${expected.postfix}`);
      const bans = await allBans(dirs);
      const want2 = attackers.map((ip) => `${jailOf.get(ip)} ${ip}`).sort();
      const missing = want2.filter((b) => !bans.includes(b));
      const extra = bans.filter((b) => !want2.includes(b));
      assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'exactly the attackers banned');
      assert.equal(d.totalFailed, expected.dovecot, 'every dovecot failure counted once');
      assert.equal(p.totalFailed, expected.postfix, 'every postfix failure counted once');
      assert.equal(await daemon.stop(), 0);
    });
  }
});
