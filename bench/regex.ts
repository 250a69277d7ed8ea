// Benchmark (not a test): `portcullis regex` against Debian's `fail2ban-regex` on the same generated
// docker-mailserver log. The headline ratio uses the same filter files on both sides (/etc/fail2ban,
// what DMS runs); portcullis' built-in filters are reported beside it, labelled, as a ratio to those.
// Checks that all three runs find the same matches.
// Usage: node dist/bench/regex.js [LINES...]   (default 1,000,000 and 10,000,000; F2B_LIMIT=seconds caps
// each fail2ban-regex run, default 150, reported as "> limit"; REPEAT=n runs per size ≤ 1M, median kept)
import './dms-environment.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from './mail-log.js';
import { report } from './report.js';

/** Line counts to run; fail2ban-regex is stopped after F2B_LIMIT seconds and reported as "> limit". */
const SIZES = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [1_000_000, 10_000_000];
const F2B_LIMIT = Number(process.env.F2B_LIMIT ?? 150);
/** Runs of each command per size up to 1M lines (median kept); larger sizes run once. */
const REPEAT = Number(process.env.REPEAT ?? 3);
/** Issue 13's goals: portcullis ≥ 50× fail2ban-regex on the same filter files; our two filter sources within 1.5×. */
const RATIO_TARGET = 50;
const SOURCES_APART = 1.5;
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Timed {
  seconds: number;
  stdout: string;
  command: string;
}

/** Runs a command to completion; `limitSeconds` stops it and returns null (it took longer). */
function time(cmd: string, args: string[], limitSeconds?: number): Timed | null {
  const start = process.hrtime.bigint();
  const res = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, TZ: 'UTC' },
    timeout: limitSeconds === undefined ? undefined : limitSeconds * 1000,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (res.error && (res.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return null;
  if (res.status !== 0) throw new Error(`${cmd} failed (${res.status}): ${res.stderr.slice(0, 500)}`);
  return { seconds, stdout: res.stdout, command: [cmd, ...args.map((a) => (/[\s[\]]/.test(a) ? `'${a}'` : a))].join(' ') };
}

function ours(log: string, config: string, filter: string): Timed {
  const run = time(process.execPath, ['--enable-experimental-regexp-engine-on-excessive-backtracks', MAIN, 'regex', '--json', '-c', config, log, filter]);
  if (run === null) throw new Error('unreachable: no limit');
  return run;
}

/**
 * The machine is shared: each command runs `n` times, the three interleaved so that load drifts hit
 * them alike, and the median time of each is kept (its output is the same every run).
 */
function medianOf<T extends Timed | null | undefined>(n: number, runs: Array<() => T>): T[] {
  const all: T[][] = runs.map(() => []);
  for (let i = 0; i < n; i++) for (const [k, run] of runs.entries()) all[k]?.push(run());
  return all.map((xs) => {
    if (xs.some((x) => x === null || x === undefined)) return xs.find((x) => x === null || x === undefined) as T;
    const sorted = [...xs].sort((a, b) => (a as Timed).seconds - (b as Timed).seconds);
    return sorted[Math.floor(sorted.length / 2)] as T;
  });
}

const ips = (run: Timed) => (JSON.parse(run.stdout) as { matches: Array<{ ip: string }> }).matches.map((m) => m.ip);
const rate = (lines: number, seconds: number) => `${Math.round(lines / seconds).toLocaleString('en')} lines/s`;
const haveF2b = spawnSync('fail2ban-regex', ['--version'], { encoding: 'utf8' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'pc-bench-'));
let ok = true;
try {
  for (const lines of SIZES) {
    const log = join(dir, `mail-${lines}.log`);
    const { failures } = generate(lines, log);
    const size = `${(lines / 1e6).toLocaleString('en')}M lines`;
    console.log(`generated ${lines.toLocaleString('en')} lines (${failures.toLocaleString('en')} failures)`);
    for (const filter of ['postfix[mode=extra]', 'dovecot']) {
      // The same filter files for both sides (what a docker-mailserver install runs), and ours.
      const [f2bFiles, builtin, f2b] = medianOf(lines > 1_000_000 ? 1 : REPEAT, [
        () => ours(log, '/etc/fail2ban', filter),
        () => ours(log, dir, filter),
        () => (haveF2b ? time('fail2ban-regex', ['-c', '/etc/fail2ban', '-o', 'ip', log, filter], F2B_LIMIT) : undefined),
      ]) as [Timed, Timed, Timed | null | undefined];
      console.log(`  ${f2bFiles.command}\n  ${builtin.command}`);
      let versus = 'fail2ban-regex not installed';
      // Reached: at least 50× fail2ban-regex's time on the same filter files, with the same matches.
      let reached: boolean | undefined;
      if (f2b === null) {
        const bound = F2B_LIMIT / f2bFiles.seconds;
        versus = `fail2ban-regex > ${F2B_LIMIT} s: ≥ ${bound.toFixed(1)}×`;
        reached = bound >= RATIO_TARGET ? true : undefined;
      } else if (f2b) {
        console.log(`  ${f2b.command}`);
        const theirs = f2b.stdout.split('\n').filter((l) => l.trim() !== '');
        const same = JSON.stringify(theirs) === JSON.stringify(ips(f2bFiles)) && JSON.stringify(theirs) === JSON.stringify(ips(builtin));
        ok &&= same;
        const ratio = f2b.seconds / f2bFiles.seconds;
        versus = `fail2ban-regex ${f2b.seconds.toFixed(2)} s (${rate(lines, f2b.seconds)}): ${ratio.toFixed(1)}×, same ${theirs.length} matches (both filter sources): ${same ? 'yes' : 'NO'}`;
        reached = same && ratio >= RATIO_TARGET;
      }
      report(
        `regex ${filter}, ${size}, Fail2Ban's filter files (-c /etc/fail2ban) on both sides`,
        `portcullis ${f2bFiles.seconds.toFixed(2)} s, ${rate(lines, f2bFiles.seconds)}; ${versus}`,
        `≥ ${RATIO_TARGET}× fail2ban-regex, same matches`,
        reached,
      );
      const apart = f2bFiles.seconds / builtin.seconds;
      report(
        `regex ${filter}, ${size}, portcullis built-in filter vs Fail2Ban's filter files`,
        `built-in ${builtin.seconds.toFixed(2)} s, ${rate(lines, builtin.seconds)}; Fail2Ban's files ÷ built-in ×${apart.toFixed(2)}`,
        `within ${SOURCES_APART}× of each other`,
        Math.max(apart, 1 / apart) <= SOURCES_APART,
      );
    }
    rmSync(log, { force: true });
  }
  if (!ok) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
