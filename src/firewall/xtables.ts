// What iptables.ts and ipset.ts share: the per-family tools and the INPUT rule that sends a jail's
// traffic to its chain or set. argv arrays throughout; every value in them is validated or built here.
import type { IpFamily } from './address.js';
import { FailureLog, type FirewallFailure, type FirewallJail } from './firewall.js';
import { commandRunner, firstLine, type Runner, type RunResult, Serial } from './runner.js';

export interface XtablesOptions {
  /** Runs iptables/ip6tables/ipset; tests pass `commandRunner(['ip', 'netns', 'exec', NS])`. */
  runner?: Runner;
}

export const FAMILIES: readonly IpFamily[] = [4, 6];

export function tool(family: IpFamily, suffix = ''): string {
  return `${family === 4 ? 'iptables' : 'ip6tables'}${suffix}`;
}

/** multiport takes at most 15 ports per rule. */
const MULTIPORT_MAX = 15;

/** The `-p … -m multiport --dports …` parts of the INPUT rules for a jail (one per rule). */
export function inputMatches(jail: FirewallJail): string[][] {
  const base = jail.interface === null ? [] : ['-i', jail.interface];
  const protocols = jail.protocol === 'all' ? ['tcp', 'udp'] : [jail.protocol];
  if (jail.ports === null) {
    return jail.protocol === 'all' ? [base] : protocols.map((p) => [...base, '-p', p]);
  }
  const rules: string[][] = [];
  for (let i = 0; i < jail.ports.length; i += MULTIPORT_MAX) {
    const ports = jail.ports.slice(i, i + MULTIPORT_MAX).join(',');
    for (const p of protocols) rules.push([...base, '-p', p, '-m', 'multiport', '--dports', ports]);
  }
  return rules;
}

/**
 * The verdict: DROP, or REJECT. TCP-only jails answer with a TCP reset (the client sees "refused" at
 * once, IPv4 and IPv6 alike; an ICMPv6 unreachable left Linux clients waiting), others with ICMP.
 * `-p tcp` goes with it because iptables accepts tcp-reset only in a rule that matches TCP.
 */
export function target(jail: FirewallJail, family: IpFamily, matchesTcp = false): string[] {
  if (jail.blocktype === 'drop') return ['-j', 'DROP'];
  if (jail.protocol === 'tcp') return [...(matchesTcp ? [] : ['-p', 'tcp']), '-j', 'REJECT', '--reject-with', 'tcp-reset'];
  return ['-j', 'REJECT', '--reject-with', family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'];
}

/** Inserts `rule` into INPUT unless an identical one is there (`-C`), so start is idempotent. */
export async function ensureInputRule(run: Runner, family: IpFamily, rule: string[]): Promise<RunResult> {
  const check = await run([tool(family), '-w', '-C', 'INPUT', ...rule]);
  if (check.code === 0) return check;
  return run([tool(family), '-w', '-I', 'INPUT', ...rule]);
}

/** Deletes every copy of `rule` from INPUT. */
export async function removeInputRule(run: Runner, family: IpFamily, rule: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await run([tool(family), '-w', '-D', 'INPUT', ...rule]);
    if (r.code !== 0) return;
  }
}

/** Runs a command a backend cannot do without; a failure is recorded for `status` and thrown. */
export async function mustRun(
  run: Runner,
  failures: FailureLog,
  jail: string,
  operation: string,
  argv: string[],
  stdin?: string,
): Promise<string> {
  const result = await run(argv, stdin);
  if (result.code !== 0) throw failures.record(jail, operation, firstLine(result));
  return result.stdout;
}

/** What the iptables and ipset backends share: their runner, one operation at a time, kept failures. */
export abstract class XtablesBackend {
  protected readonly run: Runner;
  protected readonly serial = new Serial();
  protected readonly failures = new FailureLog();

  constructor(options: XtablesOptions = {}) {
    this.run = options.runner ?? commandRunner();
  }

  get errors(): readonly FirewallFailure[] {
    return this.failures.entries;
  }

  protected must(jail: string, operation: string, argv: string[], stdin?: string): Promise<string> {
    return mustRun(this.run, this.failures, jail, operation, argv, stdin);
  }
}
