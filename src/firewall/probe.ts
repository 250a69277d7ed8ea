// Checks at start that the chosen backend can work here, so a missing capability or kernel feature is
// one clear line instead of every ban failing later (DMS's "bans shown but nothing blocked").
import { readFileSync } from 'node:fs';
import { ExitCode, UserError } from '../errors.js';
import { commandRunner, firstLine, type Runner, type RunResult, TIMED_OUT } from './runner.js';
import type { BackendName } from './select.js';

export const CAP_MESSAGE =
  'cannot change the firewall: CAP_NET_ADMIN is missing; run the container with --cap-add=NET_ADMIN';

const CAP_NET_ADMIN = 12n;

/** Reads CapEff from /proc/self/status; null when it cannot be read (not Linux). */
export function hasCapNetAdmin(status = '/proc/self/status'): boolean | null {
  try {
    const match = readFileSync(status, 'utf8').match(/^CapEff:\s*([0-9a-f]+)$/m);
    if (!match) return null;
    return ((BigInt(`0x${match[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
  } catch {
    return null;
  }
}

function environment(message: string): UserError {
  return new UserError(message, ExitCode.environment);
}

function denied(result: RunResult): boolean {
  return /Operation not permitted|Permission denied|you must be root/i.test(result.stderr);
}

const FALLBACK = 'set banaction = iptables-multiport (or iptables-ipset) to use iptables instead';

/** nft -c runs the transaction in the kernel and then aborts it: nothing is left behind. */
const NFT_PROBE = `add table inet f2b-probe
add set inet f2b-probe v4 { type ipv4_addr; flags interval, timeout; }
add set inet f2b-probe v6 { type ipv6_addr; flags interval, timeout; }
`;

/** Plain hash sets: what kernels without interval sets still have (DMS issue 3897). */
const NFT_HASH_PROBE = `add table inet f2b-probe
add set inet f2b-probe v4 { type ipv4_addr; }
add set inet f2b-probe v6 { type ipv6_addr; }
`;

/** What nftables can do here: full (interval) sets, or plain hash sets only, with the kernel's refusal. */
export type NftSupport = { sets: 'interval' } | { sets: 'hash'; reason: string };

async function probeNftables(run: Runner): Promise<NftSupport> {
  const result = await run(['nft', '-c', '-f', '-'], NFT_PROBE);
  if (result.code === 0) return { sets: 'interval' };
  if (result.code === 127) throw environment(`cannot use nftables: the nft command is not installed; install nftables or ${FALLBACK}`);
  if (result.code === TIMED_OUT) throw hung(result);
  if (denied(result)) throw environment(CAP_MESSAGE);
  // Some NAS kernels refuse `flags interval` with "Operation not supported" but have hash sets.
  if (/Operation not supported/.test(result.stderr) && (await run(['nft', '-c', '-f', '-'], NFT_HASH_PROBE)).code === 0) {
    return { sets: 'hash', reason: kernelError(result) };
  }
  throw environment(`this kernel lacks nftables sets with intervals and timeouts (${firstLine(result)}); ${FALLBACK}`);
}

/** nft's error without its `/dev/stdin:L:C-C: ` location: "Error: Could not process rule: Operation not supported". */
function kernelError(result: RunResult): string {
  return firstLine(result).replace(/^\S+:\d+:\d+-\d+: /, '');
}

/** The one WARNING line (log, `status`, `doctor`) of a kernel that makes nftables fall back to hash sets. */
export function hashFallbackMessage(reason: string): string {
  return `this kernel refuses nftables interval sets (${reason}): using plain hash sets instead; single-address bans work as usual, but subnet bans (ipv4_subnet, ipv6_subnet, manual CIDR bans) cannot be enforced and are refused`;
}

/**
 * `portcullis doctor`: null when the kernel has nftables sets with intervals and timeouts, else one line
 * saying why not (missing nft, capability, or the kernel's own error, as on some NAS kernels) or that
 * the daemon falls back to plain hash sets.
 */
export async function nftIntervalProblem(runner: Runner = commandRunner()): Promise<{ message: string; fallback: boolean } | null> {
  try {
    const support = await probeNftables(runner);
    return support.sets === 'hash' ? { message: hashFallbackMessage(support.reason), fallback: true } : null;
  } catch (err) {
    return { message: (err as Error).message, fallback: false };
  }
}

/** A tool that did not answer says nothing about the kernel: a runtime failure, not a missing feature. */
function hung(result: RunResult): UserError {
  return new UserError(`cannot check the firewall: ${firstLine(result)}; another process may hold the netlink or xtables lock, or the tool is stuck`, ExitCode.failure);
}

async function probeTool(run: Runner, argv: string[], what: string): Promise<void> {
  const result = await run(argv);
  if (result.code === 0) return;
  if (result.code === 127) throw environment(`cannot use ${what}: the ${argv[0]} command is not installed`);
  if (result.code === TIMED_OUT) throw hung(result);
  if (denied(result)) throw environment(CAP_MESSAGE);
  throw environment(`cannot use ${what}: ${firstLine(result)}`);
}

async function probeIpset(run: Runner): Promise<void> {
  await probeTool(run, ['ipset', '-exist', 'create', 'pc-probe', 'hash:net', 'timeout', '0'], 'ipset');
  await probeTool(run, ['ipset', 'destroy', 'pc-probe'], 'ipset');
}

/**
 * Throws a UserError (exit code `environment`) naming what is missing and how to fix it. Script
 * actions (action.d) cannot be probed: their own `actioncheck` runs at start instead. For nftables it
 * returns what the kernel's sets can do (plain hash sets only on some NAS kernels).
 */
export async function probeFirewall(backend: BackendName, runner: Runner = commandRunner()): Promise<NftSupport | null> {
  if (backend === 'log') return null;
  if (hasCapNetAdmin() === false) throw environment(CAP_MESSAGE);
  if (backend === 'nftables') return probeNftables(runner);
  for (const tool of ['iptables', 'ip6tables']) await probeTool(runner, [tool, '-w', '-n', '-L', 'INPUT'], tool);
  if (backend === 'iptables-ipset') await probeIpset(runner);
  return null;
}
