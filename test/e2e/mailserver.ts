// Real Dovecot (IMAP, port 143) and Postfix (submission, port 587, SASL through Dovecot) in a network
// namespace, for end-to-end tests that need genuine mail-server log lines. Each start gets its own
// temporary config tree, queue and mail.log; the host's /etc/dovecot and /etc/postfix are never used.
//
//   const mail = await startMailServer();
//   await imapLogin(mail.net.attacker.ns, mail.serverAddr4, 'x@portcullis.test', 'bad', 3000); // 'auth-failed'
//   await mail.waitForLog(/auth failed.*rip=198\.51\.100\.10/, 5000);
//   ... run portcullis with `ip netns exec ${mail.net.server} ...` reading mail.logPath ...
//   await mail.stop();
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { closeMailClients } from './mailserver-client.js';
import {
  checkCredential,
  dovecotConf,
  type MailLayout,
  type MailProxy,
  passwdFile,
  paths,
  postfixMainCf,
  postfixMasterCf,
} from './mailserver-config.js';
import { alive, createMailNet, killNamespacePids, type MailNet, run } from './mailserver-netns.js';
import { dovecotFileLine, dovecotMessage, MailLogCollector, postfixMessage, type TimestampStyle } from './mailserver-syslog.js';

export { closeMailClients, imapLogin, type MailOutcome, type SmtpMechanism, smtpAuth } from './mailserver-client.js';
export { type MailProxy, PROXIED_PORTS } from './mailserver-config.js';
export type { ClientNs, MailNet } from './mailserver-netns.js';
export type { TimestampStyle } from './mailserver-syslog.js';

export interface MailServerOptions {
  /** The one mailbox that exists. Default user@portcullis.test / correct-horse-7. */
  user?: string;
  password?: string;
  /** Host name in log lines (rsyslog's %HOSTNAME%). Default "mail". */
  hostname?: string;
  /** rsyslog template to imitate. Default 'traditional' ("Nov 24 23:58:12 mail postfix/..."). */
  timestampStyle?: TimestampStyle;
  /**
   * How Dovecot's lines reach mail.log. 'syslog' (default): through syslog, like Postfix's
   * ("Nov 24 23:58:12 mail dovecot: auth: passwd-file(...)"). 'file': written by Dovecot itself, as
   * docker-mailserver releases with `log_path = /var/log/mail/mail.log` do ("Nov 24 23:58:12 auth: Info:
   * passwd-file(...)": no host, no "dovecot:" tag, level word kept).
   */
  dovecotLog?: 'syslog' | 'file';
  /** Add listeners that take PROXY protocol from a proxy and ask portcullis's policy servers. */
  proxy?: MailProxy;
  /** Bound on start-up (daemons listening on both addresses). Default 15 s. */
  startTimeoutMs?: number;
  /** Use these namespaces instead of creating them; stop() then leaves them in place. */
  net?: MailNet;
  /**
   * Keep Dovecot's auth penalty (default false). Real Dovecot delays each auth from an address (IPv6:
   * its /48) that failed recently by 2, 4, 8, 15 s, which would make brute-force tests slow; without it
   * failures answer at once. Log lines are the same either way.
   */
  authPenalty?: boolean;
  /** Keep the temporary tree after stop() (for debugging). Also when PC_MAIL_KEEP=1. */
  keepTemp?: boolean;
}

export interface MailServer {
  /** The syslog-style mail log both daemons write to (via the harness's collector). */
  logPath: string;
  serverAddr4: string;
  serverAddr6: string;
  /** Namespaces: `net.server` (run portcullis here), `net.attacker`, `net.legit`. */
  net: MailNet;
  user: string;
  password: string;
  /** The temporary tree (configs, queue, mail.log). */
  dir: string;
  /** Lines written to logPath so far. */
  logLines(): readonly string[];
  /** First log line (past or future) matching `pattern` (no /g flag); rejects after timeoutMs. */
  waitForLog(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Stops both daemons, deletes the namespaces it created and the temporary tree. Idempotent. */
  stop(): Promise<void>;
}

/** Why the harness cannot run here, or null when it can (root, ip, dovecot, postfix). */
export function mailServerMissing(): string | null {
  if (userInfo().uid !== 0) return 'needs root (network namespaces)';
  for (const bin of ['/usr/sbin/dovecot', '/usr/lib/dovecot/imap-login', '/usr/sbin/postfix', '/usr/lib/postfix/sbin/postlogd']) {
    if (!existsSync(bin)) return `${bin} missing: apt-get install dovecot-imapd postfix`;
  }
  for (const bin of ['/usr/bin/ip', '/sbin/ip', '/usr/sbin/ip', '/bin/ip']) if (existsSync(bin)) return null;
  return 'ip (iproute2) missing';
}

export async function startMailServer(opts: MailServerOptions = {}): Promise<MailServer> {
  const user = opts.user ?? 'user@portcullis.test';
  const password = opts.password ?? 'correct-horse-7';
  checkCredential('user', user);
  checkCredential('password', password);
  const ownsNet = opts.net === undefined;
  const net = opts.net ?? (await createMailNet());
  sweepStaleDirs();
  // The pid in the name lets a later run remove the tree of a run that was killed outright.
  const dir = await mkdtemp(join(tmpdir(), `pc-mail-${process.pid}-`));
  const layout: MailLayout = {
    dir,
    addr4: net.serverAddr4,
    addr6: net.serverAddr6,
    user,
    password,
    hostname: opts.hostname ?? 'mail',
    proxy: opts.proxy,
  };
  const p = paths(dir);
  const keep = opts.keepTemp || process.env.PC_MAIL_KEEP === '1';
  const children: ChildProcess[] = [];
  let collector: MailLogCollector | undefined;
  let stopped = false;

  const stopSync = (): void => {
    // Last resort when the test process exits without stop(): nothing may outlive it.
    for (const child of children) signal(child, 'SIGKILL');
    closeMailClients([net.attacker.ns, net.legit.ns]);
    killNamespacePids(net.server);
    if (ownsNet) net.destroySync();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };
  // Last resorts: normal exit, and Ctrl-C / the test runner's SIGTERM (whose default action skips
  // 'exit' handlers). The signal is raised again afterwards so the process still ends as it would have.
  const onSignal = (sig: NodeJS.Signals): void => {
    stopSync();
    process.kill(process.pid, sig);
  };
  process.once('exit', stopSync);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', stopSync);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    // Polite first, so both log their shutdown; then nothing survives. SIGTERM to Postfix's master is
    // what `postfix stop` sends, without its script's half second of start-up.
    const masterPid = Number((await readFile(join(p.postfixQueue, 'pid', 'master.pid'), 'utf8').catch(() => '')).trim());
    if (masterPid > 0) signalPid(masterPid, 'SIGTERM');
    for (const child of children) signal(child, 'SIGTERM');
    await Promise.all(children.map((c) => exited(c, 3000)));
    for (const child of children) signal(child, 'SIGKILL');
    killNamespacePids(net.server);
    closeMailClients([net.attacker.ns, net.legit.ns]);
    collector?.close();
    if (ownsNet) await net.destroy();
    if (!keep) await rm(dir, { recursive: true, force: true });
  };

  try {
    // Dovecot's login processes (dovenull) and the mail user (nobody) must traverse the tree.
    await chmod(dir, 0o755);
    for (const d of [p.dovecotBase, p.dovecotState, p.home, p.postfixConf, p.postfixQueue, p.postfixData]) {
      await mkdir(d, { recursive: true, mode: 0o755 });
    }
    await writeFile(p.dovecotConf, dovecotConf(layout));
    await writeFile(p.passwd, passwdFile(layout), { mode: 0o644 });
    await writeFile(join(p.postfixConf, 'main.cf'), postfixMainCf(layout));
    await writeFile(join(p.postfixConf, 'master.cf'), postfixMasterCf(layout));
    const postfixUid = await uidOf('postfix');
    await chown(p.postfixData, postfixUid, -1);
    await preparePostfixQueue(p.postfixQueue, postfixUid, await gidOf('postdrop'));
    await chown(p.home, await uidOf('nobody'), -1);

    collector = new MailLogCollector(p.mailLog, layout.hostname, opts.timestampStyle ?? 'traditional');
    const dovecot = spawn('ip', ['netns', 'exec', net.server, 'dovecot', '-F', '-c', p.dovecotConf], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(dovecot);
    for (const stream of [dovecot.stderr, dovecot.stdout]) {
      if (opts.dovecotLog === 'file') collector.attachRaw(stream, dovecotFileLine);
      else collector.attach(stream, dovecotMessage);
    }
    // start-fg keeps the master in the foreground under postfix-script. postlogd opens /dev/stdout by
    // name, which fails on the socket Node gives a child for stdout, hence a real pipe through cat.
    // The directory is passed as $1, never spliced into the script.
    const postfix = spawn(
      'ip',
      ['netns', 'exec', net.server, 'sh', '-c', 'postfix -c "$1" start-fg | cat', 'sh', p.postfixConf],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(postfix);
    collector.attach(postfix.stdout, postfixMessage);
    collector.attach(postfix.stderr, postfixMessage);

    await waitListening(net.server, [layout.addr4, layout.addr6], [143, 587], children, opts.startTimeoutMs ?? 15_000);
    if (!opts.authPenalty) {
      // The auth process starts on first use and, finding no anvil penalty socket, runs without the
      // penalty (Dovecot ignores ENOENT there on purpose). Nothing else uses this socket.
      await rm(join(p.dovecotBase, 'anvil-auth-penalty'));
    }
  } catch (err) {
    const tail = collector?.lines().slice(-10).join('\n') ?? '';
    await stop();
    throw new Error(`mail server did not start: ${(err as Error).message}${tail ? `\nlast log lines:\n${tail}` : ''}`);
  }

  const log = collector;
  return {
    logPath: p.mailLog,
    serverAddr4: net.serverAddr4,
    serverAddr6: net.serverAddr6,
    net,
    user,
    password,
    dir,
    logLines: () => log.lines(),
    waitForLog: (pattern, timeoutMs) => log.waitFor(pattern, timeoutMs),
    stop,
  };
}

function sweepStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const owner = /^pc-mail-(\d+)-/.exec(name)?.[1];
    if (owner !== undefined && !alive(Number(owner))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(sig);
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * The queue tree as Postfix's post-install would create it (Debian's postfix-files), plus the
 * "quick-start" marker that makes postfix-script skip its checks: those spawn ~40 processes and take
 * several seconds, for a tree we have just made correctly.
 */
async function preparePostfixQueue(queue: string, postfixUid: number, postdropGid: number): Promise<void> {
  const dirs: [string, number, number, number][] = [
    ...['active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming', 'private', 'saved', 'trace'].map(
      (d): [string, number, number, number] => [d, postfixUid, -1, 0o700],
    ),
    ['maildrop', postfixUid, postdropGid, 0o730],
    ['public', postfixUid, postdropGid, 0o710],
    ['pid', 0, -1, 0o755],
  ];
  for (const [name, uid, gid, mode] of dirs) {
    const d = join(queue, name);
    await mkdir(d);
    await chown(d, uid, gid);
    await chmod(d, mode);
  }
  await writeFile(join(queue, 'quick-start'), '');
}

async function uidOf(name: string): Promise<number> {
  return Number((await run('id', ['-u', name])).trim());
}

async function gidOf(group: string): Promise<number> {
  return Number((await run('getent', ['group', group])).split(':')[2]);
}

/** Polls `ss` in the namespace until every addr:port listens; fails early if a daemon exits. */
async function waitListening(
  ns: string,
  addrs: string[],
  ports: number[],
  children: ChildProcess[],
  timeoutMs: number,
): Promise<void> {
  const want = addrs.flatMap((a) => ports.map((port) => `${a.includes(':') ? `[${a}]` : a}:${port}`));
  const end = Date.now() + timeoutMs;
  for (;;) {
    const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead) throw new Error(`${dead.spawnargs.slice(4).join(' ')} exited (${dead.exitCode ?? dead.signalCode})`);
    const out = await run('ip', ['netns', 'exec', ns, 'ss', '-Hltn']);
    const listening = new Set(out.split('\n').map((l) => l.trim().split(/\s+/)[3]));
    const missing = want.filter((w) => !listening.has(w));
    if (missing.length === 0) return;
    if (Date.now() > end) throw new Error(`not listening on ${missing.join(', ')} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
