// docker-mailserver's start-up step: the admin's Fail2Ban files live in the config volume and are
// copied into the Fail2Ban tree, where the read order (jail.d/*.local last) lets them win.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface DmsPaths {
  /** The config volume as mounted in the container. */
  configVolume: string;
  /** The Fail2Ban tree portcullis reads. */
  fail2banDir: string;
  /** The persistent state volume's Fail2Ban folder; the database lives there when it exists. */
  stateDir: string;
}

export const defaultDmsPaths: DmsPaths = {
  configVolume: '/tmp/docker-mailserver',
  fail2banDir: '/etc/fail2ban',
  stateDir: '/var/mail-state/lib-fail2ban',
};

/** Source file in the config volume → destination relative to the Fail2Ban tree. */
const copies: ReadonlyArray<[string, string]> = [
  ['fail2ban-fail2ban.cf', 'fail2ban.local'],
  ['fail2ban-jail.cf', join('jail.d', 'user-jail.local')],
];

/** Copies whichever of the two files exist; returns the destinations written. */
export function copyConfigVolume(paths: DmsPaths): string[] {
  const written: string[] = [];
  for (const [source, destination] of copies) {
    const from = join(paths.configVolume, source);
    if (!existsSync(from)) continue;
    const to = join(paths.fail2banDir, destination);
    mkdirSync(join(to, '..'), { recursive: true });
    copyFileSync(from, to);
    written.push(to);
  }
  return written;
}

/** The database path on the state volume, or null when the volume has no Fail2Ban folder. */
export function stateVolumeDbFile(paths: DmsPaths): string | null {
  return existsSync(paths.stateDir) ? join(paths.stateDir, 'fail2ban.sqlite3') : null;
}
