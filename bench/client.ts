// Benchmark (not a test): client start-up, spawn to exit, portcullis against Debian's Python client, in
// the same run on the same tree. Debian's fail2ban-server and portcullis' server both run on one
// generated tree with docker-mailserver's three jails (custom, dovecot, postfix; no-op action, so no
// firewall is touched); each client talks to its own server. Figures:
//   - `fail2ban-client status JAIL` (what DMS's `setup fail2ban` runs once per jail);
//   - the listing of DMS's `setup fail2ban` (ping, status, then status of each jail: its
//     target/bin/fail2ban without arguments) through a `fail2ban-client` on PATH;
//   - `fail2ban-client -h` (no server) and `portcullis --version`, with `node -e 0` as the floor, and
//     `node -e 0` with this machine's NODE_EXTRA_CA_CERTS (see dms-environment.ts).
// Our client runs as installed: its bin, started through its own first line, not `node bin`.
// Runs are interleaved (the machine is shared) and the median of RUNS=n (default 21) is reported.
// Usage: npm run build && node dist/bench/client.js
import { machineExtraCaCerts } from './dms-environment.js';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail2banUnavailable, startRealFail2ban } from '../test/compat/fail2ban-server.js';
import { startDaemon } from '../test/e2e/daemon-process.js';
import { percentile } from './measure.js';
import { report } from './report.js';

const RUNS = Number(process.env.RUNS ?? 21);
const JAILS = ['custom', 'dovecot', 'postfix'];
// The installed bin (package.json's `bin`, what the image links to /usr/bin/fail2ban-client).
const CLIENT = fileURLToPath(new URL('../src/cli/fail2ban-client.cjs', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

const skip = fail2banUnavailable();
if (skip) {
  console.error(`bench/client cannot run: ${skip}`);
  process.exit(2);
}

/** Wall time of one run, spawn to exit, in ms; throws when the command fails. */
function once(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const run = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? process.env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (run.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${run.status}): ${run.stderr.slice(0, 300)}`);
  return ms;
}

interface Case {
  label: string;
  run: () => number;
}

/** Every case RUNS times, interleaved; median and p90 per case. */
function measure(cases: Case[]): Map<string, { median: number; p90: number }> {
  const times = new Map<string, number[]>(cases.map((c) => [c.label, []]));
  for (const c of cases) c.run(); // warm the page cache once
  for (let i = 0; i < RUNS; i++) for (const c of cases) times.get(c.label)?.push(c.run());
  const out = new Map<string, { median: number; p90: number }>();
  for (const [label, xs] of times) {
    const sorted = [...xs].sort((a, b) => a - b);
    out.set(label, { median: percentile(sorted, 50), p90: percentile(sorted, 90) });
  }
  return out;
}

const real = await startRealFail2ban({ jails: JAILS.map((name) => ({ name })) });
const root = mkdtempSync(join(tmpdir(), 'pc-bench-client-'));
const ours = {
  root,
  config: real.dir,
  socket: join(root, 'fail2ban.sock'),
  pidfile: join(root, 'fail2ban.pid'),
  dbfile: join(root, 'fail2ban.sqlite3'),
  logfile: join(root, 'fail2ban.log'),
};
const daemon = await startDaemon(ours);
try {
  // A `fail2ban-client` on PATH for DMS's script, one per implementation, each bound to its server.
  const bins = { python: join(root, 'bin-python'), portcullis: join(root, 'bin-portcullis') };
  const wrap = (dir: string, exec: string) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'fail2ban-client'), `#!/bin/sh\nexec ${exec} "$@"\n`);
    chmodSync(join(dir, 'fail2ban-client'), 0o755);
  };
  wrap(bins.python, `/usr/bin/fail2ban-client -c ${real.dir} -s ${real.socket}`);
  wrap(bins.portcullis, `${CLIENT} -c ${real.dir} -s ${ours.socket}`);
  // DMS's `setup fail2ban` listing (target/bin/fail2ban without arguments), its client calls as it makes them.
  const listing = join(root, 'setup-fail2ban.sh');
  writeFileSync(
    listing,
    [
      '#!/bin/bash',
      'fail2ban-client ping >/dev/null 2>&1 || exit 1',
      'for JAIL in $(fail2ban-client status | grep "Jail list" | cut -f2- | sed "s/,/ /g"); do',
      '  fail2ban-client status "$JAIL" | grep -oP "(?<=Banned IP list:\\s).+" || true',
      'done',
      '',
    ].join('\n'),
  );
  const withPath = (dir: string) => ({ ...process.env, PATH: `${dir}:${process.env.PATH}` });
  const cases: Case[] = [
    { label: 'node -e 0', run: () => once(process.execPath, ['-e', '0']) },
    ...(machineExtraCaCerts
      ? [{ label: 'node -e 0, machine', run: () => once(process.execPath, ['-e', '0'], { ...process.env, NODE_EXTRA_CA_CERTS: machineExtraCaCerts }) }]
      : []),
    { label: 'python status', run: () => once('/usr/bin/fail2ban-client', ['-c', real.dir, '-s', real.socket, 'status', 'dovecot']) },
    { label: 'portcullis status', run: () => once(CLIENT, ['-c', real.dir, '-s', ours.socket, 'status', 'dovecot']) },
    { label: 'python listing', run: () => once('bash', [listing], withPath(bins.python)) },
    { label: 'portcullis listing', run: () => once('bash', [listing], withPath(bins.portcullis)) },
    { label: 'python -h', run: () => once('/usr/bin/fail2ban-client', ['-h']) },
    { label: 'portcullis -h', run: () => once(CLIENT, ['-h']) },
    { label: 'portcullis --version', run: () => once(MAIN, ['--version']) },
  ];
  const m = measure(cases);
  const get = (label: string) => m.get(label) ?? { median: Number.NaN, p90: Number.NaN };
  const fmt = (x: { median: number; p90: number }) => `median ${x.median.toFixed(0)} ms (p90 ${x.p90.toFixed(0)})`;
  const versus = (a: string, b: string, target: string, figure: string) => {
    const ourT = get(a);
    const theirT = get(b);
    report(
      figure,
      `portcullis ${fmt(ourT)}; Python ${fmt(theirT)}; Python ÷ portcullis ×${(theirT.median / ourT.median).toFixed(2)}; \`node -e 0\` ${fmt(get('node -e 0'))} (${RUNS} interleaved runs each)`,
      target,
      target ? ourT.median <= theirT.median : undefined,
    );
  };
  versus('portcullis status', 'python status', 'no slower than Python (ratio ≥ 1)', 'client: `fail2ban-client status JAIL`, spawn → exit, each against its own server on the same tree');
  versus('portcullis listing', 'python listing', 'no slower than with Fail2Ban (ratio ≥ 1)', "client: DMS's `setup fail2ban` listing (ping, status, status × 3 jails)");
  versus('portcullis -h', 'python -h', '', 'client: `fail2ban-client -h` (no server)');
  report('client: `portcullis --version`', `${fmt(get('portcullis --version'))}; \`node -e 0\` ${fmt(get('node -e 0'))}`, 'fast');
  if (machineExtraCaCerts) {
    report(
      "client: `node -e 0` with this machine's NODE_EXTRA_CA_CERTS (every other row runs without it, as in docker-mailserver)",
      `${fmt(get('node -e 0, machine'))} with ${machineExtraCaCerts}; ${fmt(get('node -e 0'))} without`,
    );
  }
} finally {
  await daemon.stop();
  await real.stop();
  rmSync(root, { recursive: true, force: true });
}
