// `portcullis doctor [--json]`: checks the setup and explains each finding in one line with its fix.
// Exit 0 when all is well, 1 when something needs attention. Reads the host (capability, routes through
// the daemon, log files, the database) but changes nothing: the firewall probe is a checked-and-aborted
// nft transaction, the database probe a rolled-back one.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultConfigDir, loadConfig } from '../config/load.js';
import type { Config } from '../config/model.js';
import { expandGlob, hasMagic } from '../files/glob.js';
import { DateDetector } from '../filter/dates.js';
import { resolveLogZone } from '../filter/timezone.js';
import { CAP_MESSAGE, hasCapNetAdmin, nftIntervalProblem } from '../firewall/probe.js';
import { nativeAction } from '../firewall/select.js';
import { LOST_CLIENT_PROBLEM } from '../jail/lost-client.js';
import { databaseProblem } from '../store/health.js';
import { type CliIo, processIo } from './cli-io.js';
import { ControlClient } from './client.js';
import { type Finding, formatFindings, ignoreipFinding, type LogFacts, logFindings } from './doctor-checks.js';
import { policyFindings } from './doctor-policy.js';

const TAIL_BYTES = 8192;

interface Options {
  config?: string;
  socket?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check the setup (capability, kernel, logs, clock, lost client address, database, socket, policy servers) and explain each finding')
    .option('-c, --config <dir>', 'configuration directory (default: /etc/fail2ban if present, else built-in)')
    .option('-s, --socket <path>', 'control socket (default: from the config)')
    .option('--json', 'print one JSON object')
    .action(async (opts: Options) => {
      process.exitCode = await doctor(opts, processIo);
    });
}

export async function doctor(opts: Options, io: CliIo): Promise<number> {
  const config = loadConfig({ dir: opts.config ?? defaultConfigDir() });
  const now = Date.now() / 1000;
  const findings: Finding[] = [...(await firewallFindings(config))];
  for (const jail of config.jails) {
    findings.push(ignoreipFinding(jail));
    for (const facts of await logFacts(jail, now)) findings.push(...logFindings(facts, now));
  }
  findings.push(databaseFinding(config.server.dbfile));
  findings.push(...(await daemonFindings(opts.socket ?? config.server.socket, config)));
  findings.push(...(await policyFindings(config.server.policy)));
  const ok = findings.every((f) => f.ok);
  if (opts.json) io.out(`${JSON.stringify({ ok, findings })}\n`);
  else io.out(formatFindings(findings));
  return ok ? 0 : 1;
}

async function firewallFindings(config: Config): Promise<Finding[]> {
  const cap = hasCapNetAdmin();
  const out: Finding[] = [];
  if (cap !== null) {
    out.push(
      cap
        ? { check: 'cap-net-admin', ok: true, message: 'CAP_NET_ADMIN present' }
        : { check: 'cap-net-admin', ok: false, message: 'CAP_NET_ADMIN is missing: bans cannot reach the firewall', fix: CAP_MESSAGE.split('; ')[1] ?? '' },
    );
  }
  const usesNft = config.jails.some((j) =>
    (j.options['banaction'] ?? 'nftables').split(/[\s[]/)[0]?.startsWith('nftables') || j.actions.some((a) => nativeAction(a.name)?.backend === 'nftables'),
  );
  if (usesNft && cap !== false) {
    const problem = await nftIntervalProblem();
    out.push(
      problem === null
        ? { check: 'nftables', ok: true, message: 'the kernel has nftables sets with intervals and timeouts' }
        : problem.fallback
          ? { check: 'nftables', ok: false, message: problem.message, fix: 'for subnet bans use a kernel with nftables interval sets, or set banaction = iptables-ipset (its hash:net sets hold subnets)' }
          : { check: 'nftables', ok: false, message: problem.message, fix: 'use a kernel with nf_tables set support, or set banaction = iptables-multiport' },
    );
  }
  return out;
}

async function logFacts(jail: Config['jails'][number], now: number): Promise<LogFacts[]> {
  if (jail.backend === 'systemd') return [];
  const dates = new DateDetector({ datepattern: jail.filter?.datepattern ?? null, zone: resolveLogZone(jail.options['logtimezone']) });
  const out: LogFacts[] = [];
  for (const { pattern } of jail.logpaths) {
    const paths = hasMagic(pattern) ? await expandGlob(pattern) : [pattern];
    if (paths.length === 0) out.push({ jail: jail.name, path: pattern, error: 'no file matches', mtime: 0, lastLineTime: null });
    for (const path of paths) {
      try {
        const st = statSync(path);
        const last = lastLine(path, st.size);
        const time = last === null ? null : (dates.match(last, now)?.time ?? null);
        out.push({ jail: jail.name, path, error: null, mtime: st.mtimeMs / 1000, lastLineTime: time !== null && Number.isFinite(time) ? time : null });
      } catch (err) {
        out.push({ jail: jail.name, path, error: (err as Error).message.replace(/^[A-Z]+: /, ''), mtime: 0, lastLineTime: null });
      }
    }
  }
  return out;
}

/** The last non-empty line of the file (from its last few KiB); throws when it cannot be read. */
function lastLine(path: string, size: number): string | null {
  const fd = openSync(path, 'r');
  try {
    const length = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    return lines.at(-1) ?? null;
  } finally {
    closeSync(fd);
  }
}

function databaseFinding(dbfile: string): Finding {
  if (dbfile.toLowerCase() === 'none' || dbfile === ':memory:') {
    return { check: 'database', ok: true, message: `no database file (dbfile = ${dbfile}): bans do not survive a restart` };
  }
  const problem = databaseProblem(dbfile);
  return problem === null
    ? { check: 'database', ok: true, message: `${dbfile} is healthy and writable` }
    : { check: 'database', ok: false, message: problem, fix: 'give the daemon a writable volume for dbfile, or restore the file (portcullis keeps bans in memory meanwhile)' };
}

async function daemonFindings(socket: string, config: Config): Promise<Finding[]> {
  const client = new ControlClient(socket, 3000);
  try {
    await client.request({ cmd: 'ping' });
  } catch (err) {
    return [{ check: 'socket', ok: false, message: `no server answers on ${socket}: ${(err as Error).message}`, fix: 'start portcullis (portcullis server), or give the right -s/--socket' }];
  }
  const out: Finding[] = [{ check: 'socket', ok: true, message: `the server answers on ${socket}` }];
  for (const jail of config.jails) {
    let problems: string[];
    try {
      problems = (await client.request({ cmd: 'status', jail: jail.name })).problems ?? [];
    } catch {
      continue; // A jail the running server does not have (the config changed since): reload says so.
    }
    const lost = problems.filter((p) => p.includes(LOST_CLIENT_PROBLEM));
    if (lost.length === 0) out.push({ check: 'client-address', ok: true, message: `[${jail.name}] no sign of a lost client address` });
    for (const p of lost) {
      const [what, fix] = p.split('. Fix: ');
      out.push({ check: 'client-address', ok: false, message: `[${jail.name}] ${what}`, fix: fix ?? '' });
    }
  }
  return out;
}
