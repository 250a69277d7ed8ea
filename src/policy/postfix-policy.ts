// Postfix's policy delegation protocol (SMTPD_POLICY_README): Postfix writes `name=value` lines ended by an
// empty line, we answer `action=...` and an empty line, and the connection is reused for the next
// request. A banned `client_address` gets the configured action (REJECT by default), anything else
// DUNNO, so Postfix goes on with its other restrictions. Garbage never crashes the server: a request
// without a client address gets DUNNO, and a request too large or not text closes that connection only.
import { createServer, type Server, type Socket } from 'node:net';

/** A request larger than this is not Postfix's (its real ones are well under 2 KiB). */
export const MAX_REQUEST_BYTES = 64 * 1024;

export const DUNNO = 'DUNNO';

export interface PostfixPolicyOptions {
  /** The jail banning an address, or null. */
  bannedBy: (address: string) => string | null;
  /** The action for a banned client, without `action=`: e.g. `REJECT 5.7.1 banned`. */
  action: string;
}

/** The answer (without `action=`) to one request's attributes. */
export function policyAction(attrs: ReadonlyMap<string, string>, options: PostfixPolicyOptions): string {
  const client = attrs.get('client_address');
  if (client === undefined || client === '') return DUNNO;
  return options.bannedBy(client) === null ? DUNNO : options.action;
}

/**
 * Splits a connection's bytes into requests. push() returns the requests completed by this chunk, or
 * null when the stream is not a policy client (oversized request, NUL byte, a line without `=`).
 */
export class PolicyRequestReader {
  private pending = '';
  private attrs = new Map<string, string>();

  push(chunk: string): Map<string, string>[] | null {
    if (chunk.includes('\0')) return null;
    this.pending += chunk;
    const done: Map<string, string>[] = [];
    for (let nl = this.pending.indexOf('\n'); nl !== -1; nl = this.pending.indexOf('\n')) {
      const line = this.pending.slice(0, nl).replace(/\r$/, '');
      this.pending = this.pending.slice(nl + 1);
      if (line === '') {
        done.push(this.attrs);
        this.attrs = new Map();
        continue;
      }
      const eq = line.indexOf('=');
      if (eq <= 0) return null;
      this.attrs.set(line.slice(0, eq), line.slice(eq + 1));
    }
    if (this.pending.length + this.size() > MAX_REQUEST_BYTES) return null;
    return done;
  }

  private size(): number {
    let n = 0;
    for (const [k, v] of this.attrs) n += k.length + v.length + 2;
    return n;
  }
}

/** Serves one connection until Postfix closes it (it keeps it for several requests). */
export function servePolicyConnection(socket: Socket, options: PostfixPolicyOptions): void {
  const reader = new PolicyRequestReader();
  socket.setEncoding('latin1');
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    const requests = reader.push(chunk);
    if (requests === null) {
      socket.destroy();
      return;
    }
    for (const attrs of requests) socket.write(`action=${policyAction(attrs, options)}\n\n`);
  });
}

/** A policy server on a unix socket path or a TCP host:port; resolves once it listens. */
export function startPostfixPolicyServer(at: { path: string } | { host: string; port: number }, options: PostfixPolicyOptions): Promise<Server> {
  const server = createServer((socket) => servePolicyConnection(socket, options));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = () => {
      server.off('error', reject);
      resolve(server);
    };
    if ('path' in at) server.listen(at.path, ready);
    else server.listen(at.port, at.host, ready);
  });
}
