// Mail clients for the end-to-end tests: one IMAP LOGIN or one SMTP AUTH, made from inside a network
// namespace. A process cannot switch its own namespace, so this same file also runs as a helper process
// per namespace (`ip netns exec NS node mailserver-client.js serve`), started on first use and kept, so
// an attempt costs a TCP exchange rather than a Node start-up (0.1-1 s on a loaded CI machine).
// Requests and replies are JSON lines on its stdin/stdout.
// Hand-written because no maintained Node library speaks just "LOGIN then stop" for IMAP and SMTP
// without pulling in far more than these two short exchanges.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * ok: credentials accepted. auth-failed: the server said no. refused: no connection (RST, ICMP
 * unreachable, reset before the greeting: what a REJECT ban looks like). timeout: no answer in time
 * (what a DROP ban looks like). error: the server answered something this client does not expect.
 */
export type MailOutcome = 'ok' | 'auth-failed' | 'refused' | 'timeout' | 'error';
const OUTCOMES: readonly string[] = ['ok', 'auth-failed', 'refused', 'timeout', 'error'];

export type SmtpMechanism = 'PLAIN' | 'LOGIN';

const SELF = fileURLToPath(import.meta.url);

/** One IMAP `LOGIN user pass` against addr:port (143), made from namespace `ns`. */
export function imapLogin(
  ns: string,
  addr: string,
  user: string,
  pass: string,
  timeoutMs: number,
  port = 143,
): Promise<MailOutcome> {
  return helperFor(ns).request({ proto: 'imap', host: addr, port, user, pass, timeoutMs });
}

/** One SMTP `AUTH PLAIN` (or LOGIN) after EHLO against addr:port (587), made from namespace `ns`. */
export function smtpAuth(
  ns: string,
  addr: string,
  user: string,
  pass: string,
  timeoutMs: number,
  mechanism: SmtpMechanism = 'PLAIN',
  port = 587,
): Promise<MailOutcome> {
  return helperFor(ns).request({ proto: 'smtp', host: addr, port, user, pass, timeoutMs, mech: mechanism });
}

interface Request {
  proto: 'imap' | 'smtp';
  host: string;
  port: number;
  user: string;
  pass: string;
  timeoutMs: number;
  mech?: SmtpMechanism;
}

/** Stops the helper processes of these namespaces (all when none given). Pending attempts reject. */
export function closeMailClients(namespaces?: readonly string[]): void {
  for (const [ns, helper] of helpers) if (!namespaces || namespaces.includes(ns)) helper.close();
}

const helpers = new Map<string, Helper>();

function helperFor(ns: string): Helper {
  let helper = helpers.get(ns);
  if (!helper) {
    helper = new Helper(ns);
    helpers.set(ns, helper);
  }
  return helper;
}

/** The parent's side of one namespace's helper process. */
class Helper {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (o: MailOutcome) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private stderr = '';

  constructor(private readonly ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, SELF, 'serve'], { stdio: 'pipe' });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as { id: number; outcome?: MailOutcome; error?: string };
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.outcome && OUTCOMES.includes(reply.outcome)) p.resolve(reply.outcome);
      else p.reject(new Error(`mail client in ${ns}: ${reply.error ?? line}`));
      this.idle();
    });
    this.child.on('exit', (code, sig) => {
      helpers.delete(ns);
      const why = new Error(`mail client in ${ns} exited (${code ?? sig}): ${this.stderr.trim()}`);
      for (const p of this.pending.values()) p.reject(why);
      this.pending.clear();
    });
    this.child.on('error', () => {}); // reported by 'exit'
    this.idle();
  }

  request(req: Request): Promise<MailOutcome> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // While an answer is awaited the helper keeps the event loop alive; idle, it never does.
      this.child.ref();
      (this.child.stdout as unknown as { ref(): void }).ref();
      this.child.stdin.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  }

  close(): void {
    helpers.delete(this.ns);
    this.child.stdin.end();
    this.child.kill('SIGTERM');
  }

  private idle(): void {
    if (this.pending.size > 0) return;
    this.child.unref();
    (this.child.stdout as unknown as { unref(): void }).unref();
    (this.child.stderr as unknown as { unref(): void }).unref();
    (this.child.stdin as unknown as { unref(): void }).unref();
  }
}

class Closed extends Error {}

/** Line-oriented conversation over one TCP connection, bounded by one deadline for the whole exchange. */
async function converse(
  host: string,
  port: number,
  timeoutMs: number,
  talk: (readLine: () => Promise<string>, write: (s: string) => void) => Promise<MailOutcome>,
): Promise<MailOutcome> {
  const socket: Socket = connect({ host, port });
  let greeted = false;
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const deadline = new Promise<MailOutcome>((resolve) => {
    const t = setTimeout(() => resolve('timeout'), timeoutMs);
    socket.once('close', () => clearTimeout(t));
  });
  const exchange = (async (): Promise<MailOutcome> => {
    try {
      await connected;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'].includes(code)) return 'refused';
      throw err;
    }
    socket.on('error', () => {}); // reported through readLine as Closed
    const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]();
    const readLine = async (): Promise<string> => {
      const r = await lines.next();
      if (r.done) throw new Closed();
      greeted = true;
      return r.value;
    };
    try {
      return await talk(readLine, (s) => socket.write(s));
    } catch (err) {
      if (err instanceof Closed) return greeted ? 'error' : 'refused';
      throw err;
    }
  })();
  let outcome: MailOutcome;
  try {
    outcome = await Promise.race([exchange, deadline]);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  if (outcome === 'timeout') {
    socket.destroy();
  } else {
    // The goodbye (LOGOUT/QUIT) is already written. Dovecot and Postfix often answer it only after
    // ~0.5 s, so the outcome is reported now and the connection is half-closed, letting the server finish and log a
    // complete session; a server that never closes is cut off later.
    socket.end();
    setTimeout(() => socket.destroy(), 5000).unref();
  }
  return outcome;
}

const imapQuote = (s: string): string => `"${s.replace(/[\\"]/g, '\\$&')}"`;

async function imapExchange(host: string, port: number, user: string, pass: string, timeoutMs: number) {
  return converse(host, port, timeoutMs, async (readLine, write) => {
    if (!(await readLine()).startsWith('* OK')) return 'error';
    write(`a1 LOGIN ${imapQuote(user)} ${imapQuote(pass)}\r\n`);
    let reply = await readLine();
    while (!reply.startsWith('a1 ')) reply = await readLine();
    const outcome: MailOutcome = reply.startsWith('a1 OK') ? 'ok' : reply.startsWith('a1 NO') ? 'auth-failed' : 'error';
    // Log out like a well-behaved client so the server logs a complete session.
    write('a2 LOGOUT\r\n');
    return outcome;
  });
}

/** Reads one SMTP reply (all continuation lines) and returns its code. */
async function smtpReply(readLine: () => Promise<string>): Promise<string> {
  let line = await readLine();
  while (line.charAt(3) === '-') line = await readLine();
  return line.slice(0, 3);
}

async function smtpExchange(
  host: string,
  port: number,
  user: string,
  pass: string,
  timeoutMs: number,
  mech: SmtpMechanism,
) {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return converse(host, port, timeoutMs, async (readLine, write) => {
    if ((await smtpReply(readLine)) !== '220') return 'error';
    write('EHLO client.portcullis.test\r\n');
    if ((await smtpReply(readLine)) !== '250') return 'error';
    let code: string;
    if (mech === 'PLAIN') {
      write(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}\r\n`);
      code = await smtpReply(readLine);
    } else {
      write('AUTH LOGIN\r\n');
      if ((await smtpReply(readLine)) !== '334') return 'error';
      write(`${b64(user)}\r\n`);
      if ((await smtpReply(readLine)) !== '334') return 'error';
      write(`${b64(pass)}\r\n`);
      code = await smtpReply(readLine);
    }
    write('QUIT\r\n');
    return code === '235' ? 'ok' : code === '535' ? 'auth-failed' : 'error';
  });
}

/** Helper-process side: one JSON request per stdin line, one JSON reply per stdout line, concurrently. */
function serve(): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    let id = 0;
    (async () => {
      const req = JSON.parse(line) as Request & { id: number };
      id = req.id;
      const outcome =
        req.proto === 'imap'
          ? await imapExchange(req.host, req.port, req.user, req.pass, req.timeoutMs)
          : await smtpExchange(req.host, req.port, req.user, req.pass, req.timeoutMs, req.mech ?? 'PLAIN');
      process.stdout.write(`${JSON.stringify({ id, outcome })}\n`);
    })().catch((err: unknown) => {
      process.stdout.write(`${JSON.stringify({ id, error: err instanceof Error ? err.message : String(err) })}\n`);
    });
  });
}

if (process.argv[1] === SELF && process.argv[2] === 'serve') serve();
