// Opens the policy servers the configuration asks for. Each is optional and independent: one that cannot
// listen is logged and the daemon runs on without it (Postfix and Dovecot are told to fail open, so a
// missing policy server never stops mail; the firewall bans of other jails go on regardless).
// The servers' modules are imported only when one is configured: most daemons run without them, and
// every module loaded stays in the idle daemon's memory.
import { chmodSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import type { PolicyListen, PolicySettings } from '../config/model.js';
import { formatListenAddress } from '../net/listen-address.js';
import type { BanSource } from './ban-lookup.js';

export interface PolicyLog {
  log(target: string, level: 'INFO' | 'ERROR', message: string): void;
}

export interface PolicyServers {
  close(): Promise<void>;
}

export function describeListen(at: PolicyListen): string {
  return 'path' in at ? `unix:${at.path}` : `inet:${formatListenAddress(at)}`;
}

const none: PolicyServers = { close: async () => {} };

export async function openPolicyServers(settings: PolicySettings, log: PolicyLog, sources: () => Iterable<BanSource>): Promise<PolicyServers> {
  if (settings.postfix === null && settings.dovecot === null) return none;
  const { BanLookup } = await import('./ban-lookup.js');
  const lookup = new BanLookup(sources);
  const bannedBy = (address: string) => lookup.bannedBy(address);
  const servers: { server: Server; sockets: Set<Socket> }[] = [];
  const open = async (what: string, at: PolicyListen, start: () => Promise<Server>): Promise<void> => {
    try {
      const server = await start();
      // Postfix and Dovecot keep their connections open; close() must not wait for them.
      const sockets = new Set<Socket>();
      server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      servers.push({ server, sockets });
      log.log('server', 'INFO', `${what} policy server at ${describeListen(at)}`);
    } catch (err) {
      log.log('server', 'ERROR', `${what} policy server cannot listen on ${describeListen(at)}: ${(err as Error).message}`);
    }
  };
  const postfix = settings.postfix;
  if (postfix !== null) {
    await open('Postfix', postfix, async () => {
      if ('path' in postfix) {
        mkdirSync(dirname(postfix.path), { recursive: true });
        removeStaleSocket(postfix.path);
      }
      const { startPostfixPolicyServer } = await import('./postfix-policy.js');
      const server = await startPostfixPolicyServer(postfix, { bannedBy, action: settings.postfixAction });
      // smtpd runs as the postfix user; the socket tells no more than whether an address is banned.
      if ('path' in postfix) chmodSync(postfix.path, 0o666);
      return server;
    });
  }
  const dovecot = settings.dovecot;
  if (dovecot !== null) {
    await open('Dovecot', dovecot, async () => {
      const { startDovecotPolicyServer } = await import('./dovecot-policy.js');
      return startDovecotPolicyServer(dovecot, { bannedBy, message: settings.dovecotMessage });
    });
  }
  return {
    close: async () => {
      await Promise.all(
        servers.map(
          ({ server, sockets }) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              for (const socket of sockets) socket.destroy();
            }),
        ),
      );
    },
  };
}

/** A socket file left by a previous run would make listen() fail with EADDRINUSE; anything else is left alone. */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) rmSync(path);
  } catch {
    // absent
  }
}
