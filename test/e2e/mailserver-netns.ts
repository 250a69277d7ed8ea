// Network namespaces for the mail-server harness: one SERVER namespace holding a bridge, and two client
// namespaces (attacker, legit) plugged into that bridge by veth pairs. Kept here (not shared) because the
// mail tests need their own address plan, so they can run beside the firewall tests' namespaces.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Addresses of the mail test network: TEST-NET-2 and a documentation /64 of its own. */
export const MAIL_NET = {
  prefix4: 24,
  prefix6: 64,
  server4: '198.51.100.1',
  server6: '2001:db8:1::1',
  attacker4: '198.51.100.10',
  attacker6: '2001:db8:1::10',
  legit4: '198.51.100.20',
  legit6: '2001:db8:1::20',
} as const;

export interface ClientNs {
  /** Namespace name, for `ip netns exec`. */
  ns: string;
  addr4: string;
  addr6: string;
}

export interface MailNet {
  /** Namespace where Dovecot, Postfix (and later portcullis) run. */
  server: string;
  serverAddr4: string;
  serverAddr6: string;
  attacker: ClientNs;
  legit: ClientNs;
  /** Kills every process left in the namespaces and deletes them. Safe to call twice. */
  destroy(): Promise<void>;
  /** Same as destroy(), synchronous: for process 'exit' handlers. */
  destroySync(): void;
}

/** Runs a command as argv (never a shell) and returns stdout; the error names the command and its stderr. */
export async function run(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: timeoutMs, encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

// Names carry the creating process's pid, so a later run can tell leftovers of a killed run from the
// namespaces of a run still going.
const NAME = /^pcmail-(\d+)-[0-9a-f]+-(?:srv|att|leg)$/;

/**
 * Creates the three namespaces and wires them; on any failure removes what it made and rethrows.
 * First removes namespaces (and their processes) left by runs whose process no longer exists.
 */
export async function createMailNet(): Promise<MailNet> {
  sweepStaleMailNets();
  const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const server = `pcmail-${tag}-srv`;
  const attacker: ClientNs = { ns: `pcmail-${tag}-att`, addr4: MAIL_NET.attacker4, addr6: MAIL_NET.attacker6 };
  const legit: ClientNs = { ns: `pcmail-${tag}-leg`, addr4: MAIL_NET.legit4, addr6: MAIL_NET.legit6 };
  const created: string[] = [];
  let destroyed = false;

  const destroySync = (): void => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of created) {
      killNamespacePids(ns);
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  };
  const net: MailNet = {
    server,
    serverAddr4: MAIL_NET.server4,
    serverAddr6: MAIL_NET.server6,
    attacker,
    legit,
    destroy: async () => destroySync(),
    destroySync,
  };

  // One `ip -batch` per namespace: each `ip` start costs ~0.1 s on a loaded machine, and there are 20.
  // nodad: IPv6 addresses are usable at once instead of after ~2 s of duplicate detection.
  const clients = [
    [attacker, 'v-att'],
    [legit, 'v-leg'],
  ] as const;
  try {
    for (const ns of [server, attacker.ns, legit.ns]) {
      await run('ip', ['netns', 'add', ns]);
      created.push(ns);
    }
    await ipBatch(server, [
      'link set lo up',
      'link add br0 type bridge',
      `addr add ${MAIL_NET.server4}/${MAIL_NET.prefix4} dev br0`,
      `addr add ${MAIL_NET.server6}/${MAIL_NET.prefix6} dev br0 nodad`,
      'link set br0 up',
      // Created inside the server namespace so no interface name ever exists in the host's namespace.
      ...clients.flatMap(([c, port]) => [
        `link add ${port} type veth peer name eth0 netns ${c.ns}`,
        `link set ${port} master br0 up`,
      ]),
    ]);
    for (const [c] of clients) {
      await ipBatch(c.ns, [
        'link set lo up',
        `addr add ${c.addr4}/${MAIL_NET.prefix4} dev eth0`,
        `addr add ${c.addr6}/${MAIL_NET.prefix6} dev eth0 nodad`,
        'link set eth0 up',
      ]);
    }
  } catch (err) {
    destroySync();
    throw err;
  }
  return net;
}

/** Runs `ip -n ns -batch -` with these commands (our own constants, never outside text). */
function ipBatch(ns: string, commands: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['-n', ns, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`ip -n ${ns} -batch failed: ${stderr.trim()}`));
    });
    child.stdin.end(`${commands.join('\n')}\n`);
  });
}

/** Deletes mail-test namespaces whose creating process is gone (a run killed with SIGKILL). */
export function sweepStaleMailNets(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const owner = NAME.exec(ns)?.[1];
    if (owner === undefined || alive(Number(owner))) continue;
    killNamespacePids(ns);
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/** Whether process `pid` exists (EPERM: exists, not ours). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs every process whose network namespace is `ns` (daemons that outlived a polite stop). */
export function killNamespacePids(ns: string): void {
  const out = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const pid of (out.stdout ?? '').split(/\s+/)) {
    if (/^\d+$/.test(pid)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
