// Network namespaces for end-to-end tests: a server and an attacker joined by a veth pair, a TCP
// listener in one, connection attempts from the other. Nothing here touches the host's own ruleset;
// firewall commands are aimed at a namespace with `inNamespace(ns)` as their command prefix.
import { spawn, spawnSync } from 'node:child_process';

export type ConnectResult = 'connected' | 'refused' | 'timeout';

export interface Pair {
  server: string;
  attacker: string;
  serverV4: string;
  attackerV4: string;
  serverV6: string;
  attackerV6: string;
  /** Deletes both namespaces (and with them the veth pair and every rule inside). Idempotent. */
  destroy(): void;
}

/** Why e2e tests in namespaces cannot run here, or null when they can. */
export function netnsUnavailable(tools: readonly string[] = []): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const tool of ['ip', ...tools]) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return null;
}

/** The argv prefix that runs a command inside `ns`. */
export function inNamespace(ns: string): string[] {
  return ['ip', 'netns', 'exec', ns];
}

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

const live = new Set<string>();
let cleanupHooked = false;

function deleteNamespace(ns: string): void {
  spawnSync('ip', ['netns', 'del', ns]);
  live.delete(ns);
}

let counter = 0;

/**
 * Creates `<tag>s`/`<tag>a` namespaces: server 192.0.2.1 + 2001:db8::1, attacker 192.0.2.2 + 2001:db8::2
 * (documentation prefixes, /24 and /64). Namespaces are removed on `destroy()` and, as a last resort,
 * when the process exits.
 */
export function createPair(tag = 'pc'): Pair {
  if (!cleanupHooked) {
    cleanupHooked = true;
    process.on('exit', () => {
      for (const ns of [...live]) deleteNamespace(ns);
    });
  }
  const id = `${tag}${process.pid % 100000}${counter++}`;
  const server = `${id}s`;
  const attacker = `${id}a`;
  for (const ns of [server, attacker]) {
    deleteNamespace(ns); // a leftover from a killed run
    ip('netns', 'add', ns);
    live.add(ns);
  }
  const pair: Pair = {
    server,
    attacker,
    serverV4: '192.0.2.1',
    attackerV4: '192.0.2.2',
    serverV6: '2001:db8::1',
    attackerV6: '2001:db8::2',
    destroy() {
      deleteNamespace(server);
      deleteNamespace(attacker);
    },
  };
  try {
    ip('link', 'add', 'vs', 'netns', server, 'type', 'veth', 'peer', 'name', 'va', 'netns', attacker);
    for (const [ns, dev, v4, v6] of [
      [server, 'vs', pair.serverV4, pair.serverV6],
      [attacker, 'va', pair.attackerV4, pair.attackerV6],
    ] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev);
      // nodad: the address is usable at once instead of after duplicate address detection.
      ip('-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
  } catch (err) {
    pair.destroy();
    throw err;
  }
  return pair;
}

export interface Listener {
  ports: number[];
  close(): Promise<void>;
}

const LISTEN = `
const net = require('node:net');
const ports = process.argv.slice(1).map(Number);
let ready = 0;
for (const port of ports) {
  net.createServer((s) => s.end()).listen({ port, host: '::', ipv6Only: false }, () => {
    if (++ready === ports.length) process.stdout.write('ready\\n');
  });
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/** Runs a TCP server on every given port (IPv4 and IPv6) inside `ns`; resolves when it accepts. */
export function listen(ns: string, ports: number[]): Promise<Listener> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', LISTEN, ...ports.map(String)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`listener in ${ns} exited with ${code}`)));
    child.stdout.once('data', () => {
      child.removeAllListeners('exit');
      resolve({
        ports,
        close: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.stdin.end();
          }),
      });
    });
  });
}

const CONNECT = `
const net = require('node:net');
const [host, port, ms] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
const done = (r) => { process.stdout.write(r); process.exit(0); };
s.setTimeout(Number(ms), () => done('timeout'));
s.on('connect', () => done('connected'));
s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error:' + e.code));
`;

/** One TCP connection attempt from `ns` to host:port; a drop shows as 'timeout', a reject as 'refused'. */
export function tryConnect(ns: string, host: string, port: number, timeoutMs = 1000): Promise<ConnectResult> {
  const r = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', CONNECT, host, String(port), String(timeoutMs)]);
  let out = '';
  r.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  return new Promise((resolve, reject) => {
    r.on('close', () => {
      if (out === 'connected' || out === 'refused' || out === 'timeout') resolve(out);
      else reject(new Error(`connect from ${ns} to ${host}:${port} failed unexpectedly: ${out}`));
    });
  });
}
