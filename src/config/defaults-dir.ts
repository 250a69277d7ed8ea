import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The tree the CLI and daemon use without --config: /etc/fail2ban if present, else the built-in defaults. */
export function defaultConfigDir(): string | null {
  return existsSync('/etc/fail2ban') ? '/etc/fail2ban' : null;
}

/** Our built-in Fail2Ban-style tree (jail.conf, filter.d/, action.d/…), next to this module in src and dist. */
export function builtinDefaultsDir(): string {
  return fileURLToPath(new URL('./defaults', import.meta.url));
}
