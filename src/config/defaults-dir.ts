import { fileURLToPath } from 'node:url';

/** Our built-in Fail2Ban-style tree (jail.conf, filter.d/, action.d/…), next to this module in src and dist. */
export function builtinDefaultsDir(): string {
  return fileURLToPath(new URL('./defaults', import.meta.url));
}
