// One network namespace has one `inet f2b-table` (and one set of f2b-* iptables chains), so only one
// daemon may manage them. The lock is a listening abstract Unix socket: the abstract namespace belongs
// to the network namespace, and the kernel frees the name the moment the holder dies (kill -9
// included), so there is no stale lock file to judge. Whoever asks on it learns who holds it.
import { statSync } from 'node:fs';
import { type Server, createConnection, createServer } from 'node:net';
import { ExitCode, UserError } from '../errors.js';

export interface LockHolder {
  pid: number;
  socket: string;
}

export interface NetnsLock {
  readonly name: string;
  release(): Promise<void>;
}

/** The inode of this process's network namespace: the same number for every process inside it. */
export function netnsInode(): number {
  return statSync('/proc/self/ns/net').ino;
}

/** The abstract socket name for the namespace (the leading NUL makes it abstract). */
export function lockName(inode = netnsInode()): string {
  return `\0portcullis-netns-${inode}`;
}

/** Who holds `name`, or null when nobody listens there. */
export function lockHolder(name: string, timeoutMs = 2000): Promise<LockHolder | null | 'unknown'> {
  return new Promise((resolve) => {
    const probe = createConnection(name);
    let text = '';
    const timer = setTimeout(() => finish('unknown'), timeoutMs);
    const finish = (value: LockHolder | null | 'unknown') => {
      clearTimeout(timer);
      probe.destroy();
      resolve(value);
    };
    probe.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (!text.includes('\n')) return;
      try {
        const parsed = JSON.parse(text.slice(0, text.indexOf('\n'))) as LockHolder;
        finish(typeof parsed.pid === 'number' ? parsed : 'unknown');
      } catch {
        finish('unknown');
      }
    });
    probe.once('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED' ? null : 'unknown'));
    probe.once('close', () => finish(text === '' ? 'unknown' : null));
  });
}

function refusal(holder: LockHolder | 'unknown' | null): UserError {
  const who = holder === null || holder === 'unknown' ? 'another portcullis server' : `portcullis server pid ${holder.pid} (socket ${holder.socket})`;
  return new UserError(
    `${who} already manages the firewall of this network namespace; stop it first (portcullis stop -s SOCKET)`,
    ExitCode.failure,
  );
}

/**
 * Takes the namespace's lock for the daemon whose control socket is `socket`, or throws a UserError
 * naming the holder. Nothing in the firewall has been touched when it throws.
 */
export async function acquireNetnsLock(socket: string, name = lockName()): Promise<NetnsLock> {
  const identity = `${JSON.stringify({ pid: process.pid, socket } satisfies LockHolder)}\n`;
  const server: Server = createServer((conn) => {
    conn.on('error', () => {});
    conn.end(identity);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') {
        reject(new UserError(`cannot take the firewall lock ${name.slice(1)}: ${err.message}`, ExitCode.failure));
        return;
      }
      void lockHolder(name).then((holder) => reject(refusal(holder)));
    });
    server.listen(name, () => resolve());
  });
  server.on('error', () => {});
  // The lock must not keep the process alive on its own.
  server.unref();
  return {
    name,
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
