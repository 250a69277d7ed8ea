// A docker-mailserver container's paths without Docker: a private mount namespace (inside a network
// namespace) where directories of a temporary tree are bind-mounted over the paths the image and its
// start-up use. The host's own /etc/fail2ban, /var/log, /usr/bin/fail2ban-* are never written: they are
// only covered, inside the namespace. Mount points that do not exist on the host (/var/mail-state,
// /tmp/docker-mailserver) are created empty and removed again by `cleanup()`.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dist = new URL('../../', import.meta.url).pathname;

/** docker-mailserver's target/fail2ban/jail.local and fail2ban.d/fixes.local, as its image installs them (settings, not text). */
const DMS_JAIL_LOCAL = `[DEFAULT]
bantime = 1w
findtime = 1w
maxretry = 6
ignoreip = 127.0.0.1/8
banaction = nftables-allports

[dovecot]
enabled = true

[postfix]
enabled = true
mode = extra

[custom]
enabled = true
bantime = 180d
port = smtp,pop3,pop3s,imap,imaps,submission,submissions,sieve
`;
const DMS_FIXES_LOCAL = '[Definition]\nallowipv6 = auto\n';

export interface DmsContainer {
  root: string;
  /** The state volume (/var/mail-state). */
  state: string;
  /** The state volume's Fail2Ban folder (/var/lib/fail2ban inside). */
  stateFail2ban: string;
  /** The config volume (/tmp/docker-mailserver). */
  configVolume: string;
  /** /var/log inside (mail/, mail.log and fail2ban.log links as in the image). */
  varLog: string;
  /** /etc/fail2ban inside. */
  etc: string;
  /** Starts `/usr/bin/fail2ban-server -xf start` as supervisord does, after DMS's Fail2Ban start-up step. */
  start(env: Record<string, string>): ServerProcess;
  /** Runs a command inside the running server's namespaces. */
  exec(pid: number, argv: string[]): { status: number | null; stdout: string; stderr: string };
  cleanup(): void;
}

export interface ServerProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/**
 * Lays out the tree: the image's /etc/fail2ban (portcullis's shipped tree plus DMS's own files, after
 * `apt-get purge fail2ban`), the config volume, an empty state volume, /var/log as in the image.
 */
export function dmsContainer(netns: string): DmsContainer {
  const root = mkdtempSync(join(tmpdir(), 'pc-dms-'));
  const c = {
    root,
    state: join(root, 'mail-state'),
    stateFail2ban: join(root, 'mail-state', 'lib-fail2ban'),
    configVolume: join(root, 'config'),
    varLog: join(root, 'var-log'),
    etc: join(root, 'etc-fail2ban'),
  };
  mkdirSync(c.stateFail2ban, { recursive: true });
  mkdirSync(c.configVolume, { recursive: true });
  mkdirSync(join(c.varLog, 'mail'), { recursive: true });
  writeFileSync(join(c.varLog, 'mail', 'mail.log'), '');
  mkdirSync(join(root, 'run'), { recursive: true });
  mkdirSync(join(root, 'logrotate.d'), { recursive: true });
  // What deploy/Dockerfile leaves in /etc/fail2ban: the shipped tree copied without overwriting DMS's files,
  // less its nftables-common.local (DMS's start-up writes that one from FAIL2BAN_BLOCKTYPE).
  cpSync(join(dist, 'src', 'config', 'defaults'), c.etc, { recursive: true });
  rmSync(join(c.etc, 'action.d', 'nftables-common.local'));
  for (const d of ['jail.d', 'fail2ban.d', 'action.d', 'filter.d']) mkdirSync(join(c.etc, d), { recursive: true });
  writeFileSync(join(c.etc, 'jail.local'), DMS_JAIL_LOCAL);
  writeFileSync(join(c.etc, 'fail2ban.d', 'fixes.local'), DMS_FIXES_LOCAL);
  writeFileSync(join(root, 'logrotate.d', 'fail2ban'), readFileSync(new URL('../../../deploy/logrotate-fail2ban', import.meta.url)));

  // The image symlinks /usr/bin/fail2ban-* to the built entry points; a bind mount cannot make a symlink,
  // so these one-line scripts exec the entry points directly (which also needs them executable).
  mkdirSync(join(root, 'bin'));
  for (const [name, entry] of [['fail2ban-server', 'fail2ban-server.cjs'], ['fail2ban-client', 'fail2ban-client.cjs']]) {
    writeFileSync(join(root, 'bin', name!), `#!/bin/sh\nexec ${join(dist, 'src', 'cli', entry!)} "$@"\n`, { mode: 0o755 });
  }

  const created: string[] = [];
  for (const dir of ['/var/mail-state', '/tmp/docker-mailserver', '/var/lib/fail2ban', '/run/fail2ban']) {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      created.push(dir);
    }
  }

  // Mounts, then the start-up step of DMS's target/scripts/startup/setup.d/security/misc.sh
  // (__setup__security__fail2ban) with the same effects, then supervisord's command line.
  const script = `
set -euo pipefail
mount --bind ${c.etc} /etc/fail2ban
mount --bind ${c.configVolume} /tmp/docker-mailserver
mount --bind ${c.state} /var/mail-state
mount --bind ${c.stateFail2ban} /var/lib/fail2ban
mount --bind ${c.varLog} /var/log
ln -sfn /var/log/mail/mail.log /var/log/mail.log
ln -sfn /var/log/mail/fail2ban.log /var/log/fail2ban.log
mount --bind ${join(root, 'run')} /run/fail2ban
mount --bind ${join(root, 'logrotate.d')} /etc/logrotate.d
mount --bind ${join(root, 'bin', 'fail2ban-server')} /usr/bin/fail2ban-server
mount --bind ${join(root, 'bin', 'fail2ban-client')} /usr/bin/fail2ban-client
if [[ \${ENABLE_FAIL2BAN} -eq 1 ]]; then
  [[ -e /tmp/docker-mailserver/fail2ban-fail2ban.cf ]] && cp /tmp/docker-mailserver/fail2ban-fail2ban.cf /etc/fail2ban/fail2ban.local
  [[ -e /tmp/docker-mailserver/fail2ban-jail.cf ]] && cp /tmp/docker-mailserver/fail2ban-jail.cf /etc/fail2ban/jail.d/user-jail.local
  if [[ \${FAIL2BAN_BLOCKTYPE} != 'reject' ]]; then
    echo -e '[Init]\\nblocktype = drop' >/etc/fail2ban/action.d/nftables-common.local
  fi
  echo '[Definition]' >/etc/fail2ban/filter.d/custom.conf
  [[ \${LOGROTATE_COUNT} -ne 4 ]] && sed -i "s|rotate 4$|rotate \${LOGROTATE_COUNT}|" /etc/logrotate.d/fail2ban
  [[ \${LOGROTATE_INTERVAL} != "weekly" ]] && sed -i "s|weekly$|\${LOGROTATE_INTERVAL}|" /etc/logrotate.d/fail2ban
fi
exec /usr/bin/fail2ban-server -xf start
`;

  return {
    ...c,
    start(env) {
      const child = spawn('ip', ['netns', 'exec', netns, 'unshare', '-m', '--propagation', 'private', 'bash', '-c', script], {
        env: { ...process.env, ENABLE_FAIL2BAN: '1', LOGROTATE_COUNT: '4', LOGROTATE_INTERVAL: 'weekly', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
      });
      child.stderr?.on('data', (b: Buffer) => {
        err += b.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, stdout: () => out, stderr: () => err, exited };
    },
    exec(pid, argv) {
      const r = spawnSync('nsenter', ['-t', String(pid), '-m', '-n', ...argv], { encoding: 'utf8', timeout: 30_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
      for (const dir of created.reverse()) {
        try {
          rmdirSync(dir);
        } catch {
          // not empty or in use: leave it
        }
      }
    },
  };
}
