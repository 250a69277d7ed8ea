// Dovecot's authentication policy protocol (auth_policy_server_url): before each authentication Dovecot
// POSTs `?command=allow` with a JSON object of auth_policy_request_attributes (`remote` is the client's
// address, the real one behind a PROXY-protocol proxy), and after it `?command=report`. The answer is
// `{"status":N,"msg":"..."}`: negative refuses, 0 allows, positive delays by N seconds. Banned addresses
// get -1; everything else, malformed requests included, gets 0, so a confused client is never locked out.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export const MAX_BODY_BYTES = 64 * 1024;

export interface DovecotPolicyOptions {
  bannedBy: (address: string) => string | null;
  /** `msg` for a refused client. */
  message: string;
}

export interface PolicyAnswer {
  status: number;
  msg: string;
}

const ALLOW: PolicyAnswer = { status: 0, msg: '' };

/** The answer to one request: its `command` query parameter and its body. */
export function dovecotAnswer(command: string | null, body: string, options: DovecotPolicyOptions): PolicyAnswer {
  // A report tells what happened; only `allow` (sent before authentication) asks for a verdict.
  if (command !== 'allow') return ALLOW;
  let request: unknown;
  try {
    request = JSON.parse(body);
  } catch {
    return ALLOW;
  }
  const remote = typeof request === 'object' && request !== null ? (request as Record<string, unknown>).remote : undefined;
  if (typeof remote !== 'string' || options.bannedBy(remote) === null) return ALLOW;
  return { status: -1, msg: options.message };
}

function handle(req: IncomingMessage, res: ServerResponse, options: DovecotPolicyOptions): void {
  const reply = (code: number, answer: PolicyAnswer | null): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(answer === null ? undefined : JSON.stringify(answer));
  };
  if (req.method !== 'POST') {
    reply(405, null);
    req.resume();
    return;
  }
  const command = new URL(req.url ?? '/', 'http://policy').searchParams.get('command');
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      reply(413, null);
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size <= MAX_BODY_BYTES) reply(200, dovecotAnswer(command, Buffer.concat(chunks).toString('utf8'), options));
  });
  req.on('error', () => res.destroy());
}

/** The HTTP server on host:port; resolves once it listens. */
export function startDovecotPolicyServer(at: { host: string; port: number }, options: DovecotPolicyOptions): Promise<Server> {
  const server = createServer((req, res) => handle(req, res, options));
  // Dovecot keeps connections open between requests; an idle one is closed after this long.
  server.keepAliveTimeout = 10_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
