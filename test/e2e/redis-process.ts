// A real Debian redis-server for the fleet tests and bench: its own temp dir, listening only on a unix
// socket there (reachable from every network namespace, which share the file system), append-only file
// fsynced on every write so a kill -9 loses nothing it acknowledged. Never the system's service.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface RedisProcess {
  dir: string;
  socket: string;
  url: string;
  /** A client for the test itself. */
  client(): Redis;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same dir and socket (its data comes back from the append-only file). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `extra`: more redis-server arguments, e.g. ['--user', 'fleet', 'on', '>pw', '~portcullis:*', '+xadd']. */
export async function startRedis(extra: readonly string[] = []): Promise<RedisProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redis-'));
  const socket = join(dir, 'redis.sock');
  let child: ChildProcess | null = null;
  const clients: Redis[] = [];
  const launch = async () => {
    child = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', ...extra], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 10_000;
    while (!existsSync(socket)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('redis-server did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const kill = async () => {
    const c = child as ChildProcess | null;
    if (c === null || c.exitCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
    rmSync(socket, { force: true });
  };
  await launch();
  return {
    dir,
    socket,
    url: `unix://${socket}`,
    client() {
      const c = new Redis({ path: socket, maxRetriesPerRequest: 1 });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    kill,
    restart: launch,
    async stop() {
      for (const c of clients) c.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
