// The CLI's side of the control socket: one connection per request, newline-delimited JSON.
import { createConnection } from 'node:net';
import type {
  ControlErrorCode,
  ControlRequest,
  ControlResponse,
  ControlResults,
} from '../server/control-protocol.js';

/** Why the server could not be reached; each CLI flavour words it its own way. */
export type Unreachable = 'missing' | 'refused' | 'permission' | 'timeout' | 'closed';

export class ServerUnreachableError extends Error {
  constructor(
    readonly reason: Unreachable,
    readonly socketPath: string,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'ServerUnreachableError';
  }
}

/** The server answered with `{ok: false}`. */
export class ServerReplyError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
    readonly jail?: string,
    readonly value?: string,
    /** With 'refused': how many addresses were newly banned all the same. */
    readonly count?: number,
  ) {
    super(message);
    this.name = 'ServerReplyError';
  }
}

function unreachable(err: NodeJS.ErrnoException, path: string): ServerUnreachableError {
  const reason: Unreachable =
    err.code === 'ENOENT' || err.code === 'ENOTDIR'
      ? 'missing'
      : err.code === 'EACCES' || err.code === 'EPERM'
        ? 'permission'
        : err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK'
          ? 'refused'
          : 'closed';
  return new ServerUnreachableError(reason, path, err.message);
}

class BacklogFull extends Error {
  constructor(override readonly cause: NodeJS.ErrnoException) {
    super(cause.message);
  }
}

export class ControlClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 30_000,
  ) {}

  async request<R extends ControlRequest>(req: R): Promise<ControlResults[R['cmd']]> {
    const reply = await this.exchangeRetrying(req);
    if (reply.ok) return reply.result as ControlResults[R['cmd']];
    const { code, message, jail, value, count } = reply.error;
    throw new ServerReplyError(code, message, jail, value, count);
  }

  /**
   * EAGAIN on connect means the server's accept backlog is momentarily full (a burst of clients); the
   * request was not delivered, so trying again shortly is safe.
   */
  private async exchangeRetrying(req: ControlRequest): Promise<ControlResponse> {
    const deadline = Date.now() + this.timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        return await this.exchange(req);
      } catch (err) {
        if (!(err instanceof BacklogFull) || Date.now() + delay > deadline) {
          throw err instanceof BacklogFull ? unreachable(err.cause, this.socketPath) : err;
        }
      }
      // Jitter spreads a burst of retrying clients out instead of sending them back in lockstep.
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
    }
  }

  private exchange(req: ControlRequest): Promise<ControlResponse> {
    const path = this.socketPath;
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      const chunks: Buffer[] = [];
      let settled = false;
      const finish = (err: Error | null, reply?: ControlResponse): void => {
        if (settled) return;
        settled = true;
        socket.destroy();
        if (err) reject(err);
        else resolve(reply as ControlResponse);
      };
      socket.setTimeout(this.timeoutMs, () =>
        finish(new ServerUnreachableError('timeout', path, `no answer within ${this.timeoutMs} ms`)),
      );
      let connected = false;
      socket.once('connect', () => {
        connected = true;
        socket.write(`${JSON.stringify(req)}\n`);
      });
      socket.on('error', (err: NodeJS.ErrnoException) =>
        finish(err.code === 'EAGAIN' && !connected ? new BacklogFull(err) : unreachable(err, path)),
      );
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (chunk.indexOf(10) === -1) return;
        const line = Buffer.concat(chunks).toString('utf8');
        try {
          finish(null, JSON.parse(line.slice(0, line.indexOf('\n'))) as ControlResponse);
        } catch {
          finish(new ServerUnreachableError('closed', path, 'the server sent a malformed reply'));
        }
      });
      socket.once('close', () =>
        finish(new ServerUnreachableError('closed', path, 'the server closed the connection without answering')),
      );
    });
  }
}
