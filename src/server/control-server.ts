// The control socket: a Unix socket only root can open (mode 0600 by default), serving the protocol of
// control-protocol.ts to `portcullis`, `fail2ban-client` and `setup fail2ban`, and Fail2Ban's own pickle
// protocol (pickle-connection.ts) to Fail2Ban's clients and tools. Anything a client sends is
// untrusted: lines are size-capped, idle connections time out, and no request can crash the daemon.
import { lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import { describeError, dispatch } from './control-dispatch.js';
import {
  ControlError,
  type ControlHandler,
  type ControlRequest,
  type ControlResponse,
  parseRequest,
} from './control-protocol.js';

export interface ControlServerOptions {
  path: string;
  handler: ControlHandler;
  /** File mode of the socket; 0o600 keeps it root-only. */
  mode?: number;
  /** Remove a socket file left behind by a crash (`-x`). A live server on the path is never displaced. */
  force?: boolean;
  /** Longest request line accepted, in bytes. */
  maxRequestBytes?: number;
  /** A connection that sends nothing for this long is closed. */
  idleTimeoutMs?: number;
  /**
   * A request must be complete (its newline received) this long after its first byte; a client that
   * trickles a byte now and then to dodge the idle timeout is cut off.
   */
  requestDeadlineMs?: number;
}

export interface ControlServer {
  readonly path: string;
  /** Stops listening, closes open connections and removes the socket file. */
  close(): Promise<void>;
}

const defaultMaxRequestBytes = 1024 * 1024;
const defaultIdleTimeoutMs = 30_000;
const defaultRequestDeadlineMs = 10_000;
const maxPipelined = 32;

/** True when something accepts connections on `path` (a live server), false when nothing does. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Throws when another server answers on `path`. The daemon calls it before touching the firewall: a
 * second instance must not reconcile the first one's rules away.
 */
export async function refuseLiveServer(path: string): Promise<void> {
  if (await answers(path)) {
    throw new UserError(
      `another server is already running on ${path}; stop it first (portcullis stop) or use another socket`,
      1,
    );
  }
}

/**
 * Makes `path` free for the control socket, or throws a UserError: a live server, a file that is not a
 * socket (a regular file, a symlink, a dangling symlink), or a stale socket without `force`. The daemon
 * calls it before touching the firewall, and again when it listens.
 */
export async function clearPath(path: string, force: boolean): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) {
    throw new UserError(`cannot create the control socket: ${path} exists and is not a socket; move it away`, 1);
  }
  await refuseLiveServer(path);
  if (!force) {
    throw new UserError(
      `stale control socket ${path} (left by a crash?); remove it or start the server with -x`,
      1,
    );
  }
  unlinkSync(path);
}

/** Listens with a umask that already yields `mode`, so there is no moment when others may connect. */
function listen(server: Server, path: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const previous = process.umask(0o777 & ~mode);
    try {
      // A deep backlog (the kernel caps it at net.core.somaxconn) absorbs bursts of clients, e.g. a
      // script banning a thousand addresses in parallel.
      server.listen({ path, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
}

export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const { path, handler } = options;
  const mode = options.mode ?? 0o600;
  const maxBytes = options.maxRequestBytes ?? defaultMaxRequestBytes;
  const idleMs = options.idleTimeoutMs ?? defaultIdleTimeoutMs;
  const deadlineMs = options.requestDeadlineMs ?? defaultRequestDeadlineMs;
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  await clearPath(path, options.force ?? false);

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serveConnection(socket, handler, maxBytes, idleMs);
    cutOffTricklers(socket, deadlineMs);
  });
  // A failing accept (EMFILE…) must not take the daemon down; the client sees a refused connection.
  server.on('error', () => {});
  await listen(server, path, mode);

  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          try {
            unlinkSync(path);
          } catch {
            // Already gone (Node removes it on close on some versions).
          }
          resolve();
        });
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/**
 * Tells the two protocols apart from the first byte: a pickle starts with PROTO (0x80) or, from protocol
 * 0/1 encoders, with MARK/EMPTY_LIST/EMPTY_TUPLE; Fail2Ban's close message starts with `<`. JSON requests
 * start with `{` and anything else goes to the JSON path, which answers it as an invalid request.
 */
function isPickleStart(byte: number): boolean {
  return byte === 0x80 || byte === 0x3c || byte === 0x28 || byte === 0x5d || byte === 0x29;
}

function serveConnection(socket: Socket, handler: ControlHandler, maxBytes: number, idleMs: number): void {
  socket.setTimeout(idleMs, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.once('data', (first: Buffer) => {
    if (!isPickleStart(first[0] as number)) {
      serveJson(socket, handler, maxBytes);
      socket.emit('data', first);
      return;
    }
    // Fail2Ban's own clients are rare next to ours: the pickle modules load on the first one, not at
    // start (they stay in the idle daemon's memory once loaded). Bytes arriving meanwhile wait in the socket.
    socket.pause();
    import('./pickle-connection.js').then(
      ({ servePickle }) => {
        servePickle(socket, handler, maxBytes, idleMs);
        // resume() lets buffered bytes flow only on the next tick, after `first`; servePickle may pause again.
        socket.resume();
        socket.emit('data', first);
      },
      () => socket.destroy(),
    );
  });
}

function serveJson(socket: Socket, handler: ControlHandler, maxBytes: number): void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  // Requests on one connection are answered in order, one at a time. A client that pipelines faster
  // than it is answered is paused, so its backlog cannot grow without bound.
  let queue: Promise<void> = Promise.resolve();
  let waiting = 0;

  const enqueue = (line: string): void => {
    if (++waiting >= maxPipelined) socket.pause();
    queue = queue.then(async () => {
      await answer(socket, handler, line);
      if (--waiting < maxPipelined) socket.resume();
    });
  };

  socket.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, nl);
      if (pendingBytes + part.length > maxBytes) return tooLarge(socket, maxBytes);
      pending.push(part);
      const line = Buffer.concat(pending).toString('utf8');
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
      if (line.trim() !== '') enqueue(line);
    }
    const rest = chunk.subarray(start);
    if (pendingBytes + rest.length > maxBytes) return tooLarge(socket, maxBytes);
    if (rest.length > 0) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
  });
}

/** How Fail2Ban's pickle client ends a command; JSON requests end with a newline. */
const pickleEnd = Buffer.from('<F2B_END_COMMAND>');

/**
 * Bounds the time from a request's first byte to its end (a newline, or Fail2Ban's end marker). Runs
 * beside the protocol's own reader and only looks at where requests end, so it fits both protocols.
 */
function cutOffTricklers(socket: Socket, deadlineMs: number): void {
  let timer: NodeJS.Timeout | null = null;
  let tail = Buffer.alloc(0);
  const clear = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  socket.on('data', (chunk: Buffer) => {
    // The marker may straddle two chunks. The tail kept is one byte shorter than the marker, so a
    // marker found here always ends in this chunk.
    const seen = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk;
    tail = Buffer.from(seen.subarray(-(pickleEnd.length - 1)));
    if (chunk.includes(10) || seen.includes(pickleEnd)) clear();
    const complete = chunk[chunk.length - 1] === 10 || seen.subarray(-pickleEnd.length).equals(pickleEnd);
    // Bytes after the last request's end start (or continue) one that must finish in time.
    if (!complete) timer ??= setTimeout(() => socket.destroy(), deadlineMs);
  });
  socket.once('close', clear);
}

function tooLarge(socket: Socket, maxBytes: number): void {
  const reply: ControlResponse = {
    ok: false,
    error: { code: 'too-large', message: `request longer than ${maxBytes} bytes` },
  };
  socket.end(`${JSON.stringify(reply)}\n`);
  socket.removeAllListeners('data');
}

async function answer(socket: Socket, handler: ControlHandler, line: string): Promise<void> {
  let request: ControlRequest | null = null;
  let reply: ControlResponse;
  try {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new ControlError('bad-request', 'the request is not valid JSON');
    }
    request = parseRequest(parsed);
    reply = { ok: true, result: await dispatch(handler, request) };
  } catch (err) {
    reply = { ok: false, error: describeError(err) };
  }
  if (socket.destroyed) return;
  await new Promise<void>((resolve) => socket.write(`${JSON.stringify(reply)}\n`, () => resolve()));
  if (request?.cmd === 'stop' && reply.ok) {
    try {
      await handler.stop();
    } catch {
      // The reply is out; a failing shutdown is the daemon's to log.
    }
  }
}
